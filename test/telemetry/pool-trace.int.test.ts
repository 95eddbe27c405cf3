import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Pool failover in the trace: two real OpenCode servers; the server an agent works on is killed
 * while it waits on the model. Its first span ends with `error.type` `session_lost` on the dead
 * server; the task's second span shows the live server.
 */

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let llm: ScriptedLLM;
let a: TestOpencode;
let b: TestOpencode;
beforeAll(async () => {
  llm = await startScriptedLLM();
  [a, b] = await Promise.all([
    startTestOpencode({ baseURL: llm.baseURL }),
    startTestOpencode({ baseURL: llm.baseURL }),
  ]);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  context.disable();
  await Promise.all([a?.stop(), b?.stop()]);
  await llm?.close();
});
const env = useFlowHosts({ server: () => ({ url: `${a.url},${b.url}`, llm }) });

describe('a pool failover in the trace', () => {
  it("the lost agent's first span ends session_lost on the dead server, its second shows the live one", async () => {
    llm.script({ match: { allText: 'POOL-TRACE' }, reply: { text: 'POOL-TRACE-DONE', delayMs: 2500 } });
    const flow = env.host({ persist: false });
    const streaming = new Set<string>();
    let killed = false;
    flow.on('agent.state', (e) => {
      if (e.state === 'streaming') streaming.add(e.agent);
      if (streaming.size === 2 && !killed) {
        killed = true;
        process.kill(a.server.pid!, 'SIGKILL');
      }
    });
    try {
      const report = await flow.execute({
        task: 'POOL-TRACE',
        agents: ['w1', 'w2'].map((name) => ({ name, systemPrompt: `You are ${name}.` })),
        retries: 0,
      });
      expect(killed).toBe(true);
      expect(report.status).toBe('completed');
    } finally {
      await flow.shutdown();
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.name.startsWith('invoke_agent '));
    const port = (url: string) => Number(new URL(url).port);
    // One agent per server (spread by load); the one on the killed server has two spans.
    const lost = spans.filter((s) => s.attributes['error.type'] === 'session_lost');
    expect(lost, spans.map((s) => `${s.name} ${JSON.stringify(s.attributes)}`).join('\n')).toHaveLength(1);
    expect(lost[0]!.attributes['server.port']).toBe(port(a.url));
    expect(lost[0]!.events.map((e) => e.name)).toContain('opencode_flow.session_lost');
    const again = spans.filter((s) => s.name === lost[0]!.name && s !== lost[0]);
    expect(again).toHaveLength(1);
    expect(again[0]!.attributes['server.port']).toBe(port(b.url));
    expect(again[0]!.attributes['gen_ai.conversation.id']).not.toBe(lost[0]!.attributes['gen_ai.conversation.id']);
    expect(again[0]!.attributes['opencode_flow.status']).toBe('done');
  });
});
