import { resolve } from 'node:path';
import { z } from 'zod';
import { printable } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { invalidUri as invalid, quoteUri as quote, uriPath } from '../uri.js';
import type { MemoryBackend } from './backend.js';

/** Where the file backend keeps its JSON when no path is given. */
export const DEFAULT_MEMORY_PATH = '.opencode-flow/memory.json';

const maxValueBytes = z
  .number()
  .int()
  .positive()
  .optional()
  .describe('Largest serialised value accepted, in bytes (default 1 MiB)');

const FileConfigSchema = z
  .object({
    backend: z.literal('file').describe('A JSON file on this machine (one process at a time)'),
    path: z.string().min(1).default(DEFAULT_MEMORY_PATH).describe('The JSON file'),
    maxValueBytes,
    fsyncDirectory: z
      .boolean()
      .optional()
      .describe('Also fsync the directory after each write, so writes survive power loss (about twice the cost)'),
  })
  .strict();

const SqliteConfigSchema = z
  .object({
    backend: z.literal('sqlite').describe('A SQLite database file (several processes on one machine)'),
    path: z.string().min(1).describe('The database file, or ":memory:"'),
    maxValueBytes,
  })
  .strict();

const RedisConfigSchema = z
  .object({
    backend: z.literal('redis').describe('A Redis server (agents on many machines)'),
    url: z
      .string()
      .regex(/^rediss?:\/\/\S*$/, 'must be a redis:// or rediss:// URL')
      .describe('redis://[user:pass@]host:port/db'),
    prefix: z.string().min(1).max(128).default('opencode-flow:').describe('Prefix of every Redis key'),
    maxValueBytes,
  })
  .strict();

/**
 * The memory section of a flow config: which backend holds shared memory.
 *
 * @example
 * ```ts
 * MemoryConfigSchema.parse({ backend: 'file' }) // { backend: 'file', path: '.opencode-flow/memory.json' }
 * MemoryConfigSchema.parse({ backend: 'redis', url: 'redis://127.0.0.1:6379/0' })
 * ```
 */
export const MemoryConfigSchema = z.discriminatedUnion('backend', [
  FileConfigSchema,
  SqliteConfigSchema,
  RedisConfigSchema,
]);

/** A parsed memory config (defaults filled in). */
export type MemoryConfig = z.output<typeof MemoryConfigSchema>;
/** A memory config as written by a user (defaults optional). */
export type MemoryConfigInput = z.input<typeof MemoryConfigSchema>;

/**
 * Turns a memory URI into a config: `file:PATH` (or `file:///abs/path`), `sqlite:PATH` (or
 * `sqlite:///abs/path`, `sqlite::memory:`), `redis://host:port/db` / `rediss://...` with an
 * optional `?prefix=...`. Throws a `FlowError` (`invalid_config`) naming what is wrong.
 *
 * @example
 * ```ts
 * parseMemoryUri('file:.opencode-flow/memory.json') // { backend: 'file', path: '.opencode-flow/memory.json' }
 * parseMemoryUri('sqlite:./flow.db')                 // { backend: 'sqlite', path: './flow.db' }
 * parseMemoryUri('redis://127.0.0.1:6379/0?prefix=ci:') // { backend: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: 'ci:' }
 * ```
 */
