import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { OpencodeClient } from '../../src/opencode/client.js';
import { call, readEvents, tempMemory, TOKEN, waitFor } from './helpers.js';
import { cliArgv, tempDir } from '../cli/helpers.js';
import { FileFlowStore } from '../../src/store/file.js';

/** `opencode-flow serve` as a user runs it: a child process, real OpenCode, scripted model. */
const root = resolve(import.meta.dirname, '../..');

interface Serving {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void>> = [];

function run(
  args: string[],
  env: Record<string, string> = {},
  cwd = root,
): { child: ChildProcess; out: { stdout: string; stderr: string }; exit: Serving['exit'] } {
  const child = spawn(process.execPath, cliArgv(args), {
    cwd,
    env: { ...process.env, OPENCODE_SERVER_URL: '', OPENCODE_FLOW_TOKEN: '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  return { child, out, exit };
}

/** Start `serve` on a free port against the test OpenCode; resolves once it listens. */
async function serveCli(
  args: string[],
  { env = {}, token = true, cwd }: { env?: Record<string, string>; token?: boolean; cwd?: string } = {},
): Promise<Serving> {
  const mem = await tempMemory('cli');
  cleanups.push(mem.cleanup);
  const base = [
    'serve',
    '--port',
    '0',
    '--server',
    oc.url,
    '--model',
    'scripted/small',
    ...(token ? ['--token', TOKEN] : []),
  ];
  const { child, out, exit } = run([...base, ...args], { OPENCODE_FLOW_MEMORY: mem.uri, ...env }, cwd);
  const url = await Promise.race([
    waitFor(() => /listening on (http:\/\/\S+)/.exec(out.stdout)?.[1], { what: 'serve to listen', timeoutMs: 30_000 }),
    exit.then((e) => {
      throw new Error(`serve exited early (${e.code}): ${out.stderr}`);
    }),
  ]);
  return { child, url, stdout: () => out.stdout, stderr: () => out.stderr, exit };
}

let llm: ScriptedLLM;
let oc: TestOpencode;
let client: OpencodeClient;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  client = new OpencodeClient({ url: oc.url });
});

afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
});

