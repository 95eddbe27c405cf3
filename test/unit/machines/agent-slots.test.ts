import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import {
  agentMachine,
  type AgentEvent,
  type AgentSpec,
  type AgentTask,
  type WatchInput,
} from '../../../machines/agent.js';
import { createAgentActors, type AgentRuntime } from '../../../src/agent/effects.js';
import { ConcurrencyLimiter } from '../../../src/router/limiter.js';

/**
 * The slot a prompt takes of the host's caps goes back however the prompt ends: the real
 * `preparePrompt` and `promptSlot` of the runtime over a real limiter (cap 1), the rest faked.
 * `reply` says what each prompt's watch reports, by model.
 */
function harness(reply: Record<string, 'ok' | 'error' | 'hang'>, limiter = new ConcurrencyLimiter({ p: 1 })) {
  let n = 0;
  const prompts: string[] = [];
  const rt: AgentRuntime = {
    client: {} as AgentRuntime['client'],
    hub: {} as AgentRuntime['hub'],
    acquireSlot: ({ model, signal }) => limiter.acquire(model, { signal }),
  };
  const real = createAgentActors(rt);
  const machine = agentMachine.provide({
    actors: {
      preparePrompt: real.preparePrompt,
      promptSlot: real.promptSlot,
      createSession: fromPromise(async () => ({ id: `ses_${++n}` })),
      sendPrompt: fromPromise<
        { sent: boolean } | void,
        { sessionID: string; spec: AgentSpec; task: AgentTask; model: string }
      >(async ({ input }) => void prompts.push(input.model)),
      watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack }) => {
        const t = setInterval(() => {
          const model = prompts.at(-1);
          const r = model ? reply[model] : undefined;
          if (!r || r === 'hang') return;
          clearInterval(t);
          sendBack({
            type: 'oc.outcome',
            outcome: {
              userMessageID: `msg_${prompts.length}`,
              output: 'ok',
              model: model!,
              sessionCost: 0,
              tokens: { input: 1, output: 1 },
              ...(r === 'error' ? { error: { name: 'APIError', message: 'boom', kind: 'server' as const } } : {}),
            },
          });
        }, 2);
        return () => clearInterval(t);
      }),
      abortSession: fromPromise(async () => ({ sessionCost: 0 })),
      cleanupSession: fromPromise(async () => {}),
    },
  });
  const start = (model: string, extra: { fallback?: string[]; promptTimeoutMs?: number } = {}) => {
    const actor = createActor(machine, {
      input: {
        spec: { name: `a${++n}`, model, ...(extra.fallback ? { fallback: extra.fallback } : {}) },
        task: { id: 't', text: 'x' },
        standalone: true,
        ...(extra.promptTimeoutMs ? { promptTimeoutMs: extra.promptTimeoutMs } : {}),
      },
    });
    actor.start();
    return actor;
  };
  return { limiter, start, prompts };
}

describe('agent machine: the prompt slot', () => {
  it('an answered prompt gives its slot back to the next one', async () => {
    const h = harness({ 'p/a': 'ok' });
    const [a, b] = [h.start('p/a'), h.start('p/a')];
    await waitFor(a, (s) => s.matches('done'));
    await waitFor(b, (s) => s.matches('done'));
    expect(h.limiter.running('p')).toBe(0);
  });

  it('a failed prompt gives it back before its fallback takes one again', async () => {
    const h = harness({ 'p/a': 'error', 'p/b': 'ok' });
    const a = h.start('p/a', { fallback: ['p/b'] });
    await waitFor(a, (s) => s.matches('done'));
    expect(h.prompts).toEqual(['p/a', 'p/b']);
    expect(h.limiter.running('p')).toBe(0);
  });

  it('a timed-out prompt gives it back', async () => {
    const h = harness({ 'p/a': 'hang' });
    const a = h.start('p/a', { promptTimeoutMs: 20 });
    await waitFor(a, (s) => s.matches('failed'));
    expect(h.limiter.running('p')).toBe(0);
  });

  it('STOP while on a prompt, or while queued, gives back the slot and leaves the queue', async () => {
    const h = harness({ 'p/a': 'hang' });
    const a = h.start('p/a');
    await waitFor(a, (s) => s.matches({ working: 'streaming' }));
    const b = h.start('p/a');
    await waitFor(b, (s) => s.matches({ working: 'preparing' }));
    expect(h.limiter.queued).toBe(1);
    b.send({ type: 'STOP' });
    await waitFor(b, (s) => s.status === 'done');
    expect(h.limiter.queued).toBe(0);
    a.send({ type: 'STOP' });
    await waitFor(a, (s) => s.status === 'done');
    expect(h.limiter.running('p')).toBe(0);
  });

  it('an agent stopped outright (its parent gone) gives it back too', async () => {
    const h = harness({ 'p/a': 'hang' });
    const a = h.start('p/a');
    await waitFor(a, (s) => s.matches({ working: 'streaming' }));
    const b = h.start('p/a');
    await waitFor(b, (s) => s.matches({ working: 'preparing' }));
    a.stop();
    await waitFor(b, (s) => s.matches({ working: 'streaming' }));
    expect(h.limiter.running('p')).toBe(1);
    b.stop();
    expect(h.limiter.running('p')).toBe(0);
    expect(h.limiter.queued).toBe(0);
  });
});
