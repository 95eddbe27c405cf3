import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { CasResult, MemoryBackend, MemoryEntry, MemorySetOptions } from './backend.js';
import { acquireFileLock, type FileLock } from './file-lock.js';
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
import { SerialQueue } from './serial-queue.js';

/** Options of {@link FileMemoryBackend.open}. */
export interface FileMemoryBackendOptions {
  /** The JSON file; created (with its directory) when missing. */
  path: string;
  /** Largest serialised value accepted, in bytes (default 1 MiB). */
  maxValueBytes?: number;
  /**
   * Make every acknowledged write survive power loss too (default false): a write is
   * acknowledged only once its journal record is fsynced (writers waiting at the same time share
   * one fsync), and renames are followed by a directory fsync. Without it every acknowledged
   * write survives a process crash (`kill -9`), the journal is fsynced in the background within
   * {@link JOURNAL_SYNC_MS} ms, and after an OS crash or power loss the store loads whole but may
   * miss the last writes: the trade SQLite makes with `synchronous = NORMAL`.
   */
  fsyncDirectory?: boolean;
  /** Fold the journal into the file once it is larger than this and than the file (default 1 MiB). */
  compactAtBytes?: number;
}

/** An entry as held in memory: the value stays canonical JSON text, so reads hand out fresh copies. */
interface Stored {
  json: string;
  updatedAt: number;
  expiresAt?: number;
}

const FILE_VERSION = 1;
/** Without `fsyncDirectory`, the journal reaches the disk at most this long after a write. */
export const JOURNAL_SYNC_MS = 200;
/** The journal is folded into the JSON file once it is larger than this and than the file. */
const COMPACT_MIN_BYTES = 1024 * 1024;

/**
 * The default backend: one JSON file, zero set-up. A write appends one checksummed record to a
 * journal beside the file (`<path>.log`) with a single `write(2)` before it is acknowledged, so a
 * crash (even `kill -9`) keeps every acknowledged write; a record torn by an OS crash fails its
 * checksum and is dropped on load. The journal is folded into the JSON file (temp file, fsync,
 * rename: never a torn file) when it grows, on open and on close, so after `close()` the JSON
 * file alone holds everything. Operations run one at a time through an in-process queue, which
 * makes `cas` and `incr` atomic within the process; a lock file keeps other processes out
 * (use SQLite or Redis to share memory between processes). Keys and namespaces are data inside
 * the JSON, never file paths. Meant for small stores (kilobytes to a few megabytes): the whole
 * store is held in memory.
 *
 * @example
 * ```ts
 * const memory = await FileMemoryBackend.open({ path: '.opencode-flow/memory.json' });
 * await memory.set('flow:abc', 'plan', ['research', 'code']);
 * await memory.close();
 * ```
 */
export class FileMemoryBackend implements MemoryBackend {
  readonly kind = 'file' as const;
  readonly maxValueBytes: number;
  /** The absolute path of the JSON file. */
  readonly path: string;
  private readonly data = new Map<string, Map<string, Stored>>();
  private readonly queue = new SerialQueue();
  private closed = false;
  /** The journal being appended to, and the one a running compaction is folding in. */
  private readonly logPath: string;
  private readonly oldLogPath: string;
  private fd: number | undefined;
  private logBytes = 0;
  /** Set while a `.log.old` may hold records the JSON file lacks (a compaction running or failed). */
  private oldLogPending = false;
  private oldFd: number | undefined;
  private snapshotBytes = 0;
  /** Sequence number of the last record written, and of the last one known to be on disk. */
  private seq = 0;
  private syncedSeq = 0;
  private syncing: Promise<void> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private compacting: Promise<void> | undefined;

  private constructor(
    path: string,
    maxValueBytes: number,
    private readonly lock: FileLock,
    private readonly durable: boolean,
    private readonly compactAtBytes: number,
  ) {
    this.path = path;
    this.maxValueBytes = maxValueBytes;
    this.logPath = `${path}.log`;
    this.oldLogPath = `${path}.log.old`;
  }

