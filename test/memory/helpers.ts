import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { MemoryBackend } from '../../src/memory/backend.js';
import { FileMemoryBackend } from '../../src/memory/file.js';
import { RedisMemoryBackend } from '../../src/memory/redis.js';
import { SqliteMemoryBackend } from '../../src/memory/sqlite.js';
import { REDIS_URL, type Service } from '../helpers/services.js';

export { REDIS_URL } from '../helpers/services.js';
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(import.meta.dirname, 'fixtures');

/** Makes backends of one kind for a test file and cleans up everything they left. */
export interface BackendKit {
  name: 'file' | 'sqlite' | 'redis';
  /** A fresh, empty store (its own file / database / key prefix). */
  open(options?: { maxValueBytes?: number }): Promise<MemoryBackend>;
  /** The URI of the last store opened, for child processes. */
  uri(): string;
  cleanup(): Promise<void>;
}

const looseDirs: string[] = [];

/** A fresh temp directory, removed by {@link removeTempDirs}. */
export async function tempDir(prefix = 'ocf-mem-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  looseDirs.push(dir);
  return dir;
}

/** Removes every directory {@link tempDir} made in this test file. */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(looseDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export function uniquePrefix(): string {
  return `ocf-test-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Deletes every Redis key under `prefix`. */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function countRedisPrefix(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    let n = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      n += keys.length;
      cursor = next;
    } while (cursor !== '0');
    return n;
  } finally {
    redis.disconnect();
  }
}

export function fileKit(): BackendKit {
  const dirs: string[] = [];
  const open: MemoryBackend[] = [];
  let last = '';
  return {
    name: 'file',
    async open(options) {
      const dir = await tempDir();
      dirs.push(dir);
      last = join(dir, 'memory.json');
      const b = await FileMemoryBackend.open({ path: last, ...options });
      open.push(b);
      return b;
    },
    uri: () => `file:${last}`,
    async cleanup() {
      await Promise.all(open.map((b) => b.close().catch(() => undefined)));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

export function sqliteKit(): BackendKit {
  const dirs: string[] = [];
  const open: MemoryBackend[] = [];
  let last = '';
  return {
    name: 'sqlite',
    async open(options) {
      const dir = await tempDir();
      dirs.push(dir);
      last = join(dir, 'memory.db');
      const b = await SqliteMemoryBackend.open({ path: last, ...options });
      open.push(b);
      return b;
    },
    uri: () => `sqlite:${last}`,
    async cleanup() {
      await Promise.all(open.map((b) => b.close().catch(() => undefined)));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

export function redisKit(): BackendKit {
  const prefixes: string[] = [];
  const open: MemoryBackend[] = [];
  let last = '';
  return {
    name: 'redis',
    async open(options) {
      last = uniquePrefix();
      prefixes.push(last);
      const b = await RedisMemoryBackend.connect({ url: REDIS_URL, prefix: last, ...options });
      open.push(b);
      return b;
    },
    uri: () => `${REDIS_URL}?prefix=${encodeURIComponent(last)}`,
    async cleanup() {
      await Promise.all(open.map((b) => b.close().catch(() => undefined)));
      await Promise.all(prefixes.map(deleteRedisPrefix));
    },
  };
}

export const allKits = (): BackendKit[] => [fileKit(), sqliteKit(), redisKit()];

/** Whether a kit's tests must skip here: a Redis kit when Redis does not answer (see `needRedis`). */
export const kitSkipped = (kit: BackendKit, redis: Service): boolean => kit.name === 'redis' && !redis.up;

/** Spawns `node --import tsx <fixture> ...args` from the repo root. */
export function spawnFixture(fixture: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, fixture), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Resolves with the exit code; rejects with stderr when it is not 0. */
export function exitOf(child: ChildProcess): Promise<number> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(0) : reject(new Error(`child exited ${code ?? signal}: ${stderr}`)),
    );
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
