import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { FlowClient } from '../../src/client/index.js';
import { contractFetch } from './contract.js';
import { call, tempMemory, TOKEN, waitFor } from './helpers.js';

/** Human in the loop over HTTP: list what agents wait on, answer it, the flow goes on. */
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  llm = await startScriptedLLM();
  llm.script([
    {
      match: { allText: 'SERVE-ASK', hasToolResult: false },
      reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo SERVE-ASK-RAN', description: 'marker' } }] },
    },
    {
      match: { allText: 'SERVE-ASK', hasToolResult: true },
      reply: (req) => ({ text: `tool said: ${req.toolResults.at(-1)?.content ?? ''}` }),
    },
  ]);
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  memory = await tempMemory('requests');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: { model: 'scripted/small', memory: memory.uri },
    // What `opencode-flow serve --on-permission ask` sets.
    inputPolicy: { onPermission: 'ask' },
  });
});

afterAll(async () => {
  await serve?.close();
  await oc?.stop();
  await llm?.close();
  await memory?.cleanup();
});

describe('GET/POST /flows/:id/requests', () => {
  it('lists a pending permission request and answers it; the tool runs', async () => {
    const created = await call<{ id: string }>(serve.url, 'POST', '/flows', {
      body: { task: 'SERVE-ASK', agents: [{ name: 'runner', agent: 'build', permissions: { bash: 'ask' } }] },
    });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const pending = await waitFor(
      async () => {
        const r = await call<{
          requests: Array<{
            agent: string;
            request: { id: string; kind: string; permission: string; patterns: string[] };
          }>;
        }>(serve.url, 'GET', `/flows/${id}/requests`);
        return r.body.requests.length ? r.body.requests : undefined;
      },
      { what: 'a pending request', timeoutMs: 60_000 },
    );
    expect(pending[0]).toMatchObject({
      request: { kind: 'permission', permission: 'bash', patterns: ['echo SERVE-ASK-RAN'] },
    });
    const rid = pending[0]!.request.id;
    expect(
      (await call(serve.url, 'POST', `/flows/${id}/requests/${rid}`, { body: { answer: 'sometimes' } })).status,
    ).toBe(400);
    expect((await call(serve.url, 'POST', `/flows/${id}/requests/per_nope`, { body: { answer: 'once' } })).status).toBe(
      404,
    );
    expect((await call(serve.url, 'GET', `/flows/${id}/requests`, { token: 'wrong-token-wrong-token' })).status).toBe(
      401,
    );
    const answered = await call(serve.url, 'POST', `/flows/${id}/requests/${rid}`, { body: { answer: 'once' } });
    expect(answered.status).toBe(200);
    const report = await waitFor(
      async () => {
        const r = await call<{ status: string; results?: Array<{ output: string; inputs?: Array<{ by: string }> }> }>(
          serve.url,
          'GET',
          `/flows/${id}`,
        );
        return r.body.status !== 'running' ? r.body : undefined;
      },
      { what: 'the flow to finish', timeoutMs: 60_000 },
    );
    expect(report.status).toBe('completed');
    expect(report.results![0]!.output).toContain('SERVE-ASK-RAN');
    expect(report.results![0]!.inputs![0]!.by).toBe('user');
  });

  it('the typed client answers a permission request as it follows the flow, and gets the report', async () => {
    const client = new FlowClient({ baseUrl: serve.url, token: TOKEN, fetch: contractFetch });
    const { id } = await client.createFlow({
      task: 'SERVE-ASK',
      agents: [{ name: 'runner', agent: 'build', permissions: { bash: 'ask' } }],
    });
    const asked: string[] = [];
    for await (const e of client.events(id)) {
      if (e.type !== 'agent.input_required') continue;
      const pending = await client.requests(id);
      expect(pending.map((p) => p.request.id)).toContain(e.data.request.id);
      asked.push(e.data.request.kind);
      const accepted = await client.reply(id, e.data.request.id, 'once');
      expect(accepted).toMatchObject({ flowId: id, requestId: e.data.request.id, answer: 'once', agent: 'runner' });
    }
    expect(asked).toEqual(['permission']);
    const report = await client.wait(id);
    expect(report.status).toBe('completed');
    expect(report.results[0]!.output).toContain('SERVE-ASK-RAN');
  });
});