export function parseMemoryUri(uri: string): MemoryConfig {
  const hint = 'use file:PATH, sqlite:PATH or redis://HOST:PORT/DB';
  if (typeof uri !== 'string' || uri.trim() === '') {
    throw invalid(`memory URI is empty; ${hint}`);
  }
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(uri.trim());
  if (!match || match[1]!.length === 1) {
    // One letter before ':' is a Windows drive, not a scheme.
    throw invalid(`memory URI ${quote(uri)} has no scheme; ${hint}`);
  }
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  switch (scheme) {
    case 'file': {
      // An empty path is a typo more often than a wish for the default: refuse it, name both.
      const path = pathOf(uri, rest, 'file');
      if (!path)
        throw invalid(
          `memory URI ${quote(uri)} has no file path; e.g. file:${DEFAULT_MEMORY_PATH} (leave the memory option out for that default)`,
        );
      return { backend: 'file', path };
    }
    case 'sqlite': {
      const path = pathOf(uri, rest, 'sqlite');
      if (!path) throw invalid(`memory URI ${quote(uri)} has no database path; e.g. sqlite:./flow.db`);
      return { backend: 'sqlite', path };
    }
    case 'redis':
    case 'rediss': {
      let url: URL;
      try {
        url = new URL(uri.trim());
      } catch (e) {
        throw invalid(`memory URI ${quote(uri)} is not a valid URL; e.g. redis://127.0.0.1:6379/0`, e);
      }
      if (!url.hostname) throw invalid(`memory URI ${quote(uri)} has no host; e.g. redis://127.0.0.1:6379/0`);
      const db = url.pathname.replace(/^\//, '');
      if (db !== '' && !/^\d+$/.test(db)) {
        throw invalid(`memory URI ${quote(uri)}: the database "${printable(db)}" must be a number`);
      }
      const prefix = url.searchParams.get('prefix');
      url.searchParams.delete('prefix');
      if (prefix === '') throw invalid('memory URI: ?prefix= must not be empty');
      return { backend: 'redis', url: url.toString(), prefix: prefix ?? 'opencode-flow:' };
    }
    default:
      throw invalid(`unknown memory URI scheme "${scheme}:"; ${hint}`);
  }
}

/**
 * Validates a memory config (object or URI string) and fills in defaults. Throws a `FlowError`
 * (`invalid_config`) that names the bad field.
 *
 * @example
 * ```ts
 * resolveMemoryConfig('sqlite:./flow.db') // { backend: 'sqlite', path: './flow.db' }
 * ```
 */
export function resolveMemoryConfig(config: MemoryConfigInput | string | undefined): MemoryConfig {
  if (config === undefined) return { backend: 'file', path: DEFAULT_MEMORY_PATH };
  if (typeof config === 'string') return parseMemoryUri(config);
  const parsed = MemoryConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new FlowError(FlowErrorCode.InvalidConfig, `invalid memory config:\n${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Options of {@link createMemoryBackend}. */
export interface CreateMemoryBackendOptions {
  /** Relative paths resolve against this directory (default `process.cwd()`). */
  cwd?: string;
}

/**
 * Opens the backend a config names. The SQLite and Redis drivers are imported only when
 * chosen, so the file default loads neither.
 *
 * @example
 * ```ts
 * const memory = await createMemoryBackend('redis://127.0.0.1:6379/0');
 * const fileMemory = await createMemoryBackend({ backend: 'file' }, { cwd: '/srv/flows' });
 * ```
 */
export async function createMemoryBackend(
  config?: MemoryConfigInput | string,
  options: CreateMemoryBackendOptions = {},
): Promise<MemoryBackend> {
  const resolved = resolveMemoryConfig(config);
  const cwd = options.cwd ?? process.cwd();
  switch (resolved.backend) {
    case 'file': {
      const { FileMemoryBackend } = await import('./file.js');
      return FileMemoryBackend.open(
        withMax(
          {
            path: resolve(cwd, resolved.path),
            ...(resolved.fsyncDirectory === undefined ? {} : { fsyncDirectory: resolved.fsyncDirectory }),
          },
          resolved.maxValueBytes,
        ),
      );
    }
    case 'sqlite': {
      const { SqliteMemoryBackend } = await import('./sqlite.js');
      const path = resolved.path === ':memory:' ? resolved.path : resolve(cwd, resolved.path);
      return SqliteMemoryBackend.open(withMax({ path }, resolved.maxValueBytes));
    }
    case 'redis': {
      const { RedisMemoryBackend } = await import('./redis.js');
      return RedisMemoryBackend.connect(
        withMax({ url: resolved.url, prefix: resolved.prefix }, resolved.maxValueBytes),
      );
    }
  }
}

function withMax<T extends object>(options: T, maxValueBytes: number | undefined): T & { maxValueBytes?: number } {
  return maxValueBytes === undefined ? options : { ...options, maxValueBytes };
}

function pathOf(uri: string, rest: string, scheme: string): string | undefined {
  return uriPath(uri, rest, scheme, {
    what: 'memory URI',
    example: `var/lib/flow/${scheme === 'file' ? 'memory.json' : 'flow.db'}`,
  });
}
