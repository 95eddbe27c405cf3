import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * A flow embedded in an application that registered its own tracer provider: the run's spans
 * join the application's trace under its active span, and the requests to OpenCode about an
 * agent's session carry that agent's `traceparent` (seen by a loopback proxy in front of a
 * real `opencode serve`).
 */

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;
let proxy: Server;
let proxyUrl: string;
const seen: Array<{ method: string; url: string; traceparent?: string }> = [];

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'embedded answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-embed-trace-'));
  const target = new URL(oc.url);
  proxy = createServer((req, res) => {
    const tp = req.headers.traceparent;
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(typeof tp === 'string' ? { traceparent: tp } : {}) });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'host'),
      );
      fetch(new URL(req.url ?? '/', target), {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      }).then(
        async (r) => {
          const out: Record<string, string> = {};
          r.headers.forEach((v, k) => (out[k] = v));
          res.writeHead(r.status, out);
          try {
            if (r.body) for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
          } catch {
            // The event stream ends when OpenCode stops.
          }
          res.end();
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  proxy?.closeAllConnections();
  await new Promise<void>((ok) => (proxy ? proxy.close(() => ok()) : ok()));
  await oc?.stop();
  await llm?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('a flow inside an application with its own tracer', () => {
  it("joins the application's trace under its active span; OpenCode requests carry the agent's traceparent", async () => {
    llm.script([
      {
        match: { allText: 'EMBED-TRACE', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo EMBED', description: 'marker' } }] },
      },
      { match: { allText: 'EMBED-TRACE', hasToolResult: true }, reply: { text: 'done' } },
    ]);
    const flow = new OpencodeFlow({
      serverUrl: proxyUrl,
      model: 'scripted/small',
      memory: false,
      persist: false,
      flowsDir: join(dir, 'flows'),
    });
    try {
      await flow.start();
      const app = provider.getTracer('the-app');
      const report = await app.startActiveSpan('handle request', async (span) => {
        try {
          return await flow.execute({ task: 'EMBED-TRACE', agents: ['coder', 'tester'], mode: 'sequential' });
        } finally {
          span.end();
        }
      });
      expect(report.status).toBe('completed');
    } finally {
      await flow.shutdown();
    }
    const spans = exporter.getFinishedSpans();
    const names = spans.map((s) => s.name).join(', ');
    const appSpan = spans.find((s) => s.name === 'handle request')!;
    const wf = spans.find((s) => s.name === 'invoke_workflow sequential')!;
    expect(wf, names).toBeDefined();
    expect(wf.spanContext().traceId).toBe(appSpan.spanContext().traceId);
    expect(parentOf(wf)).toBe(appSpan.spanContext().spanId);
    const agents = spans.filter((s) => s.name.startsWith('invoke_agent '));
    expect(agents.map((a) => a.name).sort(), names).toEqual(['invoke_agent coder', 'invoke_agent tester']);
    for (const a of agents) expect(parentOf(a)).toBe(wf.spanContext().spanId);
    const tools = spans.filter((s) => s.name === 'execute_tool bash');
    expect(tools.map(parentOf).sort()).toEqual(agents.map((a) => a.spanContext().spanId).sort());
    // The prompt of each agent went to OpenCode with the traceparent of its agent's span.
    for (const a of agents) {
      const sid = a.attributes['gen_ai.conversation.id'] as string;
      const prompts = seen.filter((q) => q.method === 'POST' && q.url.includes(`/session/${sid}/prompt`));
      expect(prompts.length, JSON.stringify(seen.slice(0, 30))).toBeGreaterThan(0);
      for (const p of prompts) expect(p.traceparent).toBe(`00-${a.spanContext().traceId}-${a.spanContext().spanId}-01`);
    }
  });

  it('a budget stop: an event on the run, error.type on the run and on the refused agent', async () => {
    exporter.reset();
    const flow = new OpencodeFlow({
      serverUrl: proxyUrl,
      model: 'scripted/large',
      memory: false,
      persist: false,
      flowsDir: join(dir, 'flows'),
    });
    try {
      await flow.start();
      const report = await flow.execute({ task: 'EMBED-BUDGET '.repeat(50), agents: ['coder'], maxCost: 1e-9 });
      expect(report.status).toBe('budget_exceeded');
    } finally {
      await flow.shutdown();
    }
    const spans = exporter.getFinishedSpans();
    const wf = spans.find((s) => s.name === 'invoke_workflow parallel')!;
    expect(wf.attributes['error.type']).toBe('budget_exceeded');
    expect(wf.attributes['opencode_flow.max_cost.usd']).toBe(1e-9);
    expect(wf.events.map((e) => e.name)).toContain('opencode_flow.budget_exceeded');
    const coder = spans.find((s) => s.name === 'invoke_agent coder')!;
    expect(coder.attributes['error.type']).toBe('budget');
    expect(parentOf(coder)).toBe(wf.spanContext().spanId);
  });

  it('a permission request and its answer are events of the agent; tool content only with the switch, secrets masked', async () => {
    exporter.reset();
    llm.script([
      {
        match: { allText: 'EMBED-ASK', hasToolResult: false },
        reply: {
          toolCalls: [
            {
              name: 'bash',
              arguments: { command: 'echo EMBED-ASK-RAN https://u:hunter2@example.test', description: 'marker' },
            },
          ],
        },
      },
      { match: { allText: 'EMBED-ASK', hasToolResult: true }, reply: { text: 'asked and ran' } },
    ]);
    const flow = new OpencodeFlow({
      serverUrl: proxyUrl,
      model: 'scripted/small',
      memory: false,
      persist: false,
      flowsDir: join(dir, 'flows'),
    });
    flow.on('agent.input_required', (e) => flow.reply(e.request.id, 'once'));
    process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = 'true';
    try {
      await flow.start();
      await flow.spawn({
        name: 'runner',
        agent: 'build',
        permissions: { bash: 'ask' },
        inputPolicy: { onPermission: 'ask' },
      });
      const report = await flow.execute({ task: 'EMBED-ASK', agents: ['runner'] });
      expect(report.results[0]!.output).toContain('asked and ran');
    } finally {
      delete process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
      await flow.shutdown();
    }
    const spans = exporter.getFinishedSpans();
    const runner = spans.find((s) => s.name === 'invoke_agent runner')!;
    const names = runner.events.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['opencode_flow.input_required', 'opencode_flow.input_answered']));
    expect(runner.events.find((e) => e.name === 'opencode_flow.input_required')?.attributes).toMatchObject({
      'opencode_flow.input.kind': 'permission',
      'opencode_flow.permission': 'bash',
    });
    expect(runner.events.find((e) => e.name === 'opencode_flow.input_answered')?.attributes).toMatchObject({
      'opencode_flow.input.by': 'user',
      'opencode_flow.input.reply': 'once',
    });
    const bash = spans.find((s) => s.name === 'execute_tool bash')!;
    const args = String(bash.attributes['gen_ai.tool.call.arguments']);
    expect(args).toContain('EMBED-ASK-RAN');
    expect(args).not.toContain('hunter2');
    expect(String(bash.attributes['gen_ai.tool.call.result'])).toContain('EMBED-ASK-RAN');
  });
});
