import type { Pool, PoolClient } from 'pg';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { importPeer } from '../peer.js';
import { CoalescingFlowStore, type StoredFlow, type StoredFlowMeta } from './store.js';

/**
 * The schema, one step per version, applied in order and recorded in
 * `opencode_flow_migrations`. A released step is never edited: a change is a new step.
 *
 * `json`, not `jsonb`: snapshots and reports are stored and read whole, and `json` keeps any
 * text an agent wrote (jsonb refuses `\u0000`). The columns beside `meta` are what SQL asks
 * about (status, times, cost) without parsing it.
 *
 * Step 2 makes the database the queue and bus of serve replicas (`src/serve/pool/`): a run
 * posted to any replica is a row `queued` with its request; a replica takes it with
 * `FOR UPDATE SKIP LOCKED` and holds a lease (`lease_owner`, `lease_expires_at`) renewed by
 * heartbeats; a run whose lease lapsed is taken again and resumed from its snapshot. Its
 * serve events, a cancel asked elsewhere and the human-input requests it waits on live in
 * the columns and tables below, so every replica can answer for every run.
 */
const MIGRATIONS: Array<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'runs',
    sql: `CREATE TABLE opencode_flow_runs (
      flow_id text PRIMARY KEY,
      status text NOT NULL,
      mode text NOT NULL,
      task text NOT NULL,
      cost double precision NOT NULL DEFAULT 0,
      started_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      meta json NOT NULL,
      snapshot json NOT NULL,
      report json
    );
    CREATE INDEX opencode_flow_runs_started ON opencode_flow_runs (started_at DESC);
    CREATE INDEX opencode_flow_runs_status ON opencode_flow_runs (status, updated_at);`,
  },
  {
    version: 2,
    name: 'replicas',
    sql: `ALTER TABLE opencode_flow_runs
      ADD COLUMN request json,
      ADD COLUMN queued_at timestamptz,
      ADD COLUMN lease_owner text,
      ADD COLUMN lease_expires_at timestamptz,
      ADD COLUMN heartbeat_at timestamptz,
      ADD COLUMN claims integer NOT NULL DEFAULT 0,
      ADD COLUMN cancel_requested text;
    CREATE INDEX opencode_flow_runs_queue ON opencode_flow_runs (queued_at)
      WHERE request IS NOT NULL AND status IN ('queued', 'running');
    CREATE TABLE opencode_flow_events (
      flow_id text NOT NULL REFERENCES opencode_flow_runs (flow_id) ON DELETE CASCADE,
      seq integer NOT NULL,
      type text NOT NULL,
      data json NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (flow_id, seq)
    );
    CREATE TABLE opencode_flow_requests (
      flow_id text NOT NULL REFERENCES opencode_flow_runs (flow_id) ON DELETE CASCADE,
      request_id text NOT NULL,
      agent text NOT NULL,
      request json NOT NULL,
      owner text NOT NULL,
      answer json,
      PRIMARY KEY (flow_id, request_id)
    );`,
  },
];

/** The advisory lock every process takes to migrate (one key for this project's schema: "ocfl"). */
const MIGRATION_LOCK = '1868785260';

/**
 * The Postgres flow store (`pg`, loaded on first use): runs in the database the URL names,
 * shared by every process that names it. The schema is created and migrated on first use
 * under a transaction-scoped advisory lock, so processes starting at once migrate it once.
 * The URL's password is never printed ({@link location} masks it).
 *
 * @example
 * ```ts
 * const store = new PostgresFlowStore('postgres://flows@db.internal:5432/flows');
 * console.log(await store.list());
 * await store.close();
 * ```
 */
