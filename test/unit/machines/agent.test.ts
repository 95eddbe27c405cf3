import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, toPromise, waitFor } from 'xstate';
import { agentMachine, type AgentEvent, type AgentSpec, type AgentTask, type AgentNotification, type AgentOutcome, type WatchInput } from '../../../machines/agent.js';

/**
 * The agent machine driven by fake actors: every transition, no OpenCode involved.
 * `script` decides what the fake watch actor reports for each attempt (by model).
 */
type Report =
  | { kind: 'ok'; output?: string; cost?: number }
  | { kind: 'error'; errorKind: 'rate_limit' | 'server' | 'aborted' | 'other'; message?: string }
  | { kind: 'retry'; attempts: number }
  | { kind: 'hang' };

function harness(script: Record<string, Report>, opts: { createFails?: boolean } = {}) {
  const calls = { created: 0, prompts: [] as string[], aborts: 0, cleanups: [] as Array<{ sessionID?: string; keep: boolean; busy: boolean }> };
  let sessionCost = 0;
  let seq = 0;
  const machine = agentMachine.provide({
    actors: {
      createSession: fromPromise(async () => {
        calls.created++;
        if (opts.createFails) throw new Error('server said no');
        return { id: 'ses_1' };
      }),
      sendPrompt: fromPromise<{ model?: string } | void, { sessionID: string; spec: AgentSpec; task: AgentTask; model: string }>(async ({ input }) => {
        calls.prompts.push(input.model);
      }),
      watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack }) => {
        // Decide once the prompt went out (the watch starts before it, as in the runtime).
        const t = setTimeout(() => {
          const model = calls.prompts[calls.prompts.length - 1] ?? '';
          const r = script[model] ?? { kind: 'ok' };
          const outcome = (extra: Partial<AgentOutcome>): AgentOutcome => ({
            userMessageID: `msg_${++seq}`,
            output: '',
            model,
            sessionCost,
            tokens: { input: 10, output: 5 },
            ...extra,
          });
          if (r.kind === 'ok') {
            sendBack({ type: 'oc.delta', text: 'he' });
            sendBack({ type: 'oc.delta', text: 'llo' });
            sessionCost += r.cost ?? 0.01;
            sendBack({ type: 'oc.outcome', outcome: outcome({ output: r.output ?? 'hello', sessionCost }) });
          } else if (r.kind === 'error') {
            sendBack({ type: 'oc.outcome', outcome: outcome({ error: { name: 'APIError', message: r.message ?? r.errorKind, kind: r.errorKind } }) });
          } else if (r.kind === 'retry') {
            for (let i = 1; i <= r.attempts; i++) sendBack({ type: 'oc.retry', attempt: i, message: 'Rate limited', kind: 'rate_limit' });
          }
        }, 5);
        return () => clearTimeout(t);
      }),
      abortSession: fromPromise<{ sessionCost: number; lastUserMessageID?: string }, { sessionID: string }>(async () => {
        calls.aborts++;
        return { sessionCost, lastUserMessageID: `msg_${seq}` };
      }),
      cleanupSession: fromPromise(async ({ input }: { input: { sessionID?: string; keep: boolean; busy: boolean } }) => {
        calls.cleanups.push(input);
      }),
    },
  });
  return { machine, calls };
}

function run(machine: ReturnType<typeof harness>['machine'], input: Parameters<typeof createActor<typeof agentMachine>>[1] extends infer O ? (O extends { input?: infer I } ? I : never) : never) {
  const actor = createActor(machine, { input });
  const emitted: AgentNotification[] = [];
  actor.on('*', (e) => emitted.push(e as AgentNotification));
  actor.start();
  return { actor, emitted };
}

const task = { id: 't1', text: 'do it' };

