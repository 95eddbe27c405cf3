import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowReport } from '../../src/flow/index.js';
import { OpencodeClient } from '../../src/opencode/client.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * examples/embed-in-node: the review app runs as documented (`npx tsx
 * examples/embed-in-node/server.ts --port N --server URL`; here tsx's own bin, which is what
 * `npx tsx` runs, because npx does not pass a SIGTERM on) against a real OpenCode whose
 * model is scripted; its clients see the agents' output live over SSE.
 */
const root = resolve(import.meta.dirname, '../..');
const REVIEWER = 'You are the **reviewer**';
const AUDITOR = 'You are the **security auditor**';
const REVIEW_TEXT = 'Line 2: the loop is off by one; use i < n.\nSeverity: medium.';
const AUDIT_TEXT = 'Line 3: eval() on user input is remote code execution.\nSeverity: critical.';

let llm: ScriptedLLM;
let oc: TestOpencode;

beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
});

interface App {
  child: ChildProcess;
  base: string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start the example with its documented command; resolves once it says it listens. */
async function startApp(): Promise<App> {
  // Port 0: the app takes whatever the OS gives and prints it (no probe-then-bind race).
  const child = spawn(
    resolve(root, 'node_modules/.bin/tsx'),
    ['examples/embed-in-node/server.ts', '--port', '0', '--server', oc.url],
    {
      cwd: root,
      // Keep it off the shared .opencode-flow/memory.json even if someone turns memory on.
      env: { ...process.env, OPENCODE_SERVER_URL: '', OPENCODE_FLOW_MEMORY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a failed test can kill tsx and the app together
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal })),
  );
  const port = await new Promise<string>((ready, fail) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) ready(m[1]!);
    });
    void exit.then((e) => fail(new Error(`app exited early (${e.code ?? e.signal}): ${stderr}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, stderr: () => stderr, exit };
}

interface SseEvent {
  id: string;
  event: string;
  data: any;
}

/** Read a whole SSE response with fetch; `onEvent` sees each event as it arrives. */
async function readSse(url: string, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(90_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const e: SseEvent = { id: '', event: 'message', data: undefined };
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue; // a keep-alive comment
      e.data = JSON.parse(data);
      events.push(e);
      onEvent?.(e);
    }
  }
  return events;
}