export class PostgresFlowStore extends CoalescingFlowStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  #pool?: Promise<Pool>;
  #writer: string | null = null;

  constructor(private readonly url: string) {
    super();
    this.location = maskPasswords(url);
  }

  /**
   * From now on, write a run only while its row is leased to `owner` (or to nobody): a serve
   * replica that lost a run's lease can never overwrite the state of the replica that took
   * it over (a fencing condition on the write, checked by PostgreSQL under the row lock).
   */
  writeAs(owner: string): void {
    this.#writer = owner;
  }

  /**
   * The migrated connection pool, for the serve replicas' queue and bus (`src/serve/pool/`).
   *
   * @internal Left out of the published types (tsup.config.ts `stripInternal`): they must
   * not import `pg`'s, which a library user without `@types/pg` cannot resolve.
   */
  connection(): Promise<Pool> {
    this.assertOpen();
    return this.#open();
  }

  #open(): Promise<Pool> {
    this.#pool ??= this.#connect();
    // A failed connection is tried again by the next call (the server may be up by then).
    this.#pool.catch(() => (this.#pool = undefined));
    return this.#pool;
  }

  async #connect(): Promise<Pool> {
    const { default: pg } = await importPeer(
      'pg',
      'the postgres flow store',
      FlowErrorCode.InvalidConfig,
      () => import('pg'),
    );
    // Idle connections never keep the process alive; a dropped idle connection is not a crash.
    const pool = new pg.Pool({
      connectionString: this.url,
      max: 8,
      allowExitOnIdle: true,
      connectionTimeoutMillis: 10_000,
    });
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
      return pool;
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw this.#failed('cannot open', e);
    }
  }

  #failed(what: string, e: unknown): FlowError {
    return new FlowError(
      FlowErrorCode.Internal,
      `${what} the flow store ${this.location}: ${maskPasswords((e as Error).message)}`,
      { cause: e },
    );
  }

  async #query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    const pool = await this.#open();
    try {
      return (await pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw this.#failed('a query failed in', e);
    }
  }

  protected async prepare(): Promise<void> {
    await this.#open();
  }

  protected async write(flow: StoredFlow): Promise<void> {
    const { meta } = flow;
    await this.#query(
      `INSERT INTO opencode_flow_runs (flow_id, status, mode, task, cost, started_at, updated_at, meta, snapshot, report)
       VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), to_timestamp($7 / 1000.0), $8::json, $9::json, $10::json)
       ON CONFLICT (flow_id) DO UPDATE SET status = excluded.status, mode = excluded.mode, task = excluded.task,
         cost = excluded.cost, started_at = excluded.started_at, updated_at = excluded.updated_at,
         meta = excluded.meta, snapshot = excluded.snapshot, report = excluded.report
       WHERE $11::text IS NULL OR opencode_flow_runs.lease_owner IS NULL OR opencode_flow_runs.lease_owner = $11`,
      [
        meta.flowId,
        meta.status,
        meta.mode,
        meta.task,
        meta.cost,
        meta.startedAt,
        meta.updatedAt,
        JSON.stringify(meta),
        JSON.stringify(flow.snapshot),
        flow.report === undefined ? null : JSON.stringify(flow.report),
        this.#writer,
      ],
    );
  }

  protected async read(flowId: string): Promise<StoredFlow | undefined> {
    const [row] = await this.#query<{ meta: StoredFlowMeta; snapshot: unknown; report: unknown }>(
      'SELECT meta, snapshot, report FROM opencode_flow_runs WHERE flow_id = $1',
      [flowId],
    );
    if (!row) return undefined;
    return { meta: row.meta, snapshot: row.snapshot, ...(row.report !== null ? { report: row.report } : {}) };
  }

  protected async readAll(): Promise<StoredFlowMeta[]> {
    // The column is the truth of a serve replica's run (queued, taken) before its first save.
    const rows = await this.#query<{ meta: StoredFlowMeta; status: string }>(
      'SELECT meta, status FROM opencode_flow_runs ORDER BY started_at DESC',
    );
    return rows.map((r) => ({ ...r.meta, status: r.status }));
  }

  protected async remove(flowId: string): Promise<boolean> {
    const rows = await this.#query('DELETE FROM opencode_flow_runs WHERE flow_id = $1 RETURNING flow_id', [flowId]);
    return rows.length > 0;
  }

  protected async release(): Promise<void> {
    const pool = await this.#pool?.catch(() => undefined);
    await pool?.end();
  }
}

/**
 * Applies the steps not yet recorded, in one transaction holding the migration lock: a
 * second process waits for the first, then finds every step recorded.
 */
async function migrate(client: PoolClient): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS opencode_flow_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM opencode_flow_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO opencode_flow_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** The schema version this release writes (the last migration's). */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
