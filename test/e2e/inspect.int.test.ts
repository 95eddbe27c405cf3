import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/** A live flow in the Stately inspector: a WebSocket receiver sees every actor of a real flow. */
let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'inspected answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-inspect-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Stately inspector', () => {
  it('streams actor, event and snapshot messages for the supervisor, every agent and memory', async () => {
    const flow = new OpencodeFlow({
      serverUrl: oc.url,
      model: 'scripted/small',
      inspect: true,
      memory: `file:${join(dir, 'memory.json')}`,
      flowsDir: join(dir, 'flows'),
      id: 'flow_inspected',
    });
    try {
      await flow.start();
      expect(flow.inspectorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const received: StatelyInspectionEvent[] = [];
      const receiver = createWebSocketReceiver({ server: flow.inspectorWsUrl! });
      receiver.subscribe((e) => received.push(e));
      await new Promise((r) => setTimeout(r, 500)); // let the receiver connect
      await flow.memory.set('note', 'hello');
      const report = await flow.execute({ task: 'inspect me', agents: ['researcher', 'reviewer'] });
      expect(report.status).toBe('completed');
      await new Promise((r) => setTimeout(r, 500));
      const actors = received.filter(
        (e): e is Extract<StatelyInspectionEvent, { type: '@xstate.actor' }> => e.type === '@xstate.actor',
      );
      const names = actors.map((a) => a.name);
      expect(names).toEqual(expect.arrayContaining(['flow_inspected', 'agent:researcher', 'agent:reviewer', 'memory']));
      const types = new Set(received.map((e) => e.type));
      expect(types).toEqual(new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
      // Agents' reports to the supervisor are visible as events.
      const events = received
        .filter((e) => e.type === '@xstate.event')
        .map((e) => (e as { event: { type: string } }).event.type);
      expect(events).toEqual(expect.arrayContaining(['agent.state', 'agent.done', 'memory.set']));
      // Snapshots show agents reaching done.
      const agentIds = new Set(actors.filter((a) => a.name.startsWith('agent:')).map((a) => a.sessionId));
      const agentValues = received
        .filter((e) => e.type === '@xstate.snapshot' && agentIds.has(e.sessionId))
        .map((e) => JSON.stringify((e as { snapshot: { value?: unknown } }).snapshot.value));
      expect(agentValues).toContain('"done"');
    } finally {
      await flow.shutdown();
    }
  });
});
