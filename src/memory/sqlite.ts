import { mkdir, open as openFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { FlowError, FlowErrorCode } from '../errors.js';
import { importPeer } from '../peer.js';
import type { CasResult, MemoryBackend, MemoryEntry, MemorySetOptions } from './backend.js';
import { canonicalJson, type JsonValue } from './json.js';
import {
  assertAmount,
  assertKey,
  assertMaxValueBytes,
  assertNamespace,
  assertPrefix,
  assertTtl,
  DEFAULT_MAX_VALUE_BYTES,
  encodeValue,
} from './limits.js';

/** Options of {@link SqliteMemoryBackend.open}. */
export interface SqliteMemoryBackendOptions {
  /** The database file (created with its directory when missing), or `:memory:`. */
  path: string;
  /** Largest serialised value accepted, in bytes (default 1 MiB). */
  maxValueBytes?: number;
  /** How long a writer waits for another process's lock before failing, ms (default 5000). */
  busyTimeoutMs?: number;
}

interface Row {
  key: string;
  value: string;
  updated_at: number;
  expires_at: number | null;
}

/** A character above every character a key may hold: the exclusive upper bound of a prefix range. */
const AFTER_KEY_CHARS = '\u007f';
/** How often expired rows are swept, ms. Reads never see them anyway. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * SQLite backend (better-sqlite3): several processes on one machine share one database file.
 * WAL mode lets readers run beside the writer; `busy_timeout` makes writers queue instead of
 * failing; `cas` and `incr` run in `BEGIN IMMEDIATE` transactions, so they are atomic across
 * processes. `synchronous = NORMAL`: in WAL mode a commit survives the process being killed,
 * only an OS crash or power loss can drop the last commits.
 *
 * better-sqlite3 is loaded on `open`, not on import.
 *
 * @example
 * ```ts
 * const memory = await SqliteMemoryBackend.open({ path: './flow.db' });
 * const n = await memory.incr('shared', 'builds');
 * await memory.close();
 * ```
 */
export class SqliteMemoryBackend implements MemoryBackend {
  readonly kind = 'sqlite' as const;
  readonly maxValueBytes: number;
  /** The absolute database path (or `:memory:`). */
  readonly path: string;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly casTx: (ns: string, key: string, expected: string | null, entry: Row) => CasResult;
  private readonly incrTx: (ns: string, key: string, amount: number, now: number) => number;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    path: string,
    maxValueBytes: number,
  ) {
    this.path = path;
    this.maxValueBytes = maxValueBytes;
    const s = (this.statements = prepareStatements(db));

    const cas = db.transaction((ns: string, key: string, expected: string | null, entry: Row): CasResult => {
      const current = s.get.get(ns, key, entry.updated_at) as Row | undefined;
      if ((current?.value ?? null) !== expected) {
        return { ok: false, current: current ? (JSON.parse(current.value) as JsonValue) : null };
      }
      s.upsert.run(ns, key, entry.value, entry.updated_at, entry.expires_at);
      return { ok: true, current: JSON.parse(entry.value) as JsonValue };
    });
    this.casTx = (...args) => cas.immediate(...args);

    const incr = db.transaction((ns: string, key: string, amount: number, now: number): number => {
      const current = s.get.get(ns, key, now) as Row | undefined;
      const base = current ? (JSON.parse(current.value) as JsonValue) : 0;
      if (typeof base !== 'number') {
        throw new FlowError(
          FlowErrorCode.Memory,
          `cannot incr memory key ${JSON.stringify(key)}: its value is not a number`,
        );
      }
      const sum = base + amount;
      if (!Number.isFinite(sum)) {
        throw new FlowError(
          FlowErrorCode.Memory,
          `cannot incr memory key ${JSON.stringify(key)}: the result overflows`,
        );
      }
      s.upsert.run(ns, key, JSON.stringify(sum), now, current?.expires_at ?? null);
      return sum;
    });
    this.incrTx = (...args) => incr.immediate(...args);

    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Opens (or creates) the database, switches it to WAL and creates the table. */
  static async open(options: SqliteMemoryBackendOptions): Promise<SqliteMemoryBackend> {
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    assertMaxValueBytes(maxValueBytes);
    if (typeof options.path !== 'string' || options.path === '') {
      throw new FlowError(FlowErrorCode.Memory, 'sqlite memory backend needs a path');
    }
    const path = options.path === ':memory:' ? options.path : resolve(options.path);
    const { default: Database } = await importPeer(
      'better-sqlite3',
      'the sqlite memory backend',
      FlowErrorCode.Memory,
      () => import('better-sqlite3'),
    );
    let db: BetterSqlite3.Database;
    try {
      if (path !== ':memory:') {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        // Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the
        // database's own mode, so memory stays readable by its owner only. An existing
        // database is left as it is.
        const created = await openFile(path, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') return undefined;
          throw e;
        });
        await created?.close();
      }
      db = new Database(path);
    } catch (e) {
      throw new FlowError(FlowErrorCode.Memory, `cannot open sqlite memory database ${path}`, { cause: e });
    }
    try {
      // busy_timeout first: switching to WAL and creating the table take locks other processes may hold.
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(`CREATE TABLE IF NOT EXISTS memory_entries (
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (ns, key)
      ) WITHOUT ROWID`);
      const backend = new SqliteMemoryBackend(db, path, maxValueBytes);
      backend.sweep();
      return backend;
    } catch (e) {
      db.close();
      throw new FlowError(FlowErrorCode.Memory, `cannot prepare sqlite memory database ${path}`, { cause: e });
    }
  }

  async get(namespace: string, key: string): Promise<MemoryEntry | null> {
    this.assertOpen();
    assertNamespace(namespace);
    assertKey(key);
    const row = this.run(() => this.statements.get.get(namespace, key, Date.now()) as Row | undefined);
    return row ? toEntry(row) : null;
  }

  async set(namespace: string, key: string, value: JsonValue, opts?: MemorySetOptions): Promise<void> {
    this.assertOpen();
    const row = this.prepare(namespace, key, value, opts);
    this.run(() => this.statements.upsert.run(namespace, key, row.value, row.updated_at, row.expires_at));
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    this.assertOpen();
    assertNamespace(namespace);
    assertKey(key);
    const removed = this.run(
      () => this.statements.delete.get(namespace, key) as { expires_at: number | null } | undefined,
    );
    return removed !== undefined && (removed.expires_at === null || removed.expires_at > Date.now());
  }

  async list(namespace: string, prefix = ''): Promise<MemoryEntry[]> {
    this.assertOpen();
    assertNamespace(namespace);
    assertPrefix(prefix);
    const rows = this.run(
      () => this.statements.list.all(namespace, prefix, prefix + AFTER_KEY_CHARS, Date.now()) as Row[],
    );
    return rows.map(toEntry);
  }

  async cas(
    namespace: string,
    key: string,
    expected: JsonValue | null,
    next: JsonValue,
    opts?: MemorySetOptions,
  ): Promise<CasResult> {
    this.assertOpen();
    const row = this.prepare(namespace, key, next, opts);
    const expectedJson = expected === null ? null : canonicalJson(expected);
    return this.run(() => this.casTx(namespace, key, expectedJson, row));
  }

  async incr(namespace: string, key: string, amount = 1): Promise<number> {
    this.assertOpen();
    assertNamespace(namespace);
    assertKey(key);
    assertAmount(amount);
    return this.run(() => this.incrTx(namespace, key, amount, Date.now()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.db.close();
  }

  /** Deletes expired rows (they are already invisible); returns how many. */
  sweep(): number {
    if (this.closed) return 0;
    try {
      return this.statements.sweep.run(Date.now()).changes;
    } catch {
      return 0; // busy: the next sweep will do it
    }
  }

  private prepare(namespace: string, key: string, value: JsonValue, opts: MemorySetOptions | undefined): Row {
    assertNamespace(namespace);
    assertKey(key);
    assertTtl(opts?.ttlMs);
    const now = Date.now();
    return {
      key,
      value: encodeValue(key, value, this.maxValueBytes),
      updated_at: now,
      expires_at: opts?.ttlMs === undefined ? null : now + opts.ttlMs,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new FlowError(FlowErrorCode.Memory, `sqlite memory database ${this.path} is closed`);
  }

  /** Runs a statement; SQLite failures (busy past the timeout, disk full) become FlowErrors. */
  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof FlowError) throw e;
      throw new FlowError(
        FlowErrorCode.Memory,
        `sqlite memory operation failed on ${this.path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
}

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    get: db.prepare(
      'SELECT key, value, updated_at, expires_at FROM memory_entries WHERE ns = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)',
    ),
    upsert: db.prepare(
      `INSERT INTO memory_entries (ns, key, value, updated_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
    ),
    delete: db.prepare('DELETE FROM memory_entries WHERE ns = ? AND key = ? RETURNING expires_at'),
    list: db.prepare(
      `SELECT key, value, updated_at, expires_at FROM memory_entries
       WHERE ns = ? AND key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key`,
    ),
    sweep: db.prepare('DELETE FROM memory_entries WHERE expires_at IS NOT NULL AND expires_at <= ?'),
  };
}

function toEntry(row: Row): MemoryEntry {
  const entry: MemoryEntry = { key: row.key, value: JSON.parse(row.value) as JsonValue, updatedAt: row.updated_at };
  if (row.expires_at !== null) entry.expiresAt = row.expires_at;
  return entry;
}
