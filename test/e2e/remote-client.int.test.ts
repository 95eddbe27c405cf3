import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { tempMemory, TOKEN } from '../serve/helpers.js';

/**
 * examples/remote-client: the program runs as documented (tsx, `opencode-flow/client` from
 * the built package) against a real `serve` on a real OpenCode with a scripted model; it
 * streams the agent's output and answers the permission request it is allowed to.
 */
const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  llm = await startScriptedLLM();
  llm.script([
    {
      match: { allText: 'REMOTE-ASK', hasToolResult: false },
      reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo REMOTE-RAN', description: 'marker' } }] },
    },
    {
      match: { allText: 'REMOTE-ASK', hasToolResult: true },
      reply: (req) => ({ text: `tool said: ${req.toolResults.at(-1)?.content ?? ''}`, chunks: 3, chunkDelayMs: 30 }),
    },
  ]);
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  memory = await tempMemory('remote-client');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: { model: 'scripted/small', memory: memory.uri },
    inputPolicy: { onPermission: 'ask' },
  });
});

afterAll(async () => {
  await serve?.close();
  await oc?.stop();
  await llm?.close();
  await memory?.cleanup();
});

const client = (args: string[]) =>
  run(resolve(root, 'node_modules/.bin/tsx'), ['examples/remote-client/client.ts', ...args], {
    cwd: root,
    env: { ...process.env, OPENCODE_FLOW_TOKEN: TOKEN, OPENCODE_FLOW_URL: '' },
    timeout: 120_000,
  });

describe('examples/remote-client', () => {
  it('starts a flow on a remote serve, streams its output, answers the allowed permission, prints the outcome', async () => {
    const { stdout, stderr } = await client([
      '--url',
      serve.url,
      '--task',
      'REMOTE-ASK',
      '--agent',
      JSON.stringify({ name: 'runner', agent: 'build', permissions: { bash: 'ask' } }),
      '--allow',
      'bash',
    ]);
    expect(stderr).toMatch(/flow flow_\S+ started/);
    expect(stderr).toContain('runner asked for bash: once');
    const lines = stdout.trim().split('\n');
    // Each delta is its own `[runner] ` line: the text is what follows the prefixes.
    const said = lines.filter((l) => l.startsWith('[runner] ')).map((l) => l.slice('[runner] '.length));
    expect(said.join('')).toContain('REMOTE-RAN');
    const outcome = JSON.parse(lines.at(-1)!) as { id: string; status: string; agents: string[] };
    expect(outcome).toMatchObject({ status: 'completed', agents: ['runner'] });
    expect(serve.handle.flows.get(outcome.id)?.report?.results[0]?.inputs?.[0]?.by).toBe('user');
  });

  it('exits 2 on bad arguments and 1 with the API code when the server refuses', async () => {
    await expect(client(['--task', 'x', '--agent', 'a'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--url: expected the serve URL'),
    });
    await expect(client(['--url', serve.url, '--task', 'x', '--agent', 'no such agent!'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('(invalid_body)'),
    });
  });
});