describe('agent machine', () => {
  it('spawning → ready → prompting → streaming → done, emitting deltas and the result', async () => {
    const { machine, calls } = harness({});
    const { actor, emitted } = run(machine, { spec: { name: 'coder', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches('done'));
    const states = emitted.filter((e) => e.type === 'agent.state').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['spawning', 'ready', 'prompting', 'streaming', 'done']);
    expect(emitted.filter((e) => e.type === 'agent.delta').map((e) => (e as { text: string }).text).join('')).toBe('hello');
    const done = emitted.find((e) => e.type === 'agent.done') as Extract<AgentNotification, { type: 'agent.done' }>;
    expect(done.result).toMatchObject({ agent: 'coder', status: 'done', output: 'hello', model: 'p/a', sessionID: 'ses_1', cost: 0.01, attempts: [{ model: 'p/a' }] });
    expect(calls.prompts).toEqual(['p/a']);
  });

  it('waits in ready without a task and takes a PROMPT', async () => {
    const { machine } = harness({});
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' } });
    await waitFor(actor, (s) => s.matches('ready'));
    actor.send({ type: 'PROMPT', task });
    await waitFor(actor, (s) => s.matches('done'));
    // A second task in the same session: cost is per task, not cumulative.
    actor.send({ type: 'PROMPT', task: { id: 't2', text: 'again' } });
    await waitFor(actor, (s) => s.matches('done') && s.context.results.length === 2);
    expect(actor.getSnapshot().context.results.map((r) => [r.taskId, r.cost])).toEqual([
      ['t1', 0.01],
      ['t2', 0.01],
    ]);
  });

  it('falls back to the next model on a provider error, recording attempts', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'error', errorKind: 'rate_limit', message: 'Rate limit' } });
    const { actor, emitted } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task });
    await waitFor(actor, (s) => s.matches('done'));
    const r = actor.getSnapshot().context.results[0]!;
    expect(r.model).toBe('p/b');
    expect(r.attempts).toEqual([{ model: 'p/a', error: 'Rate limit', errorKind: 'rate_limit' }, { model: 'p/b' }]);
    expect(calls.prompts).toEqual(['p/a', 'p/b']);
    expect(calls.aborts).toBe(1);
    expect(emitted.some((e) => e.type === 'agent.fallback' && e.from === 'p/a' && e.to === 'p/b')).toBe(true);
  });

  it('falls back when OpenCode keeps retrying beyond the policy', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'retry', attempts: 3 } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task, maxProviderRetries: 2 });
    await waitFor(actor, (s) => s.matches('done'));
    expect(calls.prompts).toEqual(['p/a', 'p/b']);
    expect(actor.getSnapshot().context.results[0]!.attempts[0]!.errorKind).toBe('rate_limit');
  });

  it('fails when the chain is exhausted', async () => {
    const { machine } = harness({ 'p/a': { kind: 'error', errorKind: 'server' }, 'p/b': { kind: 'error', errorKind: 'server' } });
    const { actor, emitted } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task });
    await waitFor(actor, (s) => s.matches('failed'));
    const failed = emitted.find((e) => e.type === 'agent.failed') as Extract<AgentNotification, { type: 'agent.failed' }>;
    expect(failed.result.status).toBe('failed');
    expect(failed.result.attempts.map((a) => a.model)).toEqual(['p/a', 'p/b']);
  });

  it('times out a prompt that never answers and moves on to the fallback', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'hang' } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task, promptTimeoutMs: 50 });
    await waitFor(actor, (s) => s.matches('done'));
    const r = actor.getSnapshot().context.results[0]!;
    expect(r.attempts[0]).toMatchObject({ model: 'p/a', errorKind: 'timeout' });
    expect(calls.aborts).toBe(1);
  });

  it('fails on timeout with no fallback', async () => {
    const { machine } = harness({ 'p/a': { kind: 'hang' } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task, promptTimeoutMs: 30 });
    await waitFor(actor, (s) => s.matches('failed'));
    expect(actor.getSnapshot().context.results[0]!.error).toMatch(/no answer within 30 ms/);
  });

  it('does not fall back when the session was aborted by someone', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'error', errorKind: 'aborted' } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task });
    await waitFor(actor, (s) => s.matches('failed'));
    expect(calls.prompts).toEqual(['p/a']);
  });

  it('STOP while streaming goes through cleanup to stopped, deleting the session', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'hang' } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches({ working: 'streaming' }));
    actor.send({ type: 'STOP' });
    const out = await toPromise(actor);
    expect(actor.getSnapshot().status).toBe('done');
    expect(out.sessionID).toBe('ses_1');
    expect(calls.cleanups).toEqual([{ sessionID: 'ses_1', keep: false, busy: true }]);
  });

  it('keeps the session on cleanup when asked', async () => {
    const { machine, calls } = harness({});
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task, keepSessions: true });
    await waitFor(actor, (s) => s.matches('done'));
    actor.send({ type: 'STOP' });
    await toPromise(actor);
    expect(calls.cleanups).toEqual([{ sessionID: 'ses_1', keep: true, busy: false }]);
  });

  it('fails when the session cannot be created', async () => {
    const { machine } = harness({}, { createFails: true });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches('failed'));
    expect(actor.getSnapshot().context.results[0]!.error).toMatch(/could not create session: server said no/);
  });

  it('has a persistable snapshot that restores to the same state', async () => {
    const { machine } = harness({});
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches('done'));
    const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
    const restored = createActor(machine, { snapshot: persisted, input: { spec: { name: 'a' } } });
    restored.start();
    expect(restored.getSnapshot().value).toBe('done');
    expect(restored.getSnapshot().context.results[0]!.output).toBe('hello');
  });
});

describe('agent machine: early PROMPT', () => {
  it('keeps a PROMPT sent while spawning and runs it once the session exists', async () => {
    const { machine, calls } = harness({});
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' } });
    expect(actor.getSnapshot().value).toBe('spawning');
    actor.send({ type: 'PROMPT', task: { id: 'early', text: 'sent early' } });
    await waitFor(actor, (s) => s.matches('done'));
    expect(calls.prompts).toEqual(['p/a']);
    expect(actor.getSnapshot().context.results[0]!.taskId).toBe('early');
  });
});