  /** Opens (or creates) the store at `path`, takes its lock, and loads it (file, then journal). */
  static async open(options: FileMemoryBackendOptions): Promise<FileMemoryBackend> {
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    assertMaxValueBytes(maxValueBytes);
    if (typeof options.path !== 'string' || options.path === '') {
      throw new FlowError(FlowErrorCode.Memory, 'file memory backend needs a path');
    }
    const path = resolve(options.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw new FlowError(FlowErrorCode.Memory, `cannot create the directory of memory file ${path}`, { cause: e });
    });
    const lock = await acquireFileLock(path);
    const backend = new FileMemoryBackend(
      path,
      maxValueBytes,
      lock,
      options.fsyncDirectory === true,
      options.compactAtBytes ?? COMPACT_MIN_BYTES,
    );
    try {
      await backend.removeStaleTemps();
      await backend.load();
    } catch (e) {
      await lock.release();
      throw e;
    }
    return backend;
  }

  get(namespace: string, key: string): Promise<MemoryEntry | null> {
    return this.op(() => {
      assertNamespace(namespace);
      assertKey(key);
      const stored = this.visible(namespace, key, Date.now());
      return stored ? toEntry(key, stored) : null;
    });
  }

  async set(namespace: string, key: string, value: JsonValue, opts?: MemorySetOptions): Promise<void> {
    const seq = await this.op(() => this.commit(namespace, key, this.prepare(namespace, key, value, opts)));
    await this.durableThrough(seq);
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    const seq = await this.op(() => {
      assertNamespace(namespace);
      assertKey(key);
      return this.visible(namespace, key, Date.now()) === undefined ? 0 : this.commit(namespace, key, undefined);
    });
    if (seq === 0) return false;
    await this.durableThrough(seq);
    return true;
  }

  list(namespace: string, prefix = ''): Promise<MemoryEntry[]> {
    return this.op(() => {
      assertNamespace(namespace);
      assertPrefix(prefix);
      const now = Date.now();
      const out: MemoryEntry[] = [];
      for (const [key, stored] of this.data.get(namespace) ?? []) {
        if (key.startsWith(prefix) && !isExpired(stored, now)) out.push(toEntry(key, stored));
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  async cas(
    namespace: string,
    key: string,
    expected: JsonValue | null,
    next: JsonValue,
    opts?: MemorySetOptions,
  ): Promise<CasResult> {
    const { result, seq } = await this.op(() => {
      const entry = this.prepare(namespace, key, next, opts);
      const expectedJson = expected === null ? null : canonicalJson(expected);
      const current = this.visible(namespace, key, Date.now());
      if ((current?.json ?? null) !== expectedJson) {
        return { seq: 0, result: { ok: false, current: current ? (JSON.parse(current.json) as JsonValue) : null } };
      }
      const seq = this.commit(namespace, key, entry);
      return { seq, result: { ok: true, current: JSON.parse(entry.json) as JsonValue } };
    });
    await this.durableThrough(seq);
    return result;
  }

  async incr(namespace: string, key: string, amount = 1): Promise<number> {
    const { sum, seq } = await this.op(() => {
      assertNamespace(namespace);
      assertKey(key);
      assertAmount(amount);
      const current = this.visible(namespace, key, Date.now());
      const base = current === undefined ? 0 : (JSON.parse(current.json) as JsonValue);
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
      const entry: Stored = { json: JSON.stringify(sum), updatedAt: Date.now() };
      if (current?.expiresAt !== undefined) entry.expiresAt = current.expiresAt;
      return { sum, seq: this.commit(namespace, key, entry) };
    });
    await this.durableThrough(seq);
    return sum;
  }

  /** Folds the journal into the JSON file, then releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued operations finish before the lock goes.
    await this.queue.run(() => undefined);
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.syncTimer);
    try {
      await this.compacting;
      if (this.fd !== undefined || this.oldLogPending) await this.compact();
    } finally {
      await this.syncing?.catch(() => undefined);
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      await this.lock.release();
    }
  }

  /** Runs `task` in the queue, after every earlier operation, unless the backend is closed. */
  private op<T>(task: () => T | Promise<T>): Promise<T> {
    return this.queue.run(() => {
      if (this.closed) throw new FlowError(FlowErrorCode.Memory, `memory file ${this.path} is closed`);
      return task();
    });
  }

  private prepare(namespace: string, key: string, value: JsonValue, opts: MemorySetOptions | undefined): Stored {
    assertNamespace(namespace);
    assertKey(key);
    assertTtl(opts?.ttlMs);
    const now = Date.now();
    const stored: Stored = { json: encodeValue(key, value, this.maxValueBytes), updatedAt: now };
    if (opts?.ttlMs !== undefined) stored.expiresAt = now + opts.ttlMs;
    return stored;
  }

  private visible(namespace: string, key: string, now: number): Stored | undefined {
    const stored = this.data.get(namespace)?.get(key);
    return stored && !isExpired(stored, now) ? stored : undefined;
  }

  /**
   * Applies one change and appends its journal record (one `write(2)`, synchronous, so the change
   * is in the kernel before anything else runs); on failure the change is undone. Returns the
   * record's sequence number.
   */
  private commit(namespace: string, key: string, next: Stored | undefined): number {
    const seq = this.seq + 1;
    const line = journalRecord(seq, namespace, key, next);
    try {
      this.append(line);
    } catch (e) {
      throw new FlowError(FlowErrorCode.Memory, `cannot write memory journal ${this.logPath}`, { cause: e });
    }
    this.seq = seq;
    let entries = this.data.get(namespace);
    if (next) {
      if (!entries) this.data.set(namespace, (entries = new Map()));
      entries.set(key, next);
    } else {
      entries?.delete(key);
    }
    if (!this.durable && this.syncTimer === undefined) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = undefined;
        this.syncJournal().catch(() => undefined);
      }, JOURNAL_SYNC_MS);
      this.syncTimer.unref();
    }
    if (!this.compacting && this.logBytes > Math.max(this.compactAtBytes, this.snapshotBytes)) {
      const compacting = this.compact().catch(() => undefined);
      this.compacting = compacting.finally(() => {
        if (this.compacting === compacting) this.compacting = undefined;
      });
    }
    return seq;
  }

  /** Writes a whole record to the journal, or nothing: a partial write is cut off again. */
  private append(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    if (this.fd === undefined) {
      this.fd = openSync(this.logPath, 'a', 0o600);
      this.logBytes = fstatSync(this.fd).size;
      if (this.durable) fsyncDirSync(dirname(this.path));
    }
    let written = 0;
    try {
      while (written < buf.length) written += writeSync(this.fd, buf, written, buf.length - written);
    } catch (e) {
      if (written > 0) ftruncateSync(this.fd, this.logBytes);
      throw e;
    }
    this.logBytes += buf.length;
  }

  /** With `fsyncDirectory`, waits until record `seq` is on disk; writers waiting together share one fsync. */
  private async durableThrough(seq: number): Promise<void> {
    if (!this.durable || seq === 0) return;
    while (this.syncedSeq < seq) {
      await this.syncJournal();
    }
  }

  /** fsyncs the journal (and a journal being compacted); one at a time, later callers join the next. */
  private syncJournal(): Promise<void> {
    if (this.syncing) return this.syncing.then(() => (this.syncedSeq < this.seq ? this.syncJournal() : undefined));
    const target = this.seq;
    const fds = [this.oldFd, this.fd].filter((fd): fd is number => fd !== undefined);
    const run = (async () => {
      for (const fd of fds) await new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
      this.syncedSeq = Math.max(this.syncedSeq, target);
    })();
    this.syncing = run.finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /**
   * Folds the journal into the JSON file. The snapshot is taken and the journal set aside
   * (`.log.old`) at once, so writes go on into a fresh journal while the file is written.
   * A crash at any point leaves a loadable set: file, `.log.old`, `.log`, replayed by sequence.
   */
  private async compact(): Promise<void> {
    const seq = this.seq;
    const text = this.serialise(Date.now(), seq);
    let oldFd: number | undefined;
    if (!this.oldLogPending && this.fd !== undefined) {
      oldFd = this.fd;
      renameSync(this.logPath, this.oldLogPath);
      this.oldLogPending = true;
      this.oldFd = oldFd;
      this.fd = undefined;
      this.logBytes = 0;
    }
    try {
      await this.writeSnapshot(text);
      this.snapshotBytes = Buffer.byteLength(text);
      this.syncedSeq = Math.max(this.syncedSeq, seq);
      await unlink(this.oldLogPath).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      this.oldLogPending = false;
      // On close, or when nothing was written since: the fresh journal holds nothing the file lacks.
      if (this.closed || (this.fd !== undefined && this.seq === seq)) {
        if (this.fd !== undefined) closeSync(this.fd);
        this.fd = undefined;
        this.logBytes = 0;
        await unlink(this.logPath).catch(() => undefined);
      }
    } finally {
      if (oldFd !== undefined) {
        // No new fsync picks it up from here; one already running finishes first.
        if (this.oldFd === oldFd) this.oldFd = undefined;
        await this.syncing?.catch(() => undefined);
        closeSync(oldFd);
      }
    }
  }

  /** Writes the JSON file atomically: temp file, fsync, rename over (then fsync the directory if asked). */
  private async writeSnapshot(text: string): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw new FlowError(FlowErrorCode.Memory, `cannot write memory file ${this.path}`, { cause: e });
    }
    if (!this.durable) return;
    // Makes the rename itself durable across power loss; a failure here does not undo it.
    const dir = await open(dirname(this.path), 'r').catch(() => undefined);
    if (dir)
      await dir
        .sync()
        .catch(() => undefined)
        .finally(() => dir.close());
  }

  /** Builds the file text from the canonical JSON held per entry; drops expired entries. */
  private serialise(now: number, seq: number): string {
    const namespaces: string[] = [];
    for (const [namespace, entries] of this.data) {
      const parts: string[] = [];
      for (const [key, stored] of entries) {
        if (isExpired(stored, now)) {
          entries.delete(key);
          continue;
        }
        const expires = stored.expiresAt === undefined ? '' : `,"e":${stored.expiresAt}`;
        parts.push(`${JSON.stringify(key)}:{"v":${stored.json},"u":${stored.updatedAt}${expires}}`);
      }
      if (parts.length === 0) {
        this.data.delete(namespace);
        continue;
      }
      namespaces.push(`${JSON.stringify(namespace)}:{${parts.join(',')}}`);
    }
    return `{"version":${FILE_VERSION},"seq":${seq},"namespaces":{${namespaces.join(',')}}}\n`;
  }

  /** Loads the JSON file, replays the journals over it, and folds them in. */
  private async load(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new FlowError(FlowErrorCode.Memory, `cannot read memory file ${this.path}`, { cause: e });
      }
    }
    if (text !== undefined) {
      this.snapshotBytes = Buffer.byteLength(text);
      this.seq = this.loadSnapshot(text);
    }
    const base = this.seq;
    let journals = 0;
    for (const path of [this.oldLogPath, this.logPath]) {
      let log: string;
      try {
        log = await readFile(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new FlowError(FlowErrorCode.Memory, `cannot read memory journal ${path}`, { cause: e });
      }
      journals++;
      this.replay(path, log, base);
    }
    if (journals > 0) {
      this.oldLogPending = true;
      await this.writeSnapshot(this.serialise(Date.now(), this.seq));
      for (const path of [this.oldLogPath, this.logPath]) await unlink(path).catch(() => undefined);
      this.oldLogPending = false;
    }
    this.syncedSeq = this.seq;
  }

  /** Fills the store from the JSON file's text; returns the journal sequence it includes. */
  private loadSnapshot(text: string): number {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw corrupt(this.path, 'it is not JSON', e);
    }
    if (
      !isRecord(parsed) ||
      parsed.version !== FILE_VERSION ||
      !isRecord(parsed.namespaces) ||
      (parsed.seq !== undefined && !Number.isSafeInteger(parsed.seq))
    ) {
      throw corrupt(this.path, `it is not an opencode-flow memory file (version ${FILE_VERSION})`);
    }
    for (const [namespace, entries] of Object.entries(parsed.namespaces)) {
      if (!isRecord(entries)) throw corrupt(this.path, `namespace ${JSON.stringify(namespace)} is not an object`);
      const map = new Map<string, Stored>();
      for (const [key, raw] of Object.entries(entries)) {
        if (
          !isRecord(raw) ||
          !('v' in raw) ||
          typeof raw.u !== 'number' ||
          (raw.e !== undefined && typeof raw.e !== 'number')
        ) {
          throw corrupt(this.path, `entry ${JSON.stringify(key)} of ${JSON.stringify(namespace)} is malformed`);
        }
        const stored: Stored = { json: canonicalJson(raw.v), updatedAt: raw.u };
        if (typeof raw.e === 'number') stored.expiresAt = raw.e;
        map.set(key, stored);
      }
      this.data.set(namespace, map);
    }
    return (parsed.seq as number | undefined) ?? 0;
  }

  /**
   * Applies a journal's records newer than `base`. A bad record (torn by an OS crash) ends the
   * journal; a good record after a bad one means the journal is damaged, not torn: refuse it.
   */
  private replay(path: string, log: string, base: number): void {
    const lines = log.split('\n');
    // The last piece has no newline: a record cut short, or the empty string after the last one.
    lines.pop();
    let bad = -1;
    for (let i = 0; i < lines.length; i++) {
      const rec = parseJournalRecord(lines[i]!);
      if (!rec) {
        if (bad < 0) bad = i;
        continue;
      }
      if (bad >= 0) {
        throw corrupt(path, `journal record ${bad + 1} is damaged but later ones are whole`);
      }
      if (rec.s <= base) continue;
      if (rec.s <= this.seq) throw corrupt(path, `journal record ${i + 1} repeats sequence ${rec.s}`);
      this.seq = rec.s;
      let entries = this.data.get(rec.n);
      if (rec.d) {
        entries?.delete(rec.k);
        continue;
      }
      if (!entries) this.data.set(rec.n, (entries = new Map()));
      const stored: Stored = { json: canonicalJson(rec.v as JsonValue), updatedAt: rec.u! };
      if (rec.e !== undefined) stored.expiresAt = rec.e;
      entries.set(rec.k, stored);
    }
  }

  /** Removes temp files left by a writer that died between write and rename. */
  private async removeStaleTemps(): Promise<void> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    const names = await readdir(dir).catch(() => [] as string[]);
    const stale = new RegExp(`^${escapeRegExp(base)}\\.\\d+\\.[0-9a-f]{8}\\.tmp$`);
    await Promise.all(names.filter((n) => stale.test(n)).map((n) => unlink(join(dir, n)).catch(() => undefined)));
  }
}

