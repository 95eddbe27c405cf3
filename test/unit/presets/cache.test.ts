import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStamp, readPresetCache, writePresetCache } from '../../../src/presets/cache.js';
import { loadPresets } from '../../../src/presets/index.js';
import { readAgentDir, bundledAgentsDir } from '../../../src/presets/load.js';

let cache: string;
let saved: string | undefined;
beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), 'ocf-preset-cache-'));
  saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = cache;
});
afterEach(async () => {
  if (saved === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved;
  await rm(cache, { recursive: true, force: true });
});

describe('the bundled presets cache', () => {
  it('a second load reads the cache and gives the same agents as parsing the files', async () => {
    const parsed = await readAgentDir(bundledAgentsDir(), { required: true });
    const first = await loadPresets({ cwd: cache });
    const [file] = await readdir(join(cache, 'opencode-flow'));
    expect(file).toMatch(/^presets-.+\.json$/);
    const second = await loadPresets({ cwd: cache });
    expect([...second.values()]).toEqual(parsed);
    expect([...second.values()]).toEqual([...first.values()]);
    // What the second load returned came from the cache file: a marked copy shows through.
    const path = join(cache, 'opencode-flow', file!);
    const c = JSON.parse(await readFile(path, 'utf8')) as { agents: { description: string }[] };
    c.agents[0]!.description = 'FROM-THE-CACHE';
    await writeFile(path, JSON.stringify(c));
    expect([...(await loadPresets({ cwd: cache })).values()][0]!.description).toBe('FROM-THE-CACHE');
  });

  it('misses when a file changes (mtime or size), when the set of files changes, or for another version', async () => {
    const f = join(cache, 'a.md');
    await writeFile(f, 'one');
    const stamp = await fileStamp([f]);
    await writePresetCache('1.0.0', stamp, []);
    expect(await readPresetCache('1.0.0', stamp)).toEqual([]);
    expect(await readPresetCache('1.0.1', stamp)).toBeUndefined();
    await utimes(f, new Date(1000), new Date(1000));
    expect(await readPresetCache('1.0.0', await fileStamp([f]))).toBeUndefined();
    await writeFile(f, 'one more');
    expect(await readPresetCache('1.0.0', await fileStamp([f]))).toBeUndefined();
    const g = join(cache, 'b.md');
    await writeFile(g, 'two');
    expect(await readPresetCache('1.0.0', await fileStamp([f, g]))).toBeUndefined();
  });

  it('an unreadable cache file is a miss, not an error', async () => {
    await loadPresets({ cwd: cache });
    const [file] = await readdir(join(cache, 'opencode-flow'));
    await writeFile(join(cache, 'opencode-flow', file!), '{ not json');
    expect((await loadPresets({ cwd: cache })).get('reviewer')?.permission.edit).toBe('deny');
  });
});
