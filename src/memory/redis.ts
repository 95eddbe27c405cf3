import type { Redis as RedisClient } from 'ioredis';
import { maskPasswords } from '../echo.js';
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
import { CAS_SCRIPT, INCR_SCRIPT, SET_SCRIPT } from './redis-scripts.js';

/** Options of {@link RedisMemoryBackend.connect}. */
export interface RedisMemoryBackendOptions {
  /** `redis://[user:pass@]host:port/db` or `rediss://...`. */
  url: string;
  /** Prefix of every Redis key this backend touches (default `opencode-flow:`). */
  prefix?: string;
  /** Largest serialised value accepted, in bytes (default 1 MiB). */
  maxValueBytes?: number;
  /** How long to wait for the first connection, ms (default 5000). */
  connectTimeoutMs?: number;
}

/** The default prefix of Redis keys. */
export const DEFAULT_REDIS_PREFIX = 'opencode-flow:';

interface ScriptedRedis extends RedisClient {
  flowMemorySet(key: string, value: string, updatedAt: number, ttlMs: number, expiresAt: number): Promise<number>;
  flowMemoryCas(
    key: string,
    mustNotExist: '0' | '1',
    expected: string,
    next: string,
    updatedAt: number,
    ttlMs: number,
    expiresAt: number,
  ): Promise<[number, string | null]>;
  flowMemoryIncr(key: string, amount: number, updatedAt: number): Promise<string>;
}

/**
 * Redis backend (ioredis): memory shared by flow processes on many machines. Each entry is a
 * hash under `<prefix><namespace>/<key>` with its TTL set by PEXPIRE; `set`, `cas` and `incr`
 * are Lua scripts, atomic on the server; `list` SCANs the namespace's prefix.
 *
 * ioredis is loaded on `connect`, not on import.
 *
 * @example
 * ```ts
 * const memory = await RedisMemoryBackend.connect({ url: 'redis://127.0.0.1:6379/0', prefix: 'myapp:' });
 * await memory.set('shared', 'leader', 'node-3', { ttlMs: 10_000 });
 * await memory.close();
 * ```
 */
export class RedisMemoryBackend implements MemoryBackend {
  readonly kind = 'redis' as const;
  readonly maxValueBytes: number;
  /** The prefix of every Redis key of this backend. */
  readonly prefix: string;
  private closed = false;

  private constructor(
    private readonly redis: ScriptedRedis,
    prefix: string,
    maxValueBytes: number,
    private readonly where: string,
  ) {
    this.prefix = prefix;
    this.maxValueBytes = maxValueBytes;
  }

