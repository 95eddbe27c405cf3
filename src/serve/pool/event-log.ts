import type { Pool } from 'pg';
import type { ServeEvent } from '../flow-record.js';

/** The channel a flow's new events are announced on (payload: the flow id). */
export const EVENTS_CHANNEL = 'opencode_flow_events';

/** Events read at once. */
const PAGE = 1000;

/**
 * A flow's serve events in `opencode_flow_events`, so any replica can stream them: the
 * replica running the flow appends them in small batches (one INSERT and one NOTIFY per
 * batch, in order, only while it holds the run's lease); readers page through them by id.
 *
 * @example
 * ```ts
 * const log = new EventLog(pool);
 * log.append('flow_1', 'replica-a', { id: 1, type: 'flow.started', data: {} });
 * await log.flush('flow_1');
 * await log.read('flow_1', 0); // → [{ id: 1, type: 'flow.started', data: {} }]
 * ```
 */
export class EventLog {
  readonly #pending = new Map<string, { owner: string | null; events: ServeEvent[] }>();
  readonly #writing = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Pool,
    private readonly options: { batchMs?: number; onError?: (flowId: string, e: unknown) => void } = {},
  ) {}

  /** Store an event of a flow `owner` runs (`null`: a flow nobody runs, e.g. cancelled while queued). */
  append(flowId: string, owner: string | null, e: ServeEvent): void {
    const batch = this.#pending.get(flowId);
    if (batch) {
      batch.events.push(e);
      return;
    }
    this.#pending.set(flowId, { owner, events: [e] });
    const prev = this.#writing.get(flowId) ?? Promise.resolve();
    const next = prev
      .then(() => new Promise((r) => setTimeout(r, this.options.batchMs ?? 25)))
      .then(() => this.#write(flowId))
      .catch((err: unknown) => this.options.onError?.(flowId, err));
    this.#writing.set(flowId, next);
    void next.then(() => {
      if (this.#writing.get(flowId) === next) this.#writing.delete(flowId);
    });
  }

  async #write(flowId: string): Promise<void> {
    const batch = this.#pending.get(flowId);
    this.#pending.delete(flowId);
    if (!batch?.events.length) return;
    await this.db.query(
      `WITH ins AS (
         INSERT INTO opencode_flow_events (flow_id, seq, type, data)
         SELECT $1, x.seq, x.type, x.data FROM json_to_recordset($2::json) AS x(seq integer, type text, data json)
         WHERE EXISTS (SELECT 1 FROM opencode_flow_runs WHERE flow_id = $1 AND lease_owner IS NOT DISTINCT FROM $3)
         ON CONFLICT DO NOTHING
         RETURNING seq)
       SELECT pg_notify('${EVENTS_CHANNEL}', $1) FROM (SELECT 1 FROM ins LIMIT 1) one`,
      [flowId, JSON.stringify(batch.events.map((e) => ({ seq: e.id, type: e.type, data: e.data }))), batch.owner],
    );
  }

  /** Wait until every event appended so far for the flow is stored (or refused). */
  async flush(flowId: string): Promise<void> {
    for (;;) {
      const w = this.#writing.get(flowId);
      if (!w) return;
      await w;
    }
  }

  /** Events of a flow after `after`, in order. */
  async read(flowId: string, after = 0): Promise<ServeEvent[]> {
    const out: ServeEvent[] = [];
    for (;;) {
      const { rows } = await this.db.query<{ seq: number; type: ServeEvent['type']; data: Record<string, unknown> }>(
        'SELECT seq, type, data FROM opencode_flow_events WHERE flow_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [flowId, after, PAGE],
      );
      for (const r of rows) out.push({ id: r.seq, type: r.type, data: r.data });
      if (rows.length < PAGE) return out;
      after = rows.at(-1)!.seq;
    }
  }
}
