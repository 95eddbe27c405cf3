import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth } from '../../src/opencode/server.js';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import {
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startScriptedLLM,
  type ScriptedLLM,
} from '../../src/testing/index.js';
import { call, readEvents, TOKEN } from './helpers.js';

/** Without `server`, serve starts its own `opencode serve` (as the CLI does) and stops it on close. */
let llm: ScriptedLLM;
let root: string;
let serve: RunningServe;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'embedded answer', chunks: 3, chunkDelayMs: 50 } });
  root = await mkdtemp(join(tmpdir(), 'ocf-serve-embedded-'));
  await mkdir(join(root, 'home'));
  await mkdir(join(root, 'project'));
  serve = await startServe({
    port: 0,
    token: TOKEN,
    flowOptions: {
      directory: join(root, 'project'),
      opencodeConfig: scriptedOpencodeConfig({ baseURL: llm.baseURL }),
      serverEnv: isolatedOpencodeEnv(join(root, 'home')),
      memory: `file:${join(root, 'memory.json')}`,
    },
  });
});

afterAll(async () => {
  await serve?.close();
  await llm?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('serve with an embedded OpenCode', () => {
  it('runs a flow on the OpenCode it started', async () => {
    expect(serve.flow.serverUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await call(serve.url, 'GET', '/readyz', { token: null })).status).toBe(200);
    const r = await call(serve.url, 'POST', '/flows', { body: { task: 'EMBEDDED-TASK', agents: ['researcher'] } });
    expect(r.status).toBe(202);
    const { events } = await readEvents(serve.url, r.body.id);
    expect(events.at(-1)).toMatchObject({
      event: 'flow.done',
      data: {
        status: 'completed',
        results: [{ agent: 'researcher', output: 'embedded answer', model: 'scripted/small' }],
      },
    });
  });

  it('stops that OpenCode, and its own listener, on close', async () => {
    const ocUrl = serve.flow.serverUrl!;
    await checkHealth({ url: ocUrl }, { timeoutMs: 2000, attempts: 1 });
    await serve.close();
    await expect(checkHealth({ url: ocUrl }, { timeoutMs: 1000, attempts: 1 })).rejects.toThrow(/not reachable/);
    await expect(fetch(`${serve.url}/healthz`)).rejects.toThrow();
  });
});
