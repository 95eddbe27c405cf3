import { mkdir, open as openFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { FlowError, FlowErrorCode } from '../errors.js';
import { importPeer } from '../peer.js';
import { CoalescingFlowStore, type StoredFlow, type StoredFlowMeta } from './store.js';

/**
 * The schema, one step per version, applied in order and recorded in
 * `opencode_flow_migrations`. A released step is never edited: a change is a new step.
 */
const MIGRATIONS: Array<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'runs',
    sql: `CREATE TABLE opencode_flow_runs (
      flow_id TEXT PRIMARY KEY,
      status TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      meta TEXT NOT NULL,
      snapshot TEXT NOT NULL,
      report TEXT
    ) WITHOUT ROWID;
    CREATE INDEX opencode_flow_runs_started ON opencode_flow_runs (started_at DESC);`,
  },
];

interface Row {
  meta: string;
  snapshot: string;
  report: string | null;
}

/**
 * The SQLite flow store (better-sqlite3, loaded on first use): one database file that
 * several processes on one machine share. WAL mode lets readers run beside the writer;
 * `busy_timeout` makes writers queue instead of failing; `synchronous = NORMAL`: a commit
 * survives the process being killed. The file is created 0600. The schema is created and
 * migrated on first use, inside `BEGIN IMMEDIATE`, so two processes starting at once migrate
 * it once.
 *
 * @example
 * ```ts
 * const store = new SqliteFlowStore('./flows.db');
 * console.log(await store.list());
 * await store.close();
 * ```
 */
export class SqliteFlowStore extends CoalescingFlowStore {
  readonly kind = 'sqlite' as const;
  /** The absolute database path. */
  readonly path: string;
  #db?: Promise<BetterSqlite3.Database>;

  constructor(
    path: string,
    private readonly busyTimeoutMs = 5000,
  ) {
    super();
    this.path = resolve(path);
  }

  get location(): string {
    return `sqlite:${this.path}`;
  }

  #open(): Promise<BetterSqlite3.Database> {
    this.#db ??= this.#connect();
    // A failed open is tried again by the next call (the file may be fixed meanwhile).
    this.#db.catch(() => (this.#db = undefined));
    return this.#db;
  }

  async #connect(): Promise<BetterSqlite3.Database> {
    const { default: Database } = await importPeer(
      'better-sqlite3',
      'the sqlite flow store',
      FlowErrorCode.InvalidConfig,
      () => import('better-sqlite3'),
    );
    let db: BetterSqlite3.Database;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      // Created 0600 before SQLite opens it: the -wal and -shm files take the database's mode.
      const created = await openFile(this.path, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EEXIST') return undefined;
        throw e;
      });
      await created?.close();
      db = new Database(this.path);
    } catch (e) {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `cannot open the flow store ${this.location}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    try {
      // busy_timeout first: switching to WAL and migrating take locks other processes may hold.
      db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
      return db;
    } catch (e) {
      db.close();
      throw new FlowError(
        FlowErrorCode.Internal,
        `cannot prepare the flow store ${this.location}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  protected async prepare(): Promise<void> {
    await this.#open();
  }

  protected async write(flow: StoredFlow): Promise<void> {
    const db = await this.#open();
    const { meta } = flow;
    db.prepare(
      `INSERT INTO opencode_flow_runs (flow_id, status, started_at, updated_at, meta, snapshot, report)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (flow_id) DO UPDATE SET status = excluded.status, started_at = excluded.started_at,
         updated_at = excluded.updated_at, meta = excluded.meta, snapshot = excluded.snapshot, report = excluded.report`,
    ).run(
      meta.flowId,
      meta.status,
      meta.startedAt,
      meta.updatedAt,
      JSON.stringify(meta),
      JSON.stringify(flow.snapshot),
      flow.report === undefined ? null : JSON.stringify(flow.report),
    );
  }

  protected async read(flowId: string): Promise<StoredFlow | undefined> {
    const db = await this.#open();
    const row = db.prepare('SELECT meta, snapshot, report FROM opencode_flow_runs WHERE flow_id = ?').get(flowId) as
      Row | undefined;
    if (!row) return undefined;
    return {
      meta: JSON.parse(row.meta) as StoredFlowMeta,
      snapshot: JSON.parse(row.snapshot) as unknown,
      ...(row.report !== null ? { report: JSON.parse(row.report) as unknown } : {}),
    };
  }

  protected async readAll(): Promise<StoredFlowMeta[]> {
    const db = await this.#open();
    const rows = db.prepare('SELECT meta FROM opencode_flow_runs ORDER BY started_at DESC').all() as Array<{
      meta: string;
    }>;
    return rows.map((r) => JSON.parse(r.meta) as StoredFlowMeta);
  }

  protected async remove(flowId: string): Promise<boolean> {
    const db = await this.#open();
    return db.prepare('DELETE FROM opencode_flow_runs WHERE flow_id = ?').run(flowId).changes > 0;
  }

  protected async release(): Promise<void> {
    const db = await this.#db?.catch(() => undefined);
    db?.close();
  }
}

/** Applies the steps not yet recorded, in one write transaction (another process waits for it). */
function migrate(db: BetterSqlite3.Database): void {
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS opencode_flow_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`);
    const done = new Set(
      (db.prepare('SELECT version FROM opencode_flow_migrations').all() as Array<{ version: number }>).map(
        (r) => r.version,
      ),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO opencode_flow_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
    }
  }).immediate();
}

/** The schema version this release writes (the last migration's). */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
