import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFlowStore } from '../../src/store/file.js';
import { PostgresFlowStore } from '../../src/store/postgres.js';
import { SqliteFlowStore } from '../../src/store/sqlite.js';
import { tempDir } from '../cli/helpers.js';
import { createTestDatabase, needPostgres } from '../helpers/services.js';
import { flowOf, flowStoreContract, type StoreKit } from './contract.js';

const postgres = await needPostgres();

function localKit(name: string, make: (dir: string) => FileFlowStore | SqliteFlowStore): StoreKit {
  let dir = '';
  let cleanup = async () => {};
  return {
    name,
    setup: async () => void ({ dir, cleanup } = await tempDir(`ocf-store-${name}-`)),
    open: () => make(dir),
    cleanup: () => cleanup(),
  };
}

function postgresKit(): StoreKit {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  return {
    name: 'postgres',
    setup: async () => void (db = await createTestDatabase(postgres.url)),
    open: () => new PostgresFlowStore(db!.url),
    cleanup: async () => db?.drop(),
  };
}

describe('file flow store', () => flowStoreContract(localKit('file', (dir) => new FileFlowStore(join(dir, 'flows')))));
describe('sqlite flow store', () =>
  flowStoreContract(localKit('sqlite', (dir) => new SqliteFlowStore(join(dir, 'flows.db')))));
describe.skipIf(!postgres.up)('postgres flow store', () => flowStoreContract(postgresKit()));

describe('file flow store: each long string of a snapshot once', () => {
  it("an inline agent's 900 KB prompt held by the supervisor twice and its child once is written once", async () => {
    const { dir, cleanup } = await tempDir('ocf-store-packed-');
    try {
      const prompt = 'p'.repeat(900_000);
      const spec = { name: 'big', prompt };
      const snapshot = {
        context: { agents: [spec], workers: [{ spec }] },
        children: { big: { snapshot: { context: { spec: { ...spec } } } } },
      };
      const store = new FileFlowStore(join(dir, 'flows'));
      await store.save(flowOf('flow_big', {}, snapshot));
      const bytes = (await stat(join(dir, 'flows', 'flow_big', 'snapshot.json'))).size;
      expect(bytes).toBeGreaterThan(900_000);
      expect(bytes).toBeLessThan(901_000);
      expect((await store.load('flow_big')).snapshot).toEqual(snapshot);
      await store.close();
    } finally {
      await cleanup();
    }
  });
});

describe('sqlite flow store: the file', () => {
  it('is created 0600, in WAL mode, with its schema version recorded once', async () => {
    const { dir, cleanup } = await tempDir('ocf-store-sqlite-file-');
    try {
      const path = join(dir, 'nested', 'flows.db');
      const a = new SqliteFlowStore(path);
      const b = new SqliteFlowStore(path);
      // Two stores migrating the same new file at once.
      await Promise.all([a.save(flowOf('flow_a')), b.save(flowOf('flow_b'))]);
      await Promise.all([a.close(), b.close()]);
      expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.prepare('SELECT version, name FROM opencode_flow_migrations').all()).toEqual([
          { version: 1, name: 'runs' },
        ]);
        expect(db.prepare('SELECT flow_id FROM opencode_flow_runs ORDER BY flow_id').all()).toEqual([
          { flow_id: 'flow_a' },
          { flow_id: 'flow_b' },
        ]);
      } finally {
        db.close();
      }
    } finally {
      await cleanup();
    }
  });
});

describe.skipIf(!postgres.up)('postgres flow store: migrations', () => {
  it('two stores migrating the same fresh database at once both succeed, and the schema is made once', async () => {
    const db = await createTestDatabase(postgres.url);
    const stores = Array.from({ length: 4 }, () => new PostgresFlowStore(db.url));
    try {
      await Promise.all(stores.map((s, i) => s.save(flowOf(`flow_migrate_${i}`))));
      expect((await stores[0]!.list()).map((m) => m.flowId).sort()).toEqual(stores.map((_, i) => `flow_migrate_${i}`));
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT version, name FROM opencode_flow_migrations ORDER BY version');
        expect(rows).toEqual([
          { version: 1, name: 'runs' },
          { version: 2, name: 'replicas' },
        ]);
        // A store opened later finds the schema there and migrates nothing.
        const later = new PostgresFlowStore(db.url);
        await later.list();
        await later.close();
        expect((await client.query('SELECT count(*)::int AS n FROM opencode_flow_migrations')).rows).toEqual([
          { n: 2 },
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await db.drop();
    }
  });

  it('never prints the password of its URL, in its location or in a connection error', async () => {
    const store = new PostgresFlowStore('postgres://flows:hunter2-secret@127.0.0.1:1/flows');
    expect(store.location).not.toContain('hunter2-secret');
    const e = await store.list().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(e).toBeInstanceOf(Error);
    expect(e!.message).toContain('postgres://flows:***@127.0.0.1:1/flows');
    expect(e!.message).not.toContain('hunter2-secret');
    await store.close();
  });
});
