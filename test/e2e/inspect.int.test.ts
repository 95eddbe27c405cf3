import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { useFlowHosts } from '../helpers/host.js';

/** A live flow in the Stately inspector: a WebSocket receiver sees every actor of a real flow. */
const env = useFlowHosts({ llm: { fallback: { text: 'inspected answer' } } });

describe('Stately inspector', () => {
  it('streams actor, event and snapshot messages for the supervisor, every agent and memory', async () => {
    const flow = env.host((dir) => ({
      inspect: true,
      memory: `file:${join(dir, 'memory.json')}`,
      id: 'flow_inspected',
    }));
    try {
      await flow.start();
      expect(flow.inspectorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const received: StatelyInspectionEvent[] = [];
      const receiver = createWebSocketReceiver({ server: flow.inspectorWsUrl! });
      receiver.subscribe((e) => received.push(e));
      await flow.memory.set('note', 'hello');
      // The receiver is connected once the memory actor's event reaches it.
      const eventTypes = () =>
        received.filter((e) => e.type === '@xstate.event').map((e) => (e as { event: { type: string } }).event.type);
      await vi.waitFor(() => expect(eventTypes()).toContain('memory.set'), { timeout: 30_000, interval: 20 });
      const report = await flow.execute({ task: 'inspect me', agents: ['researcher', 'reviewer'] });
      expect(report.status).toBe('completed');
      // Wait for the last agent's final snapshot, not for a fixed while.
      const snapshotsOf = (name: string) => {
        const ids = new Set(
          received
            .filter((e) => e.type === '@xstate.actor' && (e as { name?: string }).name === name)
            .map((e) => e.sessionId),
        );
        return received
          .filter((e) => e.type === '@xstate.snapshot' && ids.has(e.sessionId))
          .map((e) => JSON.stringify((e as { snapshot: { value?: unknown } }).snapshot.value));
      };
      await vi.waitFor(
        () => {
          expect(snapshotsOf('agent:researcher')).toContain('"done"');
          expect(snapshotsOf('agent:reviewer')).toContain('"done"');
          expect(eventTypes()).toContain('agent.done');
        },
        { timeout: 30_000, interval: 20 },
      );
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
