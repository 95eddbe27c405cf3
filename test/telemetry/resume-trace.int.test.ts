import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import type { StoredFlow } from '../../src/store/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A run continued from its store (`resume`, and a `serve` replica taking over a dead replica's
 * flow, which resumes the same way) is a new trace that links to the trace of the run it
 * continues: the stored meta carries the first run's `traceparent`, and the second run's
 * `invoke_workflow` span has a link to that span.
 */

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;
beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-resume-trace-'));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  context.disable();
  await oc?.stop();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a continued run in the trace', () => {
  it("links its invoke_workflow span to the stored run's, and stores the traceparent a next run links to", async () => {
    const task = 'RESUME-TRACE';
    llm.script([
      { match: { allText: task, system: 'You are the **researcher**' }, reply: { text: 'research result' } },
      { match: { allText: task, system: 'You are the **coder**' }, reply: { text: 'code result', delayMs: 1500 } },
    ]);
    const flowId = 'flow_resume_trace';
    const flowsDir = join(dir, 'flows');
    const first = new OpencodeFlow({ serverUrl: oc.url, memory: false, flowsDir });
    const coderAsked = () =>
      llm.promptRequests().filter((r) => r.allText.includes(task) && r.system.includes('You are the **coder**')).length;
    let stored: StoredFlow | undefined;
    try {
      const running = first.execute({
        task,
        agents: ['researcher', 'coder'],
        mode: 'sequential',
        model: 'scripted/small',
        flowId,
      });
      running.catch(() => {});
      await expect.poll(coderAsked, { timeout: 60_000 }).toBe(1);
      await first.detach(flowId);
      stored = await first.store.load(flowId);
    } finally {
      await first.shutdown();
    }
    const firstRun = exporter.getFinishedSpans().find((s) => s.name === 'invoke_workflow sequential');
    expect(firstRun?.attributes['opencode_flow.status']).toBe('detached');
    const firstContext = firstRun!.spanContext();
    expect(stored?.meta.traceparent).toBe(`00-${firstContext.traceId}-${firstContext.spanId}-01`);

    exporter.reset();
    const second = new OpencodeFlow({ serverUrl: oc.url, memory: false, flowsDir });
    try {
      const report = await second.resume(flowId);
      expect(report.status).toBe('completed');
      const spans = exporter.getFinishedSpans();
      const run = spans.find((s) => s.name === 'invoke_workflow sequential');
      expect(run).toBeDefined();
      // A trace of its own (no span was active), linked to the first run's span.
      expect(run!.spanContext().traceId).not.toBe(firstContext.traceId);
      expect(
        run!.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes?.['opencode_flow.link']]),
      ).toEqual([[firstContext.traceId, firstContext.spanId, 'continues']]);
      // Only the coder worked again, under the second run.
      const agents = spans.filter((s) => s.name.startsWith('invoke_agent '));
      expect(agents.map((s) => s.name)).toEqual(['invoke_agent coder']);
      expect(agents[0]!.parentSpanContext?.spanId).toBe(run!.spanContext().spanId);
      // The stored run now names the second run: a third one would link to it.
      const again = await second.store.load(flowId);
      const c = run!.spanContext();
      expect(again?.meta.traceparent).toBe(`00-${c.traceId}-${c.spanId}-01`);
    } finally {
      await second.shutdown();
    }
  });
});
