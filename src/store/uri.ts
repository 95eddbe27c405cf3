import { join } from 'node:path';
import { z } from 'zod';
import { invalidUri as invalid, quoteUri as quote, uriPath } from '../uri.js';
import type { FlowStore } from './store.js';
import { FileFlowStore } from './file.js';
import { PostgresFlowStore } from './postgres.js';
import { SqliteFlowStore } from './sqlite.js';

/** The default flow store of a project directory: `.opencode-flow/flows` in it. */
export const defaultFlowsDir = (directory: string = process.cwd()) => join(directory, '.opencode-flow', 'flows');

/** Which backend a store URI names, and where. */
export type FlowStoreConfig =
  { backend: 'file'; dir: string } | { backend: 'sqlite'; path: string } | { backend: 'postgres'; url: string };

const HINT = 'use file:DIR (or a directory), sqlite:PATH or postgres://USER@HOST:PORT/DB';

/**
 * Turns a flow store URI into a config: `file:DIR` or a bare directory, `file:///abs/dir`,
 * `sqlite:PATH` (or `sqlite:///abs/path`), `postgres://…` / `postgresql://…`. Throws a
 * `FlowError` (`invalid_config`) saying what is wrong, never showing a password.
 *
 * @example
 * ```ts
 * parseFlowStoreUri('sqlite:./flows.db'); // { backend: 'sqlite', path: './flows.db' }
 * parseFlowStoreUri('.opencode-flow/flows'); // { backend: 'file', dir: '.opencode-flow/flows' }
 * ```
 */
export function parseFlowStoreUri(uri: string): FlowStoreConfig {
  if (typeof uri !== 'string' || uri.trim() === '') throw invalid(`the flow store URI is empty; ${HINT}`);
  const text = uri.trim();
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(text);
  // No scheme, or one letter before ':' (a Windows drive): a directory.
  if (!match || match[1]!.length === 1) return { backend: 'file', dir: text };
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  switch (scheme) {
    case 'file': {
      const dir = pathOf(uri, rest, 'file');
      if (!dir) throw invalid(`flow store URI ${quote(uri)} has no directory; e.g. file:.opencode-flow/flows`);
      return { backend: 'file', dir };
    }
    case 'sqlite': {
      const path = pathOf(uri, rest, 'sqlite');
      if (!path) throw invalid(`flow store URI ${quote(uri)} has no database path; e.g. sqlite:./flows.db`);
      if (path === ':memory:')
        throw invalid(`flow store URI ${quote(uri)}: a store in memory dies with the process; name a file`);
      return { backend: 'sqlite', path };
    }
    case 'postgres':
    case 'postgresql': {
      let url: URL;
      try {
        url = new URL(text);
      } catch (e) {
        throw invalid(`flow store URI ${quote(uri)} is not a valid URL; e.g. postgres://flows@127.0.0.1:5432/flows`, e);
      }
      if (!url.hostname)
        throw invalid(`flow store URI ${quote(uri)} has no host; e.g. postgres://flows@127.0.0.1:5432/flows`);
      return { backend: 'postgres', url: text };
    }
    default:
      throw invalid(`unknown flow store URI scheme "${scheme}:"; ${HINT}`);
  }
}

/**
 * A flow store URI, checked by {@link parseFlowStoreUri}: the schema of the `store` option
 * (library, CLI `--store`, `OPENCODE_FLOW_STORE`, serve).
 *
 * @example
 * ```ts
 * FlowStoreUriSchema.parse('postgres://flows@127.0.0.1:5432/flows');
 * ```
 */
export const FlowStoreUriSchema = z
  .string()
  .superRefine((uri, ctx) => {
    try {
      parseFlowStoreUri(uri);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  })
  .meta({
    description:
      'Where flows are stored: file:DIR (or a directory), sqlite:PATH, or postgres://[user[:password]@]host[:port]/db',
  });

/**
 * Opens the flow store a URI (or parsed config) names. Nothing is connected yet: the
 * database driver is loaded, and the schema migrated, on the store's first use.
 *
 * @example
 * ```ts
 * const store = openFlowStore(process.env.OPENCODE_FLOW_STORE ?? 'file:.opencode-flow/flows');
 * const latest = (await store.list())[0];
 * await store.close();
 * ```
 */
export function openFlowStore(store: string | FlowStoreConfig): FlowStore {
  const config = typeof store === 'string' ? parseFlowStoreUri(store) : store;
  switch (config.backend) {
    case 'file':
      return new FileFlowStore(config.dir);
    case 'sqlite':
      return new SqliteFlowStore(config.path);
    case 'postgres':
      return new PostgresFlowStore(config.url);
  }
}

function pathOf(uri: string, rest: string, scheme: string): string | undefined {
  return uriPath(uri, rest, scheme, {
    what: 'flow store URI',
    example: `var/lib/opencode-flow/${scheme === 'file' ? 'flows' : 'flows.db'}`,
  });
}
