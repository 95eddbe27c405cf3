import type { Pool } from 'pg';
import type { StoredFlowMeta } from '../../store/store.js';
import type { CreateFlowBody } from '../flow-request.js';

/** The channel a replica is woken on when a run is queued, or a replica has room again. */
export const QUEUE_CHANNEL = 'opencode_flow_queue';

/** A run a replica took from the queue. */
export interface ClaimedRun {
  flowId: string;
  request: CreateFlowBody;
  /** When it was queued (ms since the epoch): the flow's start as clients see it. */
  queuedAt: number;
  /** A snapshot is stored: the run started before (on a replica that died) and is resumed. */
  resumable: boolean;
  /** How many times it was taken, this time included (2 and more: taken over). */
  claims: number;
  /** A cancel asked while no replica held it (or while it changed hands). */
  cancelRequested?: string;
}

/** A run as every replica reads it from the table. */
export interface QueueRow {
  flowId: string;
  status: string;
  meta: StoredFlowMeta;
  request: CreateFlowBody | null;
  queuedAt: number | null;
  updatedAt: number;
  leaseOwner: string | null;
  report: unknown;
}

/** What a cancel found (`cancelled`: it was still queued, and is now over). */
export type QueueCancel = 'cancelled' | 'requested' | 'finished' | 'not_found';

const ms = (t: Date | null) => (t ? t.getTime() : null);

/**
 * The queue of serve replicas, in the runs table of the Postgres flow store: a posted run is
 * a row `queued` with its request; a replica takes the oldest it can with one `UPDATE … WHERE
 * flow_id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`, so two replicas never take the same
 * row, and holds it by a lease it renews. A `running` row whose lease lapsed (its replica
 * died or lost the database) is taken again the same way. Every write a replica makes to a
 * run is conditioned on holding its lease.
 *
 * @example
 * ```ts
 * const queue = new FlowQueue(await store.connection());
 * await queue.enqueue('flow_1', body);
 * const run = await queue.claim('replica-a', 10_000); // → { flowId: 'flow_1', … } once, to one replica
 * ```
 */
export class FlowQueue {
  constructor(private readonly db: Pool) {}

  /** Queue a run (and wake the replicas). */
  async enqueue(flowId: string, request: CreateFlowBody, now = Date.now()): Promise<void> {
    const meta: StoredFlowMeta = {
      flowId,
      task: request.task,
      mode: request.mode,
      agents: request.agents.map((a) => (typeof a === 'string' ? a : a.name)),
      status: 'queued',
      cost: 0,
      ...(request.maxCost !== undefined ? { maxCost: request.maxCost } : {}),
      startedAt: now,
      updatedAt: now,
    };
    await this.db.query(
      `WITH queued AS (
         INSERT INTO opencode_flow_runs (flow_id, status, mode, task, started_at, updated_at, meta, snapshot, request, queued_at)
         VALUES ($1, 'queued', $2, $3, to_timestamp($4 / 1000.0), to_timestamp($4 / 1000.0), $5::json, 'null'::json, $6::json, to_timestamp($4 / 1000.0))
         RETURNING flow_id)
       SELECT pg_notify('${QUEUE_CHANNEL}', flow_id) FROM queued`,
      [flowId, request.mode, request.task, now, JSON.stringify(meta), JSON.stringify(request)],
    );
  }

  /**
   * Take the oldest queued run, or a running one whose lease lapsed, for `owner` with a
   * lease of `leaseMs`; undefined when there is none (or every candidate is being taken).
   */
  async claim(owner: string, leaseMs: number): Promise<ClaimedRun | undefined> {
    const { rows } = await this.db.query<{
      flow_id: string;
      request: CreateFlowBody;
      queued_at: Date;
      resumable: boolean;
      claims: number;
      cancel_requested: string | null;
    }>(
      `UPDATE opencode_flow_runs SET status = 'running', lease_owner = $1,
         lease_expires_at = now() + $2 * interval '1 millisecond', heartbeat_at = now(), claims = claims + 1
       WHERE flow_id = (
         SELECT flow_id FROM opencode_flow_runs
         WHERE request IS NOT NULL
           AND (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))
         ORDER BY queued_at
         FOR UPDATE SKIP LOCKED
         LIMIT 1)
       RETURNING flow_id, request, queued_at, snapshot::text <> 'null' AS resumable, claims, cancel_requested`,
      [owner, leaseMs],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      flowId: r.flow_id,
      request: r.request,
      queuedAt: r.queued_at.getTime(),
      resumable: r.resumable,
      claims: r.claims,
      ...(r.cancel_requested !== null ? { cancelRequested: r.cancel_requested } : {}),
    };
  }

