import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MemoryBackend } from '../../src/memory/backend.js';
import { createMemoryBackend } from '../../src/memory/config.js';
import { exitOf, fileKit, spawnFixture, sqliteKit, type BackendKit } from './helpers.js';

const NS = 'flow:crash';

interface Rec {
  i: number;
  size: number;
  payload: string;
  sum: number;
}

/**
 * Runs the crash writer until it has acknowledged at least `minAcked` records, then kills it
 * with SIGKILL mid-stream. Returns the highest record it acknowledged.
 */
async function killMidStream(uri: string, minAcked: number): Promise<number> {
  const child = spawnFixture('crash-writer.ts', [uri, NS]);
  let acked = -1;
  let buffer = '';
  let stderr = '';
  let killing: NodeJS.Timeout | undefined;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        const m = /^acked (\d+)$/.exec(line);
        if (m) acked = Number(m[1]);
      }
      if (acked >= minAcked && !killing) {
        // A random few ms later, so the kill lands anywhere in a write, not just after one.
        killing = setTimeout(() => child.kill('SIGKILL'), Math.random() * 5);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own (${code}): ${stderr}`));
    });
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  return acked;
}

/** Every record is whole and every acknowledged record is there. */
async function expectWholeRecords(memory: MemoryBackend, acked: number): Promise<number> {
  const records = await memory.list(NS, 'rec/');
  expect(records.length).toBeGreaterThanOrEqual(acked + 1);
  for (const { key, value } of records) {
    const rec = value as unknown as Rec;
    expect(key).toBe(`rec/${rec.i}`);
    expect(rec.payload.length).toBe(rec.size);
    expect(rec.payload).toBe(String.fromCharCode(97 + (rec.i % 26)).repeat(rec.size));
    expect(rec.sum).toBe(rec.i * 31 + rec.size);
  }
  const indexes = new Set(records.map((r) => (r.value as unknown as Rec).i));
  for (let i = 0; i <= acked; i++) expect(indexes.has(i), `acknowledged record ${i} is missing`).toBe(true);
  // The counter is bumped after each record: it trails the records by at most one.
  const count = (await memory.get(NS, 'count'))!.value as number;
  expect(count).toBeGreaterThanOrEqual(acked + 1);
  expect(records.length - count).toBeGreaterThanOrEqual(0);
  expect(records.length - count).toBeLessThanOrEqual(1);
  return records.length;
}

describe.each([
  ['file', fileKit()],
  ['sqlite', sqliteKit()],
] as const)('kill -9 mid-stream: %s backend', (name, kit: BackendKit) => {
  afterAll(() => kit.cleanup());

  it(
    'reopens with every record whole and every acknowledged write kept, four crashes in a row',
    { timeout: 120_000 },
    async () => {
      const first = await kit.open();
      await first.close(); // the writer process must own it (the file backend is single-process)
      const uri = kit.uri();
      let seen = 0;
      let tornWrites = 0;
      for (let round = 0; round < 4; round++) {
        const acked = await killMidStream(uri, seen + 150);
        if (name === 'file') {
          const names = await readdir(dirname(uri.slice('file:'.length)));
          tornWrites += names.filter((n) => n.endsWith('.tmp')).length;
        }
        const memory = await createMemoryBackend(uri);
        try {
          seen = await expectWholeRecords(memory, acked);
          // The store is writable again.
          await memory.set(NS, 'after-crash', round);
          expect((await memory.get(NS, 'after-crash'))!.value).toBe(round);
        } finally {
          await memory.close();
        }
      }
      if (name === 'file') {
        const path = uri.slice('file:'.length);
        const text = await readFile(path, 'utf8');
        // The whole file is one valid JSON document, and no temp or lock file is left behind.
        expect(() => JSON.parse(text)).not.toThrow();
        const left = await readdir(dirname(path));
        expect(left.filter((n) => n.endsWith('.tmp') || n.endsWith('.lock'))).toEqual([]);
        // Informational: how many kills landed between writing a temp file and renaming it.
        console.info(`file backend: ${tornWrites} of 4 kills left a half-done temp file behind`);
      }
    },
  );
});

describe('file backend recovery', () => {
  const kit = fileKit();
  afterAll(() => kit.cleanup());

  it('removes a torn temp file and takes over the lock of a dead process on open', async () => {
    const memory = await kit.open();
    await memory.set(NS, 'k', 'whole');
    await memory.close();
    const path = kit.uri().slice('file:'.length);
    // What a writer killed between write and rename leaves: a partial temp file and its lock.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    await writeFile(`${path}.${dead.pid}.0badc0de.tmp`, '{"version":1,"namespaces":{"flow:cr');
    await writeFile(`${path}.lock`, `${dead.pid}:stale`);
    const reopened = await createMemoryBackend(kit.uri());
    try {
      expect((await reopened.get(NS, 'k'))!.value).toBe('whole');
      const names = await readdir(dirname(path));
      expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
      expect(await readFile(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid}:`));
    } finally {
      await reopened.close();
    }
  });

  it('refuses a second opener while the holder lives, and a corrupt file, leaving both untouched', async () => {
    const memory = await kit.open();
    const uri = kit.uri();
    await expect(createMemoryBackend(uri)).rejects.toThrow(/already open in this process/);
    await memory.close();
    // Another live process holds it.
    const holder = spawnFixture('worker.ts', [uri, 'incr', NS, 'n', '1', '0']);
    const exited = exitOf(holder);
    await new Promise<void>((resolve) =>
      holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
    );
    await expect(createMemoryBackend(uri)).rejects.toThrow(
      new RegExp(`in use by process ${holder.pid}; the file backend is single-process`),
    );
    holder.stdin!.end('go\n');
    await exited;
    await (await createMemoryBackend(uri)).close(); // released on the holder's close
    const path = uri.slice('file:'.length);
    await writeFile(path, '{"version":1,"namespaces":{"flow:x":{"k":{"v":1,"u":');
    await expect(createMemoryBackend(uri)).rejects.toThrow(/cannot be loaded: it is not JSON. It was left untouched/);
    expect(await readFile(path, 'utf8')).toBe('{"version":1,"namespaces":{"flow:x":{"k":{"v":1,"u":');
  });
});
