import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
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
   * Also fsync the directory after each rename (default false). Without it every acknowledged
   * write survives a process crash (`kill -9`), and after an OS crash or power loss the file is
   * whole but may miss the last writes, the trade SQLite makes with `synchronous = NORMAL`.
   * With it, writes survive power loss too, at about twice the cost per write.
   */
  fsyncDirectory?: boolean;
}

/** An entry as held in memory: the value stays canonical JSON text, so reads hand out fresh copies. */
interface Stored {
  json: string;
  updatedAt: number;
  expiresAt?: number;
}

const FILE_VERSION = 1;

/**
 * The default backend: one JSON file, zero set-up. Every write goes to a temp file that is
 * fsynced and renamed over the store, so a crash (even `kill -9`) leaves either the old or the
 * new file, never a torn one (see `fsyncDirectory` for power loss). Operations run one at a time through an in-process queue, which
 * makes `cas` and `incr` atomic within the process; a lock file keeps other processes out
 * (use SQLite or Redis to share memory between processes). Keys and namespaces are data inside
 * the JSON, never file paths. Each write rewrites the whole file: meant for small stores
 * (kilobytes to a few megabytes).
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

  private constructor(
    path: string,
    maxValueBytes: number,
    private readonly lock: FileLock,
    private readonly fsyncDirectory: boolean,
  ) {
    this.path = path;
    this.maxValueBytes = maxValueBytes;
  }

  /** Opens (or creates) the store at `path`, takes its lock, and loads it. */
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
    const backend = new FileMemoryBackend(path, maxValueBytes, lock, options.fsyncDirectory === true);
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

  set(namespace: string, key: string, value: JsonValue, opts?: MemorySetOptions): Promise<void> {
    return this.op(async () => {
      const next = this.prepare(namespace, key, value, opts);
      await this.commit(namespace, key, next);
    });
  }

  delete(namespace: string, key: string): Promise<boolean> {
    return this.op(async () => {
      assertNamespace(namespace);
      assertKey(key);
      const existed = this.visible(namespace, key, Date.now()) !== undefined;
      if (!existed) return false;
      await this.commit(namespace, key, undefined);
      return true;
    });
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

  cas(
    namespace: string,
    key: string,
    expected: JsonValue | null,
    next: JsonValue,
    opts?: MemorySetOptions,
  ): Promise<CasResult> {
    return this.op(async () => {
      const entry = this.prepare(namespace, key, next, opts);
      const expectedJson = expected === null ? null : canonicalJson(expected);
      const current = this.visible(namespace, key, Date.now());
      if ((current?.json ?? null) !== expectedJson) {
        return { ok: false, current: current ? (JSON.parse(current.json) as JsonValue) : null };
      }
      await this.commit(namespace, key, entry);
      return { ok: true, current: JSON.parse(entry.json) as JsonValue };
    });
  }

  incr(namespace: string, key: string, amount = 1): Promise<number> {
    return this.op(async () => {
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
      await this.commit(namespace, key, entry);
      return sum;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued operations finish before the lock goes.
    await this.queue.run(() => undefined);
    this.closed = true;
    await this.lock.release();
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

  /** Applies one change and persists the whole store; on failure the change is undone. */
  private async commit(namespace: string, key: string, next: Stored | undefined): Promise<void> {
    let entries = this.data.get(namespace);
    const previous = entries?.get(key);
    if (next) {
      if (!entries) this.data.set(namespace, (entries = new Map()));
      entries.set(key, next);
    } else {
      entries?.delete(key);
    }
    try {
      await this.persist();
    } catch (e) {
      if (previous) this.data.get(namespace)?.set(key, previous);
      else this.data.get(namespace)?.delete(key);
      throw new FlowError(FlowErrorCode.Memory, `cannot write memory file ${this.path}`, { cause: e });
    }
  }

  /** Writes the store atomically: temp file, fsync, rename over (then fsync the directory if asked). */
  private async persist(): Promise<void> {
    const text = this.serialise(Date.now());
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
      throw e;
    }
    if (!this.fsyncDirectory) return;
    // Makes the rename itself durable across power loss; a failure here does not undo it.
    const dir = await open(dirname(this.path), 'r').catch(() => undefined);
    if (dir)
      await dir
        .sync()
        .catch(() => undefined)
        .finally(() => dir.close());
  }

  /** Builds the file text from the canonical JSON held per entry; drops expired entries. */
  private serialise(now: number): string {
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
    return `{"version":${FILE_VERSION},"namespaces":{${namespaces.join(',')}}}\n`;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new FlowError(FlowErrorCode.Memory, `cannot read memory file ${this.path}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw corrupt(this.path, 'it is not JSON', e);
    }
    if (!isRecord(parsed) || parsed.version !== FILE_VERSION || !isRecord(parsed.namespaces)) {
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