  /**
   * Extend `owner`'s leases on these runs; answers the ones still held (a run missing from
   * the answer was taken over, or ended: its owner must let it go) and any cancel asked.
   */
  async renew(
    owner: string,
    flowIds: string[],
    leaseMs: number,
  ): Promise<Array<{ flowId: string; cancelRequested?: string }>> {
    if (!flowIds.length) return [];
    const { rows } = await this.db.query<{ flow_id: string; cancel_requested: string | null }>(
      `UPDATE opencode_flow_runs SET lease_expires_at = now() + $3 * interval '1 millisecond', heartbeat_at = now()
       WHERE flow_id = ANY($2::text[]) AND lease_owner = $1 AND status = 'running'
       RETURNING flow_id, cancel_requested`,
      [owner, flowIds, leaseMs],
    );
    return rows.map((r) => ({
      flowId: r.flow_id,
      ...(r.cancel_requested !== null ? { cancelRequested: r.cancel_requested } : {}),
    }));
  }

  /**
   * The run ended on `owner`: drop the lease so nobody takes it again. The flow store's final
   * save normally wrote its status and report already; a run whose final save never landed (or
   * that the library refused to start) gets `status` and `report` here. False when `owner`
   * no longer held it.
   */
  async finish(owner: string, flowId: string, ending: { status: string; report: unknown }): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE opencode_flow_runs SET lease_expires_at = NULL, updated_at = now(),
           status = CASE WHEN status IN ('queued', 'running') THEN $3 ELSE status END,
           meta = CASE WHEN status IN ('queued', 'running') THEN (meta::jsonb || jsonb_build_object('status', $3::text))::json ELSE meta END,
           report = coalesce(report, $4::json)
       WHERE flow_id = $2 AND lease_owner = $1
       RETURNING flow_id`,
      [owner, flowId, ending.status, JSON.stringify(ending.report)],
    );
    return rows.length > 0;
  }

  /** Let a run go before it ends (shutdown with `persist`): another replica may take it at once. */
  async abandon(owner: string, flowId: string): Promise<void> {
    await this.db.query(
      `WITH freed AS (
         UPDATE opencode_flow_runs SET lease_expires_at = now() - interval '1 millisecond'
         WHERE flow_id = $2 AND lease_owner = $1 AND status = 'running' RETURNING flow_id)
       SELECT pg_notify('${QUEUE_CHANNEL}', flow_id) FROM freed`,
      [owner, flowId],
    );
  }

  /**
   * Cancel a run wherever it is: a queued one ends here (`cancelled`, with `report`); a running
   * one is flagged for its owner (who is told by the caller, and finds the flag on its next
   * heartbeat or when it takes the run over).
   */
  async cancel(flowId: string, reason: string, report: (row: QueueRow) => unknown): Promise<QueueCancel> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<RowSql>(
        `SELECT ${ROW_COLUMNS} FROM opencode_flow_runs WHERE flow_id = $1 FOR UPDATE`,
        [flowId],
      );
      const row = rows[0] ? toRow(rows[0]) : undefined;
      let outcome: QueueCancel;
      if (!row) outcome = 'not_found';
      else if (row.status === 'queued') {
        await client.query(
          `UPDATE opencode_flow_runs SET status = 'cancelled', updated_at = now(), cancel_requested = $2, report = $3::json,
             meta = $4::json WHERE flow_id = $1`,
          [
            flowId,
            reason,
            JSON.stringify(report(row)),
            JSON.stringify({ ...row.meta, status: 'cancelled', reason, updatedAt: Date.now() }),
          ],
        );
        outcome = 'cancelled';
      } else if (row.status === 'running') {
        await client.query('UPDATE opencode_flow_runs SET cancel_requested = $2 WHERE flow_id = $1', [flowId, reason]);
        outcome = 'requested';
      } else outcome = 'finished';
      await client.query('COMMIT');
      return outcome;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** One run as stored. */
  async get(flowId: string): Promise<QueueRow | undefined> {
    const { rows } = await this.db.query<RowSql>(`SELECT ${ROW_COLUMNS} FROM opencode_flow_runs WHERE flow_id = $1`, [
      flowId,
    ]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Every queued and running run, then the `finished` newest finished ones; newest first. */
  async list(finished: number): Promise<QueueRow[]> {
    const { rows } = await this.db.query<RowSql>(
      `(SELECT ${ROW_COLUMNS}, coalesce(queued_at, started_at) AS at FROM opencode_flow_runs WHERE status IN ('queued', 'running'))
       UNION ALL
       (SELECT ${ROW_COLUMNS}, coalesce(queued_at, started_at) AS at FROM opencode_flow_runs
        WHERE status NOT IN ('queued', 'running') ORDER BY updated_at DESC LIMIT $1)
       ORDER BY at DESC`,
      [finished],
    );
    return rows.map(toRow);
  }
}

const ROW_COLUMNS = 'flow_id, status, meta, request, queued_at, updated_at, lease_owner, report';

interface RowSql {
  flow_id: string;
  status: string;
  meta: StoredFlowMeta;
  request: CreateFlowBody | null;
  queued_at: Date | null;
  updated_at: Date;
  lease_owner: string | null;
  report: unknown;
}

function toRow(r: RowSql): QueueRow {
  return {
    flowId: r.flow_id,
    status: r.status,
    meta: r.meta,
    request: r.request,
    queuedAt: ms(r.queued_at),
    updatedAt: r.updated_at.getTime(),
    leaseOwner: r.lease_owner,
    report: r.report,
  };
}
