import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileMemoryBackend } from '../../src/memory/file.js';
import { SqliteMemoryBackend } from '../../src/memory/sqlite.js';
import { removeTempDirs, tempDir } from './helpers.js';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

afterAll(() => removeTempDirs());

describe('memory files are private to their owner', () => {
  it('SQLite: the database and its -wal and -shm files are 0600, new directories 0700', async () => {
    const root = await tempDir('ocf-modes-');
    const path = join(root, 'state', 'memory', 'flow.db');
    const db = await SqliteMemoryBackend.open({ path });
    try {
      await db.set('flow:modes', 'secret', { prompt: 'the task' });
      for (const f of [path, `${path}-wal`, `${path}-shm`]) {
        expect(existsSync(f), f).toBe(true);
        expect((await modeOf(f)).toString(8), f).toBe('600');
      }
      for (const d of [join(root, 'state'), join(root, 'state', 'memory')])
        expect((await modeOf(d)).toString(8), d).toBe('700');
    } finally {
      await db.close();
    }
  });

  it('file: the JSON, its lock and new directories are owner-only', async () => {
    const root = await tempDir('ocf-modes-');
    const path = join(root, '.opencode-flow', 'memory.json');
    const mem = await FileMemoryBackend.open({ path });
    try {
      await mem.set('flow:modes', 'secret', 'the task');
      // A write lands in the journal first; it is folded into the JSON on close.
      expect((await modeOf(`${path}.log`)).toString(8)).toBe('600');
      expect((await modeOf(`${path}.lock`)).toString(8)).toBe('600');
      expect((await modeOf(join(root, '.opencode-flow'))).toString(8)).toBe('700');
    } finally {
      await mem.close();
    }
    expect((await modeOf(path)).toString(8)).toBe('600');
  });
});
