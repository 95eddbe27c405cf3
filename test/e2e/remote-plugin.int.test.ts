import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { freePort, resolveOpencodeBinary } from '../../src/opencode/server.js';
import { startScriptedLLM, type ScriptedLLM } from '../../src/testing/index.js';
import { scriptedOpencodeConfig } from '../../src/testing/opencode.js';

/**
 * A remote `opencode serve` set up exactly as the README says: the package's
 * `opencode-plugin.js` copied into a folder with no package.json above it and named in the
 * server's `opencode.json`. Its HOME is fresh, so OpenCode first tries to install its plugin
 * package before it answers the first request of the project (about 22 s offline, the
 * first `POST /mcp` among them). A flow attached to it must wait that out instead of
 * failing `mcp.add` after a fixed 15 s.
 */
const root = resolve(import.meta.dirname, '../..');
let llm: ScriptedLLM;
let dir: string;
let server: ChildProcess;
let url: string;

beforeAll(async () => {
  llm = await startScriptedLLM({ rules: [{ reply: { text: 'remote answer' } }] });
  dir = await mkdtemp(join(tmpdir(), 'ocf-remote-'));
  const home = join(dir, 'home');
  const etc = join(dir, 'etc', 'opencode-flow');
  const project = join(dir, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(etc, { recursive: true });
  await mkdir(project, { recursive: true });
  await copyFile(join(root, 'opencode-plugin.js'), join(etc, 'opencode-plugin.js'));
  const config = {
    ...scriptedOpencodeConfig({ baseURL: llm.baseURL }),
    plugin: [`file://${join(etc, 'opencode-plugin.js')}`],
  };
  await writeFile(join(project, 'opencode.json'), JSON.stringify(config, null, 2));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(resolveOpencodeBinary(), ['serve', '--port', String(port), '--hostname', '127.0.0.1'], {
    cwd: project,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      // As on a machine with no route to the registry: OpenCode's plugin install fails slowly.
      npm_config_registry: 'http://127.0.0.1:9/',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((ready, fail) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) ready();
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.on('exit', (code) => fail(new Error(`opencode serve exited ${code}: ${out}`)));
  });
  // Started in the test below, against a server whose project has not booted yet.
}, 120_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a remote server with opencode-plugin.js, set up as the README says', () => {
  it('runs a flow although the first request of the project takes longer than the request timeout', async () => {
    const flow = new OpencodeFlow({
      serverUrl: url,
      directory: join(dir, 'project'),
      model: 'scripted/small',
      memory: { backend: 'file', path: join(dir, 'memory.json') },
    });
    try {
      const report = await flow.execute({ task: 'say hi', agents: ['researcher'] });
      expect(report.status).toBe('completed');
      expect(JSON.stringify(report)).toContain('remote answer');
    } finally {
      await flow.shutdown();
    }
  }, 180_000);
});
