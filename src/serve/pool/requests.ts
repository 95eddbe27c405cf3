import type { Pool } from 'pg';
import type { InputRequest } from '../../../machines/input-policy.js';
import type { ReplyAnswer } from '../../flow/inputs.js';

/** The channel an answer is announced on (payload: the flow id). */
export const REPLIES_CHANNEL = 'opencode_flow_replies';

export interface PendingRequest {
  flowId: string;
  agent: string;
  request: InputRequest;
}

/**
 * The human-input requests of every replica's flows, in `opencode_flow_requests`: the
 * replica running a flow keeps its rows equal to what its agents wait on; any replica lists
 * them and records an answer, which the owner takes (told by NOTIFY, or on its next beat)
 * and delivers to the agent.
 *
 * @example
 * ```ts
 * await board.sync('replica-a', 'flow_1', flow.pendingRequests('flow_1'));
 * await board.answer('flow_1', 'per_1', 'once'); // on any replica
 * for (const a of await board.answered('replica-a')) flow.reply(a.requestId, a.answer);
 * ```
 */
export class RequestBoard {
  constructor(private readonly db: Pool) {}

  /** Make the stored requests of a flow `owner` runs equal to `pending` (answered ones wait to be taken). */
  async sync(owner: string, flowId: string, pending: PendingRequest[]): Promise<void> {
    const ids = pending.map((p) => p.request.id);
    await this.db.query(
      `DELETE FROM opencode_flow_requests WHERE flow_id = $1 AND answer IS NULL AND request_id <> ALL($2::text[])`,
      [flowId, ids],
    );
    if (!pending.length) return;
    await this.db.query(
      `INSERT INTO opencode_flow_requests (flow_id, request_id, agent, request, owner)
       SELECT $1, x.id, x.agent, x.request, $2 FROM json_to_recordset($3::json) AS x(id text, agent text, request json)
       WHERE EXISTS (SELECT 1 FROM opencode_flow_runs WHERE flow_id = $1 AND lease_owner = $2)
       ON CONFLICT (flow_id, request_id) DO UPDATE SET owner = excluded.owner`,
      [flowId, owner, JSON.stringify(pending.map((p) => ({ id: p.request.id, agent: p.agent, request: p.request })))],
    );
  }

  /** Forget every request of a flow (it ended, or changed hands: its agents ask again). */
  async clear(flowId: string): Promise<void> {
    await this.db.query('DELETE FROM opencode_flow_requests WHERE flow_id = $1', [flowId]);
  }

  /** Requests of a flow nobody answered yet. */
  async list(flowId: string): Promise<PendingRequest[]> {
    const { rows } = await this.db.query<{ agent: string; request: InputRequest }>(
      'SELECT agent, request FROM opencode_flow_requests WHERE flow_id = $1 AND answer IS NULL ORDER BY request_id',
      [flowId],
    );
    return rows.map((r) => ({ flowId, agent: r.agent, request: r.request }));
  }

  /** Record an answer and tell the owner; false when the request is not (or no longer) pending. */
  async answer(flowId: string, requestId: string, answer: ReplyAnswer): Promise<boolean> {
    const { rows } = await this.db.query(
      `WITH answered AS (
         UPDATE opencode_flow_requests SET answer = $3::json
         WHERE flow_id = $1 AND request_id = $2 AND answer IS NULL RETURNING flow_id)
       SELECT pg_notify('${REPLIES_CHANNEL}', flow_id) FROM answered`,
      [flowId, requestId, JSON.stringify(answer)],
    );
    return rows.length > 0;
  }

  /** Take the answers to `owner`'s requests (each is returned once, then forgotten). */
  async take(owner: string): Promise<Array<{ flowId: string; requestId: string; answer: ReplyAnswer }>> {
    const { rows } = await this.db.query<{ flow_id: string; request_id: string; answer: ReplyAnswer }>(
      `DELETE FROM opencode_flow_requests WHERE owner = $1 AND answer IS NOT NULL RETURNING flow_id, request_id, answer`,
      [owner],
    );
    return rows.map((r) => ({ flowId: r.flow_id, requestId: r.request_id, answer: r.answer }));
  }
}
