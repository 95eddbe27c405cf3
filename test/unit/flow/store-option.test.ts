import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { OpencodeFlow } from '../../../src/flow/index.js';
import { parseFlowStoreUri } from '../../../src/store/uri.js';

/** The host's `store` option and the URI forms it takes (nothing is opened: stores connect on first use). */
function failure(fn: () => unknown): FlowError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlowError);
    return e as FlowError;
  }
  throw new Error('expected a FlowError');
}

describe('parseFlowStoreUri', () => {
  it('reads file:, bare paths, sqlite: and postgres URLs', () => {
    expect(parseFlowStoreUri('file:.opencode-flow/flows')).toEqual({ backend: 'file', dir: '.opencode-flow/flows' });
    expect(parseFlowStoreUri('file:///var/lib/flows')).toEqual({ backend: 'file', dir: '/var/lib/flows' });
    expect(parseFlowStoreUri('./flows')).toEqual({ backend: 'file', dir: './flows' });
    expect(parseFlowStoreUri('C:\\flows')).toEqual({ backend: 'file', dir: 'C:\\flows' });
    expect(parseFlowStoreUri('SQLite:./flows.db')).toEqual({ backend: 'sqlite', path: './flows.db' });
    expect(parseFlowStoreUri('sqlite:///tmp/f.db')).toEqual({ backend: 'sqlite', path: '/tmp/f.db' });
    for (const url of ['postgres://u:p@db:5432/flows', 'postgresql://db/flows?sslmode=require'])
      expect(parseFlowStoreUri(url)).toEqual({ backend: 'postgres', url });
  });

  it('refuses what names no store, saying what it takes, never showing a password', () => {
    for (const [uri, message] of [
      ['', /empty/],
      ['redis://127.0.0.1:6379', /unknown flow store URI scheme "redis:"; use file:DIR/],
      ['sqlite:', /no database path/],
      ['sqlite::memory:', /name a file/],
      ['file:', /no directory/],
      ['postgres://u:hunter2@/db', /not a valid URL|no host/],
      ['file://relative/x', /needs an absolute path/],
    ] as const) {
      const e = failure(() => parseFlowStoreUri(uri));
      expect(e.code, uri).toBe(FlowErrorCode.InvalidConfig);
      expect(e.message, uri).toMatch(message);
      expect(e.message).not.toContain('hunter2');
    }
  });
});

describe('OpencodeFlow store option', () => {
  it('chooses the backend by URI; flowsDir is the file store; the default is .opencode-flow/flows', async () => {
    const sqlite = new OpencodeFlow({ store: 'sqlite:./x/flows.db' });
    expect([sqlite.store.kind, sqlite.store.location]).toEqual(['sqlite', `sqlite:${resolve('x/flows.db')}`]);
    const pg = new OpencodeFlow({ store: 'postgres://flows:hunter2@db.internal:5432/flows' });
    expect([pg.store.kind, pg.store.location]).toEqual(['postgres', 'postgres://flows:***@db.internal:5432/flows']);
    expect(new OpencodeFlow({ flowsDir: '/srv/flows' }).store.location).toBe('/srv/flows');
    expect(new OpencodeFlow({ directory: '/srv/project' }).store.location).toBe(
      join('/srv/project', '.opencode-flow', 'flows'),
    );
    // Never started: shutting down closes the stores without having opened a database.
    await Promise.all([sqlite.shutdown(), pg.shutdown()]);
  });

  it('a bad store, or store with flowsDir, is an invalid_config error naming the field', () => {
    const bad = failure(() => new OpencodeFlow({ store: 'ftp://x' }));
    expect(bad.code).toBe(FlowErrorCode.InvalidConfig);
    expect(bad.message).toMatch(/store/);
    expect(bad.message).toMatch(/unknown flow store URI scheme "ftp:"/);
    const both = failure(() => new OpencodeFlow({ store: 'sqlite:x.db', flowsDir: 'flows' }));
    expect(both.message).toMatch(/store or flowsDir, not both/);
  });
});
