import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFlowStore } from '../../src/store/file.js';
import { tempDir } from '../cli/helpers.js';

const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-store-')));
afterAll(() => cleanup());

describe('FileFlowStore', () => {
  it('stores tasks, prompts and outputs readable by their owner only: files 0600 in 0700 directories', async () => {
    const store = new FileFlowStore(join(dir, '.opencode-flow', 'flows'));
    const meta = {
      flowId: 'flow_modes',
      task: 'a secret task',
      mode: 'parallel',
      agents: ['coder'],
      status: 'running',
      cost: 0,
      startedAt: 1,
      updatedAt: 1,
    };
    await store.save({ meta, snapshot: { context: { prompt: 'a secret prompt', output: 'a secret output' } } });
    await store.save({ meta: { ...meta, status: 'done', updatedAt: 2 }, snapshot: { context: { output: 'more' } } });
    const flowDir = join(dir, '.opencode-flow', 'flows', 'flow_modes');
    expect((await readdir(flowDir)).sort()).toEqual(['meta.json', 'snapshot.json']);
    for (const f of ['meta.json', 'snapshot.json']) expect(await modeOf(join(flowDir, f)), f).toBe('600');
    for (const d of [join(dir, '.opencode-flow'), join(dir, '.opencode-flow', 'flows'), flowDir])
      expect(await modeOf(d), d).toBe('700');
    expect((await store.load('flow_modes')).meta.status).toBe('done');
  });
});