  /** Connects (failing fast when Redis is unreachable) and registers the scripts. */
  static async connect(options: RedisMemoryBackendOptions): Promise<RedisMemoryBackend> {
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    assertMaxValueBytes(maxValueBytes);
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (typeof prefix !== 'string' || prefix.length > 128) {
      throw new FlowError(FlowErrorCode.Memory, 'redis memory prefix must be a string of at most 128 characters');
    }
    const where = redactUrl(options.url);
    const { Redis } = await importPeer(
      'ioredis',
      'the redis memory backend',
      FlowErrorCode.Memory,
      () => import('ioredis'),
    );
    let redis: RedisClient;
    try {
      redis = new Redis(options.url, {
        lazyConnect: true,
        connectTimeout: options.connectTimeoutMs ?? 5000,
        maxRetriesPerRequest: 3,
        // After the first connection, keep reconnecting with a capped backoff.
        retryStrategy: (times) => Math.min(times * 100, 2000),
      });
    } catch (e) {
      throw new FlowError(FlowErrorCode.Memory, `invalid redis memory url ${where}`, { cause: e });
    }
    redis.on('error', () => undefined); // surfaced per command; ioredis would otherwise log to stdout
    try {
      await redis.connect();
    } catch (e) {
      redis.disconnect();
      throw new FlowError(FlowErrorCode.Memory, `cannot connect to redis memory at ${where}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    redis.defineCommand('flowMemorySet', { numberOfKeys: 1, lua: SET_SCRIPT });
    redis.defineCommand('flowMemoryCas', { numberOfKeys: 1, lua: CAS_SCRIPT });
    redis.defineCommand('flowMemoryIncr', { numberOfKeys: 1, lua: INCR_SCRIPT });
    return new RedisMemoryBackend(redis as ScriptedRedis, prefix, maxValueBytes, where);
  }

  async get(namespace: string, key: string): Promise<MemoryEntry | null> {
    const redisKey = this.keyOf(namespace, key);
    const [v, u, e] = await this.run(() => this.redis.hmget(redisKey, 'v', 'u', 'e'));
    return toEntry(key, v ?? null, u ?? null, e ?? null);
  }

  async set(namespace: string, key: string, value: JsonValue, opts?: MemorySetOptions): Promise<void> {
    const redisKey = this.keyOf(namespace, key);
    const { json, now, ttlMs } = this.prepare(key, value, opts);
    await this.run(() => this.redis.flowMemorySet(redisKey, json, now, ttlMs, now + ttlMs));
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    const redisKey = this.keyOf(namespace, key);
    return (await this.run(() => this.redis.del(redisKey))) > 0;
  }

  async list(namespace: string, prefix = ''): Promise<MemoryEntry[]> {
    this.assertOpen();
    assertNamespace(namespace);
    assertPrefix(prefix);
    const base = `${this.prefix}${namespace}/`;
    const match = `${escapeGlob(base + prefix)}*`;
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.run(() => this.redis.scan(cursor, 'MATCH', match, 'COUNT', 1000));
      for (const k of batch) keys.add(k);
      cursor = next;
    } while (cursor !== '0');
    if (keys.size === 0) return [];
    const ordered = [...keys].sort();
    const pipeline = this.redis.pipeline();
    for (const k of ordered) pipeline.hmget(k, 'v', 'u', 'e');
    const replies = (await this.run(() => pipeline.exec())) ?? [];
    const out: MemoryEntry[] = [];
    ordered.forEach((redisKey, i) => {
      const [err, fields] = replies[i] ?? [null, null];
      if (err || !Array.isArray(fields)) return;
      const [v, u, e] = fields as (string | null)[];
      const entry = toEntry(redisKey.slice(base.length), v ?? null, u ?? null, e ?? null);
      if (entry) out.push(entry);
    });
    return out;
  }

  async cas(
    namespace: string,
    key: string,
    expected: JsonValue | null,
    next: JsonValue,
    opts?: MemorySetOptions,
  ): Promise<CasResult> {
    const redisKey = this.keyOf(namespace, key);
    const { json, now, ttlMs } = this.prepare(key, next, opts);
    const expectedJson = expected === null ? '' : canonicalJson(expected);
    const [ok, current] = await this.run(() =>
      this.redis.flowMemoryCas(redisKey, expected === null ? '1' : '0', expectedJson, json, now, ttlMs, now + ttlMs),
    );
    return { ok: ok === 1, current: current === null ? null : (JSON.parse(current) as JsonValue) };
  }

  async incr(namespace: string, key: string, amount = 1): Promise<number> {
    const redisKey = this.keyOf(namespace, key);
    assertAmount(amount);
    try {
      return Number(await this.redis.flowMemoryIncr(redisKey, amount, Date.now()));
    } catch (e) {
      const message = (e as Error).message;
      if (message.includes('NOT_A_NUMBER')) {
        throw new FlowError(
          FlowErrorCode.Memory,
          `cannot incr memory key ${JSON.stringify(key)}: its value is not a number`,
        );
      }
      if (message.includes('OVERFLOW')) {
        throw new FlowError(
          FlowErrorCode.Memory,
          `cannot incr memory key ${JSON.stringify(key)}: the result overflows`,
        );
      }
      throw this.failure(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private keyOf(namespace: string, key: string): string {
    this.assertOpen();
    assertNamespace(namespace);
    assertKey(key);
    // A namespace holds no '/', so the first '/' after the prefix always ends it.
    return `${this.prefix}${namespace}/${key}`;
  }

  private prepare(key: string, value: JsonValue, opts: MemorySetOptions | undefined) {
    assertTtl(opts?.ttlMs);
    return { json: encodeValue(key, value, this.maxValueBytes), now: Date.now(), ttlMs: opts?.ttlMs ?? 0 };
  }

  private assertOpen(): void {
    if (this.closed) throw new FlowError(FlowErrorCode.Memory, `redis memory at ${this.where} is closed`);
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.failure(e);
    }
  }

  private failure(e: unknown): FlowError {
    if (e instanceof FlowError) return e;
    return new FlowError(
      FlowErrorCode.Memory,
      `redis memory operation failed at ${this.where}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

function toEntry(key: string, v: string | null, u: string | null, e: string | null): MemoryEntry | null {
  if (v === null) return null;
  const entry: MemoryEntry = { key, value: JSON.parse(v) as JsonValue, updatedAt: Number(u ?? 0) };
  if (e !== null) entry.expiresAt = Number(e);
  return entry;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function redactUrl(url: string): string {
  return maskPasswords(url);
}
