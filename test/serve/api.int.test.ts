import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import {
  startScriptedLLM,
  startTestOpencode,
  structuredReply,
  type ScriptedLLM,
  type TestOpencode,
} from '../../src/testing/index.js';
import {
  apiErrorCode,
  FlowClient,
  FlowError,
  FlowErrorCode,
  isFinished,
  type FlowStreamEvent,
} from '../../src/client/index.js';
import { assertEventConforms, contractFetch } from './contract.js';
import { call, parseMetrics, readEvents, sample, tempMemory, TOKEN, waitFor, type SseEvent } from './helpers.js';

/**
 * The HTTP API end to end: real `opencode serve` with a scripted model behind it, our
 * server attached to it over HTTP, plain `fetch` as the client.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let base: string;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  memory = await tempMemory('api');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    maxFlows: 2,
    flowOptions: { model: 'scripted/small', memory: memory.uri },
  });
  base = serve.url;
});

afterAll(async () => {
  await serve?.close();
  await oc?.stop();
  await llm?.close();
  await memory?.cleanup();
});

// A failed test must not leave hanging flows that count against the next test's limit.
afterEach(async () => {
  serve.handle.flows.cancelAll('test cleanup');
  await serve.handle.flows.settleAll();
});

async function post(body: unknown) {
  return call<{ id: string; status: string }>(base, 'POST', '/flows', { body });
}

/** Wait until a flow has a report. */
async function report(id: string) {
  return waitFor(
    async () => {
      const r = await call(base, 'GET', `/flows/${id}`);
      return r.body.status !== 'running' ? r.body : undefined;
    },
    { what: `flow ${id} to finish`, timeoutMs: 60_000 },
  );
}

/** Read the stream until every named agent is streaming; returns the session ids. */
async function untilStreaming(id: string, agents: string[]): Promise<Record<string, string>> {
  const sessions: Record<string, string> = {};
  await readEvents(base, id, {
    until: (e) => {
      if (e.event === 'agent.state' && e.data.state === 'streaming') sessions[e.data.agent] = e.data.sessionID;
      return agents.every((a) => sessions[a]);
    },
  });
  return sessions;
}