async function postReview(base: string, body: unknown): Promise<Response> {
  return fetch(`${base}/review`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('examples/embed-in-node', () => {
  it('streams both agents over SSE, serves the report, exits 0 on SIGTERM', async () => {
    // Pieces further apart than the 50 ms in which an agent gathers deltas.
    llm.script([
      { match: { allText: 'EMBED-A', system: REVIEWER }, reply: { text: REVIEW_TEXT, chunks: 6, chunkDelayMs: 150 } },
      { match: { allText: 'EMBED-A', system: AUDITOR }, reply: { text: AUDIT_TEXT, chunks: 6, chunkDelayMs: 150 } },
    ]);
    const app = await startApp();
    try {
      // Bad requests are refused without starting anything.
      const bad = await postReview(app.base, { source: 'x' });
      expect(bad.status).toBe(400);
      expect((await fetch(`${app.base}/review/nope`)).status).toBe(404);

      const post = await postReview(app.base, {
        code: '// EMBED-A\nfor (let i = 0; i <= n; i++) {}\neval(req.query.x);',
      });
      expect(post.status).toBe(202);
      const { id } = (await post.json()) as { id: string };
      expect(id).toMatch(/^review_/);

      const events = await readSse(`${app.base}/review/${id}/events`);
      const doneAt = events.findIndex((e) => e.event === 'done');
      expect(doneAt, JSON.stringify(events.map((e) => e.event))).toBe(events.length - 1);
      const before = events.slice(0, doneAt);
      const text = (agent: string) =>
        before
          .filter((e) => e.event === 'delta' && e.data.agent === agent)
          .map((e) => e.data.text)
          .join('');
      // Deltas stream before the report (how many depends on timing: an agent gathers the tokens
      // that arrive within 50 ms, and a loaded machine delivers OpenCode's events in bursts).
      expect(before.filter((e) => e.event === 'delta' && e.data.agent === 'reviewer').length).toBeGreaterThan(0);
      expect(before.filter((e) => e.event === 'delta' && e.data.agent === 'security-auditor').length).toBeGreaterThan(
        0,
      );
      expect(text('reviewer')).toBe(REVIEW_TEXT);
      expect(text('security-auditor')).toBe(AUDIT_TEXT);
      // State changes too, in order, for each agent.
      for (const agent of ['reviewer', 'security-auditor']) {
        const states = before.filter((e) => e.event === 'state' && e.data.agent === agent).map((e) => e.data.state);
        expect(states.indexOf('prompting'), `${agent}: ${states.join(',')}`).toBeGreaterThanOrEqual(0);
        expect(states.indexOf('done')).toBeGreaterThan(states.indexOf('prompting'));
      }
      // Event ids count up from 1 (what Last-Event-ID resumes from).
      expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));

      const report = events[doneAt]!.data as FlowReport;
      expect(report).toMatchObject({ flowId: id, status: 'completed', mode: 'parallel' });
      const byAgent = Object.fromEntries(report.results.map((r) => [r.agent, r]));
      expect(Object.keys(byAgent).sort()).toEqual(['reviewer', 'security-auditor']);
      for (const r of report.results) {
        expect(r.status, r.error).toBe('done');
        expect(r.cost).toBeGreaterThan(0);
      }
      expect(byAgent.reviewer!.output).toBe(REVIEW_TEXT);
      expect(byAgent['security-auditor']!.output).toBe(AUDIT_TEXT);
      expect(report.cost.total).toBeGreaterThan(0);

      const got = await fetch(`${app.base}/review/${id}`);
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual({ id, status: 'done', report });

      // A client that comes late gets the whole stream replayed; one that resumes, the rest.
      const replay = await readSse(`${app.base}/review/${id}/events`);
      expect(replay).toEqual(events);
      const resumed = await fetch(`${app.base}/review/${id}/events`, { headers: { 'last-event-id': String(doneAt) } });
      expect(await resumed.text()).toBe(`id: ${doneAt + 1}\nevent: done\ndata: ${JSON.stringify(report)}\n\n`);

      app.child.kill('SIGTERM');
      expect(await app.exit, app.stderr()).toEqual({ code: 0, signal: null });
    } finally {
      if (app.child.exitCode === null && app.child.signalCode === null) process.kill(-app.child.pid!, 'SIGKILL');
    }
  }, 120_000);

  it('SIGTERM mid-review: the stream ends with a cancelled report, the sessions are aborted, exit 0', async () => {
    llm.script([
      { match: { allText: 'EMBED-B', system: REVIEWER }, reply: { hang: true } },
      { match: { allText: 'EMBED-B', system: AUDITOR }, reply: { hang: true } },
    ]);
    const app = await startApp();
    try {
      const post = await postReview(app.base, { code: '// EMBED-B\nconsole.log(1)' });
      expect(post.status).toBe(202);
      const { id } = (await post.json()) as { id: string };
      const pending = await fetch(`${app.base}/review/${id}`);
      expect(pending.status).toBe(200);
      expect(await pending.json()).toEqual({ id, status: 'running' });
      const prompting = new Set<string>();
      let signalled = false;
      const events = await readSse(`${app.base}/review/${id}/events`, (e) => {
        if (e.event === 'state' && e.data.state === 'prompting') prompting.add(e.data.agent);
        if (!signalled && prompting.size === 2) {
          signalled = true;
          app.child.kill('SIGTERM');
        }
      });
      expect(signalled).toBe(true);
      const last = events[events.length - 1]!;
      expect(last.event).toBe('done');
      expect(last.data).toMatchObject({ flowId: id, status: 'cancelled' });
      expect(await app.exit, app.stderr()).toEqual({ code: 0, signal: null });
      // Nothing left running on the OpenCode server.
      expect(await new OpencodeClient({ url: oc.url }).status()).toEqual({});
    } finally {
      if (app.child.exitCode === null && app.child.signalCode === null) process.kill(-app.child.pid!, 'SIGKILL');
    }
  }, 120_000);
});