describe('opencode-flow serve', () => {
  it('exits 2 with a clear message on bad options', async () => {
    // Each case is a whole CLI process: a few here, every field in options.test.ts.
    const cases: Array<[string[], RegExp]> = [
      [
        ['--host', '0.0.0.0'],
        /token: binding 0\.0\.0\.0 exposes the API beyond this machine: set a token \(--token or OPENCODE_FLOW_TOKEN\)/,
      ],
      [
        ['--port', 'eighty', '--on-shutdown', 'later'],
        /^(?=.*invalid option .*--on-shutdown: expected "cancel", "wait" or "persist", found "later")(?=.*--port: expected a port number, found "eighty")/,
      ],
      [['--bogus'], /unknown option '--bogus'/],
      [
        ['--log-level', 'nope'],
        /--log-level: expected one of trace, debug, info, warn, error, fatal, silent, found "nope"/,
      ],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const { out, exit } = run(['serve', ...args]);
        const { code } = await exit;
        expect(code, args.join(' ')).toBe(2);
        expect(out.stderr, args.join(' ')).toMatch(message);
        expect(out.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(out.stdout).toBe('');
      }),
    );
  });

  it('accepts a non-loopback bind with a token from OPENCODE_FLOW_TOKEN, and prints where it listens', async () => {
    const s = await serveCli(['--host', '0.0.0.0'], { token: false, env: { OPENCODE_FLOW_TOKEN: TOKEN } });
    const port = /^http:\/\/0\.0\.0\.0:(\d+)$/.exec(s.url)?.[1];
    expect(port).toBeTruthy();
    const out = { stdout: s.stdout(), stderr: s.stderr() };
    expect(out.stdout).toContain(`dashboard  http://0.0.0.0:${port}/`);
    expect(out.stdout).toContain('auth       bearer token required');
    expect(out.stdout).toContain(`OpenCode   ${oc.url} (attached)`);
    expect(out.stdout + out.stderr).not.toContain(TOKEN);
    expect((await call(`http://127.0.0.1:${port}`, 'GET', '/flows', { token: null })).status).toBe(401);
    expect((await call(`http://127.0.0.1:${port}`, 'GET', '/flows')).status).toBe(200);
    s.child.kill('SIGINT');
    expect((await s.exit).code).toBe(0);
  });

  it('logs JSON lines: each request with its id, the flow started and finished, listening, shutdown; never the token', async () => {
    const s = await serveCli([]);
    const r = await call(s.url, 'POST', '/flows', {
      body: { task: 'LOG-TASK', agents: ['reviewer'] },
      headers: { 'x-request-id': 'test-req-1' },
    });
    expect(r.status).toBe(202);
    expect(r.headers.get('x-request-id')).toBe('test-req-1');
    const id = r.body.id as string;
    await waitFor(async () => (await call(s.url, 'GET', `/flows/${id}`)).body.status === 'completed', {
      what: 'the flow to complete',
    });
    // A request without an id gets one, and an id that is not sane is replaced.
    const other = await call(s.url, 'GET', '/flows', { headers: { 'x-request-id': 'not sane!' } });
    expect(other.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{16}$/);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);

    const out = s.stdout();
    expect(out + s.stderr()).not.toContain(TOKEN);
    // After the banner (plain lines, as ever), every line is one JSON object.
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byMsg = (msg: string) => lines.filter((l) => l.msg === msg);
    expect(byMsg('listening')).toEqual([expect.objectContaining({ level: 'info', url: s.url, auth: 'token' })]);
    expect(byMsg('request')).toContainEqual(
      expect.objectContaining({
        reqId: 'test-req-1',
        method: 'POST',
        path: '/flows',
        status: 202,
        durationMs: expect.any(Number),
      }),
    );
    expect(byMsg('request')).toContainEqual(
      expect.objectContaining({ reqId: other.headers.get('x-request-id'), method: 'GET', path: '/flows', status: 200 }),
    );
    expect(byMsg('flow started')).toEqual([
      expect.objectContaining({ flowId: id, mode: 'parallel', agents: ['reviewer'] }),
    ]);
    expect(byMsg('flow finished')).toEqual([
      expect.objectContaining({
        flowId: id,
        status: 'completed',
        costUsd: expect.any(Number),
        durationMs: expect.any(Number),
      }),
    ]);
    expect(byMsg('shutting down')).toEqual([
      expect.objectContaining({ signal: 'SIGTERM', onShutdown: 'cancel', runningFlows: 0 }),
    ]);
    expect(byMsg('exit')).toEqual([expect.objectContaining({ signal: 'SIGTERM', exitCode: 0 })]);
    // In the order they happened.
    const order = ['listening', 'flow started', 'flow finished', 'shutting down', 'stopped', 'exit'].map((m) =>
      lines.findIndex((l) => l.msg === m),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order).not.toContain(-1);
  });

  it('with --log-level warn logs no info lines', async () => {
    const s = await serveCli(['--log-level', 'warn']);
    expect((await call(s.url, 'GET', '/flows', { headers: { 'x-request-id': 'test-req-2' } })).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
    expect(s.stdout()).toContain('listening on'); // the banner is not a log line
    expect(s.stdout()).not.toContain('test-req-2');
    expect(
      s
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{')),
    ).toEqual([]);
  });

  it('on SIGTERM cancels the running flow, aborts its sessions and exits 0', async () => {
    llm.script({ match: { allText: 'SIGTERM-TASK' }, reply: { hang: true } });
    const s = await serveCli(['--keep-sessions']);
    const r = await call(s.url, 'POST', '/flows', { body: { task: 'SIGTERM-TASK', agents: ['researcher', 'coder'] } });
    expect(r.status).toBe(202);
    const sessions: Record<string, string> = {};
    let sawAllStreaming!: () => void;
    const streaming = new Promise<void>((res) => (sawAllStreaming = res));
    const stream = readEvents(s.url, r.body.id, {
      onEvent: (e) => {
        if (e.event === 'agent.state' && e.data.state === 'streaming') sessions[e.data.agent] = e.data.sessionID;
        if (sessions.researcher && sessions.coder) sawAllStreaming();
      },
    });
    await streaming;
    await waitFor(
      async () => {
        const busy = Object.keys(await client.status());
        return Object.values(sessions).every((id) => busy.includes(id));
      },
      { what: 'both sessions busy' },
    );

    s.child.kill('SIGTERM');
    const { code, signal } = await s.exit;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(s.stderr()).toContain('SIGTERM: shutting down');
    expect(s.stderr()).toContain('cancelling 1 running flow');
    const stopped = s
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ signal: 'SIGTERM', onShutdown: 'cancel', cancelled: 1 });

    // The open event stream saw the flow end as cancelled before the process went away.
    const { events, ended } = await stream;
    expect(ended).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: 'flow.done', data: { status: 'cancelled' } });
    // The sessions still exist (--keep-sessions) and none is busy: they were aborted.
    const busy = Object.keys(await client.status());
    expect(busy.filter((id) => Object.values(sessions).includes(id))).toEqual([]);
    for (const id of Object.values(sessions)) {
      const msgs = await client.messages(id);
      const last = msgs.filter((m) => m.info.role === 'assistant').at(-1)?.info as
        { error?: { name: string } } | undefined;
      expect(last?.error?.name).toBe('MessageAbortedError');
    }
  });

  it('with --on-shutdown persist stores the running flow untouched, exits 0, and resume finishes it', async () => {
    // The answer comes after the server is gone: OpenCode finishes the prompt by itself.
    llm.script({ match: { allText: 'PERSIST-TASK' }, reply: { text: 'answered after shutdown', delayMs: 8000 } });
    const { dir, cleanup } = await tempDir('ocf-persist-');
    cleanups.push(cleanup);
    const s = await serveCli(['--on-shutdown', 'persist', '--keep-sessions'], { cwd: dir });
    const r = await call(s.url, 'POST', '/flows', { body: { task: 'PERSIST-TASK', agents: ['reviewer'] } });
    expect(r.status).toBe(202);
    const id = r.body.id;
    let session = '';
    await waitFor(
      async () => {
        const a = (await call(s.url, 'GET', `/flows/${id}`)).body.agents?.[0];
        session = a?.sessionID ?? '';
        return a?.state === 'streaming';
      },
      { what: 'streaming' },
    );
    s.child.kill('SIGTERM');
    const { code } = await s.exit;
    expect(code).toBe(0);
    expect(s.stderr()).toContain('storing (resume them with opencode-flow resume <id>) 1 running flow');
    // Stored as running; the session was not aborted: it works on (or has finished) the prompt.
    const store = new FileFlowStore(join(dir, '.opencode-flow', 'flows'));
    expect((await store.load(id)).meta.status).toBe('running');
    const answer = (await client.messages(session)).filter((m) => m.info.role === 'assistant').at(-1)?.info as
      { error?: { name: string } } | undefined;
    expect(answer?.error?.name).not.toBe('MessageAbortedError');
    // `resume` takes the answer the session got meanwhile; nothing is asked twice.
    const resumed = run(
      ['resume', id, '--server', oc.url, '--json'],
      { OPENCODE_FLOW_MEMORY: `file:${join(dir, 'mem.json')}` },
      dir,
    );
    const done = await resumed.exit;
    expect(done.code, resumed.out.stderr).toBe(0);
    const report = JSON.parse(resumed.out.stdout);
    expect(report).toMatchObject({
      flowId: id,
      status: 'completed',
      results: [{ agent: 'reviewer', status: 'done', output: 'answered after shutdown' }],
    });
    expect(llm.promptRequests().filter((q) => q.allText.includes('PERSIST-TASK'))).toHaveLength(1);
  });

  it('with --on-shutdown wait lets the running flow finish, then exits 0', async () => {
    llm.script({
      match: { allText: 'WAIT-TASK' },
      reply: { text: 'finished during shutdown', chunks: 10, chunkDelayMs: 200 },
    });
    const s = await serveCli(['--on-shutdown', 'wait']);
    const r = await call(s.url, 'POST', '/flows', { body: { task: 'WAIT-TASK', agents: ['reviewer'] } });
    expect(r.status).toBe(202);
    const stream = readEvents(s.url, r.body.id);
    await waitFor(
      async () => (await call(s.url, 'GET', `/flows/${r.body.id}`)).body.agents?.[0]?.state === 'streaming',
      { what: 'streaming' },
    );
    s.child.kill('SIGTERM');
    // Shutting down: no new connections are taken.
    await waitFor(
      async () =>
        fetch(`${s.url}/healthz`).then(
          () => false,
          () => true,
        ),
      { what: 'listener closed' },
    );
    const { code } = await s.exit;
    expect(code).toBe(0);
    expect(s.stderr()).toContain('waiting for 1 running flow');
    const { events } = await stream;
    expect(events.at(-1)).toMatchObject({
      event: 'flow.done',
      data: { status: 'completed', results: [{ agent: 'reviewer', output: 'finished during shutdown' }] },
    });
  });
});