describe('health and readiness', () => {
  it('/healthz and /readyz answer without a token; readyz checks OpenCode and memory', async () => {
    const h = await call(base, 'GET', '/healthz', { token: null });
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    const r = await call(base, 'GET', '/readyz', { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ready',
      ready: true,
      reasons: [],
      checks: { opencode: { ok: true }, memory: { ok: true } },
    });
    expect(r.body.checks.opencode.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('auth', () => {
  const protectedRoutes: Array<[string, string]> = [
    ['GET', '/flows'],
    ['POST', '/flows'],
    ['GET', '/flows/flow_x'],
    ['GET', '/flows/flow_x/events'],
    ['GET', '/flows/flow_x/cost'],
    ['DELETE', '/flows/flow_x'],
    ['GET', '/metrics'],
  ];

  it('every route but health, readiness and the page answers 401 without the right bearer token', async () => {
    for (const [method, path] of protectedRoutes) {
      const body = method === 'POST' ? { task: 't', agents: ['coder'] } : undefined;
      const none = await call(base, method, path, { token: null, body });
      expect(none.status, `${method} ${path} without a token`).toBe(401);
      expect(none.body.error.code).toBe('unauthorized');
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const wrong = await call(base, method, path, { token: `${TOKEN}x`, body });
      expect(wrong.status, `${method} ${path} with a wrong token`).toBe(401);
      const prefix = await call(base, method, path, { token: TOKEN.slice(0, -1), body });
      expect(prefix.status, `${method} ${path} with a prefix of the token`).toBe(401);
      const basic = await call(base, method, path, {
        token: null,
        body,
        headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` },
      });
      expect(basic.status, `${method} ${path} with basic auth`).toBe(401);
    }
    // The token in the URL is not accepted either (it would leak into logs).
    expect((await call(base, 'GET', `/flows?token=${TOKEN}`, { token: null })).status).toBe(401);
    expect((await call(base, 'GET', '/flows')).status).toBe(200);
  });

  it('serves the dashboard page without a token, self-contained under a strict CSP', async () => {
    const page = await call(base, 'GET', '/', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(page.text).toContain(`<script nonce="${nonce}">`);
    // No external resources of any kind (the SVG namespace name is an identifier, not a resource).
    expect(page.text.replaceAll("'http://www.w3.org/2000/svg'", "''")).not.toMatch(
      /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//,
    );
    expect(page.text).not.toContain(TOKEN);
  });
});

describe('POST /flows validation', () => {
  it('answers 400 with the path of every bad field', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{}, ['task', 'agents']],
      [{ task: '', agents: [] }, ['task', 'agents']],
      [{ task: 'x', agents: ['coder'], mode: 'tree' }, ['mode']],
      [{ task: 'x', agents: ['coder'], timeout: -5, maxCost: 0 }, ['timeout', 'maxCost']],
      [{ task: 'x', agents: ['coder'], optimize: 'cheapest', model: 'nomodel' }, ['optimize', 'model']],
      [{ task: 'x', agents: ['coder'], fallback: ['scripted/small', 'bad'] }, ['fallback[1]']],
      [{ task: 'x', agents: ['coder', { name: 'scout', model: 'no-provider' }] }, ['agents[1].model']],
      [{ task: 'x', agents: ['coder', { name: 'scout', temperature: 9 }] }, ['agents[1].temperature']],
      [{ task: 'x', agents: [{ name: 'bad name' }] }, ['agents[0].name']],
      [{ task: 'x', agents: [42] }, ['agents[0]']],
      [{ task: 'x', agents: ['coder', 'coder'] }, ['agents[1]']],
      [{ task: 'x', agents: ['coder'], surprise: true }, ['(root)']],
      [[1, 2], ['(root)']],
    ];
    for (const [body, paths] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      const err = (r.body as any).error;
      expect(err.code).toBe('invalid_body');
      expect(err.issues.map((i: { path: string }) => i.path).sort(), JSON.stringify(body)).toEqual([...paths].sort());
      for (const i of err.issues) expect(err.message).toContain(i.path);
    }
  });

  it('answers 400 on bad JSON, 415 on another content type, 400 for agents or models the server lacks', async () => {
    const bad = await call(base, 'POST', '/flows', {
      body: '{"task": "x", agents: [',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_json');
    const text = await call(base, 'POST', '/flows', {
      body: JSON.stringify({ task: 'x', agents: ['coder'] }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('unsupported_media_type');
    const unknown = await post({ task: 'x', agents: ['coder', 'no-such-agent'] });
    expect(unknown.status).toBe(400);
    expect((unknown.body as any).error).toMatchObject({ code: 'unknown_agent' });
    expect((unknown.body as any).error.message).toContain('no-such-agent');
    const model = await post({ task: 'x', agents: ['coder'], model: 'scripted/nope' });
    expect(model.status).toBe(400);
    expect((model.body as any).error.message).toContain('scripted/nope');
    const inline = await post({ task: 'x', agents: [{ name: 'scout', model: 'scripted/gone' }] });
    expect(inline.status).toBe(400);
    expect((inline.body as any).error.message).toContain('scripted/gone');
    // None of the refused requests left a flow behind.
    expect(
      (await call(base, 'GET', '/flows')).body.flows.filter((f: { status: string }) => f.status === 'running'),
    ).toEqual([]);
  });

  it('answers 413 to a body over 1 MiB, with or without Content-Length', async () => {
    const big = JSON.stringify({ task: 'x'.repeat(1024 * 1024), agents: ['coder'] });
    const r = await post(big);
    expect(r.status).toBe(413);
    expect((r.body as any).error.code).toBe('payload_too_large');
    // Chunked: no Content-Length, the limit is enforced while reading. The server answers
    // as soon as it is over the limit, so read the answer while still sending.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${base}/flows`);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      const bytes = Buffer.from(big);
      let i = 0;
      const pump = () => {
        while (i < bytes.length) {
          const ok = req.write(bytes.subarray(i, i + 64 * 1024));
          i += 64 * 1024;
          if (!ok) return void req.once('drain', pump);
        }
        req.end();
      };
      req.on('response', () => {
        i = bytes.length; // stop sending
      });
      pump();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('payload_too_large');
  });
});

describe('flows', () => {
  it('runs a flow: 202, a running view, then the report, the list and the cost', async () => {
    llm.script([
      {
        match: { allText: 'RUN-TASK', system: 'SCOUT-SYSTEM' },
        reply: {
          text: 'scout says hi',
          chunks: 6,
          chunkDelayMs: 200,
          usage: { prompt_tokens: 2000, completion_tokens: 100 },
        },
      },
      {
        match: { allText: 'RUN-TASK' },
        reply: {
          text: 'researcher says hi',
          chunks: 6,
          chunkDelayMs: 200,
          usage: { prompt_tokens: 1000, completion_tokens: 200 },
        },
      },
    ]);
    const r = await post({
      task: 'RUN-TASK: greet',
      agents: ['researcher', { name: 'scout', systemPrompt: 'SCOUT-SYSTEM', model: 'scripted/medium' }],
    });
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('running');
    expect(r.body.id).toMatch(/^flow_\d{14}_[0-9a-f]{6}$/);
    expect(r.headers.get('location')).toBe(`/flows/${r.body.id}`);
    const id = r.body.id;

    const running = await call(base, 'GET', `/flows/${id}`);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ flowId: id, status: 'running', mode: 'parallel', task: 'RUN-TASK: greet' });
    expect(running.body.agents.map((a: { agent: string }) => a.agent)).toEqual(['researcher', 'scout']);
    for (const a of running.body.agents)
      expect(Object.keys(a)).toEqual(expect.arrayContaining(['agent', 'status', 'state', 'model', 'tokens', 'cost']));
    const listed = await call(base, 'GET', '/flows');
    expect(listed.body.flows[0]).toMatchObject({
      id,
      status: 'running',
      task: 'RUN-TASK: greet',
      agents: ['researcher', 'scout'],
    });

    const rep = await report(id);
    expect(rep.status).toBe('completed');
    expect(rep.results.map((x: { agent: string }) => x.agent)).toEqual(['researcher', 'scout']);
    const [researcher, scout] = rep.results;
    expect(researcher).toMatchObject({
      status: 'done',
      output: 'researcher says hi',
      model: 'scripted/small',
      tokens: { input: 1000, output: 200 },
    });
    expect(scout).toMatchObject({
      status: 'done',
      output: 'scout says hi',
      model: 'scripted/medium',
      tokens: { input: 2000, output: 100 },
    });
    // OpenCode's own prices: small 0.1/0.4, medium 1/4 USD per 1M tokens.
    expect(researcher.cost).toBeCloseTo(0.00018, 10);
    expect(scout.cost).toBeCloseTo(0.0024, 10);
    // The inline agent ran with its own prompt and model.
    const scoutReq = llm
      .promptRequests()
      .find((q) => q.allText.includes('RUN-TASK') && q.system.includes('SCOUT-SYSTEM'));
    expect(scoutReq?.model).toBe('medium');

    const cost = await call(base, 'GET', `/flows/${id}/cost`);
    expect(cost.body).toMatchObject({
      flowId: id,
      status: 'completed',
      byAgent: { researcher: researcher.cost, scout: scout.cost },
    });
    expect(cost.body.total).toBeCloseTo(researcher.cost + scout.cost, 12);
    expect(cost.body.byModel['scripted/small']).toBeCloseTo(researcher.cost, 12);
    expect(cost.body.byModel['scripted/medium']).toBeCloseTo(scout.cost, 12);

    const after = await call(base, 'GET', '/flows');
    const line = after.body.flows.find((f: { id: string }) => f.id === id);
    expect(line).toMatchObject({ status: 'completed', agents: ['researcher', 'scout'] });
    expect(line.cost).toBeCloseTo(cost.body.total, 12);
    expect(Date.parse(line.startedAt)).toBeLessThanOrEqual(Date.parse(line.finishedAt));
  });

  it('takes a JSON Schema for structured output: the report carries the checked answer; a bad schema is a 400', async () => {
    llm.script({
      match: { allText: 'SCHEMA-API', tool: 'StructuredOutput' },
      reply: structuredReply({ risk: 'high', files: ['src/api.ts'] }),
    });
    const schema = {
      type: 'object',
      properties: { risk: { enum: ['low', 'high'] }, files: { type: 'array', items: { type: 'string' } } },
      required: ['risk', 'files'],
      additionalProperties: false,
    };
    const r = await post({ task: 'SCHEMA-API: assess', agents: ['reviewer'], schema });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const rep = await report(r.body.id);
    expect(rep.status).toBe('completed');
    expect(rep.structured).toEqual({ risk: 'high', files: ['src/api.ts'] });
    expect(rep.results[0].structured).toEqual({ risk: 'high', files: ['src/api.ts'] });
    const bad = await post({ task: 'SCHEMA-API', agents: ['reviewer'], schema: { type: 'array' } });
    expect(bad.status).toBe(400);
    expect((bad.body as unknown as { error: { issues: unknown[] } }).error.issues).toEqual([
      { path: 'schema', message: 'expected a JSON Schema of type "object"' },
    ]);
    const nonsense = await post({
      task: 'SCHEMA-API',
      agents: ['reviewer'],
      schema: { type: 'object', properties: { risk: { type: 'nonsense' } } },
    });
    expect(nonsense.status).toBe(400);
    expect((nonsense.body as unknown as { error: { issues: unknown[] } }).error.issues).toEqual([
      {
        path: 'schema.properties.risk.type',
        message: expect.stringMatching(/^not a valid JSON Schema: must be one of "array", .*\(got "nonsense"\)$/),
      },
    ]);
  });

  it("runs a hierarchical flow: the planner's subtasks appear as agents as they run, inline agents by their given name", async () => {
    const plan = {
      subtasks: [
        { id: 's1', title: 'design', description: 'design it', agent: 'scout', dependsOn: [] },
        { id: 's2', title: 'review', description: 'review it', agent: 'reviewer', dependsOn: ['s1'] },
      ],
    };
    llm.script([
      // An inline agent runs under its own name, in its run only.
      {
        match: { allText: 'HIER-API', lastUser: '# Plan this task for the team' },
        reply: structuredReply(plan),
      },
      {
        match: { allText: 'HIER-API', lastUser: 'All subtasks of your plan have finished' },
        reply: { text: 'HIER-API combined' },
      },
      {
        match: { allText: 'HIER-API', lastUser: '# Your subtask (s1)' },
        reply: { text: 'design done', chunks: 4, chunkDelayMs: 150 },
      },
      { match: { allText: 'HIER-API', lastUser: '# Your subtask (s2)' }, reply: { text: 'review done' } },
    ]);
    const r = await post({
      task: 'HIER-API: plan a thing',
      agents: ['reviewer', { name: 'scout', systemPrompt: 'SCOUT' }],
      mode: 'hierarchical',
      maxConcurrent: 2,
      onAgentFailure: 'fail',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const rep = await report(r.body.id);
    expect(rep.status).toBe('completed');
    expect(rep.mode).toBe('hierarchical');
    expect(rep.output).toBe('HIER-API combined');
    // The planner answers twice: the plan, then the combined output.
    expect(rep.results.map((x: { agent: string }) => x.agent).sort()).toEqual([
      'planner',
      'planner',
      'reviewer:s2',
      'scout:s1',
    ]);
    const view = await call(base, 'GET', `/flows/${r.body.id}`);
    expect(view.body.results.find((x: { agent: string }) => x.agent === 'scout:s1').output).toBe('design done');
    const cost = await call(base, 'GET', `/flows/${r.body.id}/cost`);
    expect(Object.keys(cost.body.byAgent).sort()).toEqual(['planner', 'reviewer:s2', 'scout:s1']);
    const bad = await post({
      task: 'x',
      agents: ['reviewer'],
      mode: 'tree',
      maxConcurrent: 0,
      onAgentFailure: 'panic',
    });
    expect(bad.status).toBe(400);
    expect(
      (bad.body as unknown as { error: { issues: Array<{ path: string }> } }).error.issues.map((i) => i.path).sort(),
    ).toEqual(['maxConcurrent', 'mode', 'onAgentFailure']);
  });

  it('keeps inline agents of concurrent flows apart, even with the same name', async () => {
    llm.script({
      match: { allText: 'TWIN-TASK' },
      reply: (q) => ({
        text: q.system.includes('TWIN-PROMPT-A')
          ? 'from A'
          : q.system.includes('TWIN-PROMPT-B')
            ? 'from B'
            : 'from neither',
        chunkDelayMs: 100,
      }),
    });
    const [a, b] = await Promise.all([
      post({ task: 'TWIN-TASK one', agents: [{ name: 'twin', systemPrompt: 'TWIN-PROMPT-A' }] }),
      post({ task: 'TWIN-TASK two', agents: [{ name: 'twin', systemPrompt: 'TWIN-PROMPT-B' }] }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const [ra, rb] = await Promise.all([report(a.body.id), report(b.body.id)]);
    expect(ra.results[0]).toMatchObject({ agent: 'twin', output: 'from A' });
    expect(rb.results[0]).toMatchObject({ agent: 'twin', output: 'from B' });
    expect(Object.keys(ra.cost.byAgent)).toEqual(['twin']);
  });

  it('gives an inline agent named like a preset that preset, as the library does for spawned agents', async () => {
    llm.script({ match: { allText: 'INHERIT-TASK' }, reply: { text: 'inherited' } });
    const r = await post({
      task: 'INHERIT-TASK',
      agents: [
        { name: 'reviewer', model: 'scripted/medium' },
        { name: 'plain', model: 'scripted/small' },
      ],
    });
    expect(r.status).toBe(202);
    const rep = await report(r.body.id);
    expect(rep.results.map((x: { agent: string; model: string }) => [x.agent, x.model])).toEqual([
      ['reviewer', 'scripted/medium'],
      ['plain', 'scripted/small'],
    ]);
    const reqs = llm.promptRequests().filter((q) => q.allText.includes('INHERIT-TASK'));
    expect(reqs.find((q) => q.model === 'medium')?.system).toContain('You are the **reviewer**');
    expect(reqs.find((q) => q.model === 'small')?.system).not.toContain('You are the **reviewer**');
  });

  it('streams events over SSE: the backlog, live deltas and states, and ends after flow.done', async () => {
    llm.script({
      match: { allText: 'SSE-TASK' },
      reply: { text: 'streamed piece by piece', chunks: 8, chunkDelayMs: 120 },
    });
    const r = await post({ task: 'SSE-TASK', agents: ['researcher', 'reviewer'] });
    expect(r.status).toBe(202);
    const live = await readEvents(base, r.body.id);
    expect(live.contentType).toMatch(/^text\/event-stream/);
    expect(live.ended).toBe(true);
    const ev = live.events;
    expect(ev[0]!.event).toBe('flow.started');
    expect(ev[0]!.data).toMatchObject({ flowId: r.body.id, agents: ['researcher', 'reviewer'], mode: 'parallel' });
    expect(ev.at(-1)!.event).toBe('flow.done');
    expect(ev.at(-1)!.data).toMatchObject({ flowId: r.body.id, status: 'completed' });
    expect(ev.map((e) => e.id)).toEqual(ev.map((_, i) => i + 1));
    for (const agent of ['researcher', 'reviewer']) {
      const mine = ev.filter((e) => e.data.agent === agent);
      const deltas = mine.filter((e) => e.event === 'agent.delta');
      expect(deltas.length).toBeGreaterThan(1);
      expect(deltas.map((e) => e.data.text).join('')).toBe('streamed piece by piece');
      const states = mine.filter((e) => e.event === 'agent.state').map((e) => e.data.state);
      const order = ['spawning', 'ready', 'prompting', 'streaming', 'done'];
      expect(states.filter((s: string) => order.includes(s))).toEqual(order);
      const done = mine.find((e) => e.event === 'agent.done');
      expect(done?.data.result).toMatchObject({ agent, status: 'done', output: 'streamed piece by piece' });
      // Deltas come between streaming and done.
      const idx = (pred: (e: SseEvent) => boolean) => ev.indexOf(mine.find(pred)!);
      expect(idx((e) => e.event === 'agent.state' && e.data.state === 'streaming')).toBeLessThan(
        ev.indexOf(deltas[0]!),
      );
      expect(ev.indexOf(deltas.at(-1)!)).toBeLessThan(idx((e) => e.event === 'agent.done'));
    }
    // A late subscriber gets the same events replayed, and the stream ends.
    const replay = await readEvents(base, r.body.id);
    expect(replay.ended).toBe(true);
    expect(replay.events).toEqual(ev);
    // Last-Event-ID resumes after what the client saw.
    const resumed = await readEvents(base, r.body.id, { lastEventId: 5 });
    expect(resumed.events).toEqual(ev.slice(5));
  });

  it('DELETE cancels a running flow: its sessions are aborted, none stays busy', async () => {
    llm.script({ match: { allText: 'HANG-TASK' }, reply: { hang: true } });
    const r = await post({ task: 'HANG-TASK', agents: ['researcher', 'coder'] });
    expect(r.status).toBe(202);
    const sessions = await untilStreaming(r.body.id, ['researcher', 'coder']);
    // OpenCode marks a session busy a moment after accepting its prompt.
    await waitFor(
      async () => {
        const busy = Object.keys(await serve.flow.opencode.status());
        return Object.values(sessions).every((s) => busy.includes(s));
      },
      { what: 'both sessions busy in OpenCode' },
    );

    // While it hangs, the gauges show it.
    const m = parseMetrics((await call(base, 'GET', '/metrics')).text);
    expect(sample(m, 'opencode_flow_flows_running')).toBe(1);
    expect(sample(m, 'opencode_flow_agents', { state: 'streaming' })).toBe(2);

    const del = await call(base, 'DELETE', `/flows/${r.body.id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ flowId: r.body.id, status: 'cancelled' });
    const status = await serve.flow.opencode.status();
    expect(Object.keys(status).filter((s) => Object.values(sessions).includes(s))).toEqual([]);
    expect((await call(base, 'GET', `/flows/${r.body.id}`)).body.status).toBe('cancelled');

    const again = await call(base, 'DELETE', `/flows/${r.body.id}`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('flow_not_running');
  });

  it('answers 429 beyond the flow limit, and takes flows again once one ends', async () => {
    llm.script({ match: { allText: 'LIMIT-TASK' }, reply: { hang: true } });
    const first = await post({ task: 'LIMIT-TASK 1', agents: ['coder'] });
    const second = await post({ task: 'LIMIT-TASK 2', agents: ['coder'] });
    expect([first.status, second.status]).toEqual([202, 202]);
    const third = await post({ task: 'LIMIT-TASK 3', agents: ['coder'] });
    expect(third.status).toBe(429);
    expect((third.body as any).error.code).toBe('too_many_flows');
    expect((third.body as any).error.message).toContain('2');
    // Concurrent requests cannot overtake the limit either.
    const burst = await Promise.all([1, 2, 3].map((i) => post({ task: `LIMIT-TASK burst ${i}`, agents: ['coder'] })));
    expect(burst.map((b) => b.status)).toEqual([429, 429, 429]);
    expect((await call(base, 'DELETE', `/flows/${first.body.id}`)).status).toBe(200);
    const fourth = await post({ task: 'LIMIT-TASK 4', agents: ['coder'] });
    expect(fourth.status).toBe(202);
    for (const id of [second.body.id, fourth.body.id])
      expect((await call(base, 'DELETE', `/flows/${id}`)).status).toBe(200);
  });

  it('answers 404 for unknown flows and routes', async () => {
    for (const path of ['/flows/flow_nope', '/flows/flow_nope/cost', '/flows/flow_nope/events', '/flows/..%2Fx']) {
      const r = await call(base, 'GET', path);
      expect(r.status, path).toBe(404);
      expect(r.body.error.code).toBe('flow_not_found');
    }
    expect((await call(base, 'DELETE', '/flows/flow_nope')).status).toBe(404);
    const route = await call(base, 'GET', '/nowhere');
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe('not_found');
  });
});

describe('/metrics', () => {
  it('counts flows, prompts, fallbacks, tokens, cost and prompt latency', async () => {
    const before = parseMetrics((await call(base, 'GET', '/metrics')).text);
    llm.script([
      { match: { allText: 'METRICS-TASK', model: 'medium' }, reply: { status: 429 } },
      {
        match: { allText: 'METRICS-TASK', model: 'small' },
        reply: { text: 'counted', usage: { prompt_tokens: 1000, completion_tokens: 200 } },
      },
    ]);
    const r = await post({
      task: 'METRICS-TASK',
      agents: ['tester'],
      model: 'scripted/medium',
      fallback: ['scripted/small'],
    });
    expect(r.status).toBe(202);
    const rep = await report(r.body.id);
    expect(rep.status).toBe('completed');
    expect(rep.results[0].attempts.map((a: { model: string }) => a.model)).toEqual([
      'scripted/medium',
      'scripted/small',
    ]);
    const res = await call(base, 'GET', '/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseMetrics(res.text);
    const d = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels);

    expect(d('opencode_flow_flows_total', { status: 'completed' })).toBe(1);
    expect(d('opencode_flow_flows_total', { status: 'failed' })).toBe(0);
    expect(sample(after, 'opencode_flow_flows_running')).toBe(0);
    expect(d('opencode_flow_prompts_total', { agent: 'tester', model: 'scripted/medium' })).toBe(1);
    expect(d('opencode_flow_prompts_total', { agent: 'tester', model: 'scripted/small' })).toBe(1);
    expect(d('opencode_flow_fallbacks_total', { agent: 'tester', from: 'scripted/medium', to: 'scripted/small' })).toBe(
      1,
    );
    expect(d('opencode_flow_tokens_total', { model: 'scripted/small', agent: 'tester', direction: 'input' })).toBe(
      1000,
    );
    expect(d('opencode_flow_tokens_total', { model: 'scripted/small', agent: 'tester', direction: 'output' })).toBe(
      200,
    );
    expect(d('opencode_flow_cost_usd_total', { model: 'scripted/small', agent: 'tester' })).toBeCloseTo(
      rep.results[0].cost,
      12,
    );
    expect(d('opencode_flow_prompt_duration_seconds_count', { model: 'scripted/medium', outcome: 'fallback' })).toBe(1);
    expect(d('opencode_flow_prompt_duration_seconds_count', { model: 'scripted/small', outcome: 'done' })).toBe(1);
    expect(
      d('opencode_flow_prompt_duration_seconds_sum', { model: 'scripted/small', outcome: 'done' }),
    ).toBeGreaterThan(0);
    // Its own registry: default process metrics are there, nothing of prom-client's global one.
    expect(sample(after, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});

/**
 * A fetch that cuts the first event stream it carries after `cutAfter` messages, as a
 * dropped connection would; the headers of every request it sent are kept.
 */
function droppingFetch(cutAfter: number) {
  const sent: Headers[] = [];
  let cut = false;
  const f: typeof fetch = async (input, init) => {
    sent.push(new Headers(init?.headers));
    const res = await contractFetch(input, init);
    if (cut || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) return res;
    cut = true;
    const reader = res.body.getReader();
    let seen = 0;
    let buf = '';
    const decoder = new TextDecoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const { value, done } = await reader.read();
        if (done) return ctl.close();
        buf += decoder.decode(value, { stream: true });
        ctl.enqueue(value);
        seen = buf.split('\n\n').filter((b) => b.includes('data:')).length;
        if (seen >= cutAfter) {
          await reader.cancel();
          ctl.error(new TypeError('network connection lost'));
        }
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: f, sent };
}

/** Every event the client yields, checked against the document's FlowEventMessage. */
async function follow(client: FlowClient, id: string, opts: { lastEventId?: number } = {}) {
  const events: FlowStreamEvent[] = [];
  for await (const e of client.events(id, opts)) {
    assertEventConforms({ id: e.id, event: e.type, data: e.data });
    events.push(e);
  }
  return events;
}

describe('the typed client (opencode-flow/client)', () => {
  const client = () => new FlowClient({ baseUrl: base, token: TOKEN, fetch: contractFetch });

  it('runs a flow: create, follow its events through a dropped connection (resumed by Last-Event-ID), read it, list it, its cost', async () => {
    llm.script({
      match: { allText: 'CLIENT-TASK' },
      reply: { text: 'the client read this', chunks: 6, chunkDelayMs: 60 },
    });
    const dropping = droppingFetch(4);
    const c = new FlowClient({ baseUrl: base, token: TOKEN, fetch: dropping.fetch, reconnectDelayMs: 10 });
    const { id, status } = await c.createFlow({ task: 'CLIENT-TASK', agents: ['researcher'] });
    expect(status).toBe('running');
    const events = await follow(c, id);
    // Nothing lost, nothing twice, though the first connection broke off after 4 events.
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.length).toBeGreaterThan(4);
    const streams = dropping.sent.filter((h) => h.get('accept') === 'text/event-stream');
    expect(streams.length).toBe(2);
    // Resumed after the last event read before the drop (the 4th, or later ones of the same chunk).
    expect(Number(streams[1]!.get('last-event-id'))).toBeGreaterThanOrEqual(4);
    expect(events[0]!.type).toBe('flow.started');
    const done = events.at(-1)!;
    expect(done.type).toBe('flow.done');
    if (done.type !== 'flow.done') throw new Error('unreachable');
    expect(done.data.status).toBe('completed');
    const text = events.flatMap((e) => (e.type === 'agent.delta' ? [e.data.text] : [])).join('');
    expect(text).toBe('the client read this');

    const view = await client().getFlow(id);
    expect(isFinished(view)).toBe(true);
    if (!isFinished(view)) throw new Error('unreachable');
    expect(view.results[0]).toMatchObject({ agent: 'researcher', output: 'the client read this' });
    expect((await client().listFlows()).find((f) => f.id === id)).toMatchObject({ status: 'completed' });
    expect(await client().getCost(id)).toMatchObject({ flowId: id, status: 'completed' });
    // A finished flow's stream is replayed to its end; `wait` gives its report.
    expect((await client().wait(id)).flowId).toBe(id);
    expect(await follow(client(), id, { lastEventId: events.length - 1 })).toEqual([done]);
    expect(await client().health()).toMatchObject({ status: 'ok' });
    expect((await client().ready()).ready).toBe(true);
  });

  it('cancels a running flow', async () => {
    llm.script({ match: { allText: 'CLIENT-HANG' }, reply: { hang: true } });
    const c = client();
    const { id } = await c.createFlow({ task: 'CLIENT-HANG', agents: ['coder'] });
    for await (const e of c.events(id)) if (e.type === 'agent.state' && e.data.state === 'streaming') break;
    const cancelled = await c.cancel(id);
    expect(cancelled).toMatchObject({ flowId: id, status: 'cancelled' });
    const again = await c.cancel(id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(FlowError);
    expect(apiErrorCode(again)).toBe('flow_not_running');
    expect((again as FlowError).httpStatus).toBe(409);
  });

  it('throws FlowError with the library’s codes, the API’s code and field paths in details', async () => {
    const bad = await client()
      .createFlow({ task: 'x', agents: [{ name: 'a', model: 'no-slash' }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FlowError);
    expect((bad as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((bad as FlowError).details).toMatchObject({ code: 'invalid_body', status: 400 });
    expect(((bad as FlowError).details as { issues: Array<{ path: string }> }).issues[0]!.path).toBe('agents[0].model');

    const missing = await client()
      .getFlow('flow_nope')
      .catch((e: unknown) => e);
    expect((missing as FlowError).code).toBe(FlowErrorCode.FlowNotFound);
    await expect(follow(client(), 'flow_nope')).rejects.toMatchObject({ code: FlowErrorCode.FlowNotFound });

    const wrong = new FlowClient({ baseUrl: base, token: 'wrong-token-wrong-token', fetch: contractFetch });
    const denied = await wrong.listFlows().catch((e: unknown) => e);
    expect(denied).toMatchObject({ code: FlowErrorCode.InvalidConfig, httpStatus: 401 });
    expect(apiErrorCode(denied)).toBe('unauthorized');

    const away = new FlowClient({ baseUrl: 'http://127.0.0.1:9', token: TOKEN });
    await expect(away.listFlows()).rejects.toMatchObject({ code: FlowErrorCode.ServerUnavailable });
    expect(() => new FlowClient({ baseUrl: 'ftp://x' })).toThrow(FlowError);
  });
});