/** One journal line: `<crc32 hex> <json>\n`, the JSON a set (`v`, `u`, `e`) or a delete (`d`). */
function journalRecord(seq: number, namespace: string, key: string, next: Stored | undefined): string {
  const head = `{"s":${seq},"n":${JSON.stringify(namespace)},"k":${JSON.stringify(key)}`;
  const body = next
    ? `${head},"u":${next.updatedAt}${next.expiresAt === undefined ? '' : `,"e":${next.expiresAt}`},"v":${next.json}}`
    : `${head},"d":1}`;
  return `${crc32(body).toString(16).padStart(8, '0')} ${body}\n`;
}

interface JournalEntry {
  s: number;
  n: string;
  k: string;
  d?: 1;
  u?: number;
  e?: number;
  v?: unknown;
}

function parseJournalRecord(line: string): JournalEntry | undefined {
  if (line.length < 10 || line[8] !== ' ') return undefined;
  const body = line.slice(9);
  if (Number.parseInt(line.slice(0, 8), 16) !== crc32(body)) return undefined;
  try {
    const rec = JSON.parse(body) as JournalEntry;
    const ok =
      Number.isSafeInteger(rec.s) &&
      typeof rec.n === 'string' &&
      typeof rec.k === 'string' &&
      (rec.d === 1 || (typeof rec.u === 'number' && 'v' in rec && (rec.e === undefined || typeof rec.e === 'number')));
    return ok ? rec : undefined;
  } catch {
    return undefined;
  }
}

function fsyncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort: some file systems refuse fsync on a directory.
  }
}

function toEntry(key: string, stored: Stored): MemoryEntry {
  const entry: MemoryEntry = { key, value: JSON.parse(stored.json) as JsonValue, updatedAt: stored.updatedAt };
  if (stored.expiresAt !== undefined) entry.expiresAt = stored.expiresAt;
  return entry;
}

function isExpired(stored: Stored, now: number): boolean {
  return stored.expiresAt !== undefined && stored.expiresAt <= now;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function corrupt(path: string, why: string, cause?: unknown): FlowError {
  return new FlowError(
    FlowErrorCode.Memory,
    `memory file ${path} cannot be loaded: ${why}. It was left untouched; move it away to start empty`,
    cause === undefined ? undefined : { cause },
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
