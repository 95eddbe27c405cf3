import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, toPromise, waitFor } from 'xstate';
import {
  agentMachine,
  type AgentEvent,
  type AgentSnapshot,
  type AgentSpec,
  type AgentTask,
  type AgentNotification,
  type AgentOutcome,
  type WatchInput,
} from '../../../machines/agent.js';
import type { InputRequest } from '../../../machines/input-policy.js';
import type { MessageWithParts } from '../../../src/opencode/client.js';
import { readPrompt } from '../../../src/agent/effects.js';

/**
 * The agent machine driven by fake actors: every transition, no OpenCode involved.
 * `script` decides what the fake watch actor reports for each attempt (by model).
 */
type Report =
  | { kind: 'ok'; output?: string; cost?: number }
  | { kind: 'error'; errorKind: 'rate_limit' | 'server' | 'aborted' | 'other'; message?: string }
  | { kind: 'retry'; attempts: number }
  | { kind: 'input'; request: InputRequest }
  | { kind: 'interrupted'; reason: 'unanswered' | 'aborted'; userMessageID?: string; times?: number }
  | { kind: 'hang' };

/**
 * `restored` is what the watch reports while this harness has sent no prompt, as the
 * runtime's watch does for a prompt an earlier run sent (a restored agent); default: that
 * prompt's answer ('ok').
 */
function harness(
  script: Record<string, Report>,
  opts: { createFails?: boolean; restored?: Report; promptDelayMs?: number } = {},
) {
  const calls = {
    created: 0,
    prompts: [] as string[],
    aborts: 0,
    watches: [] as WatchInput[],
    cleanups: [] as Array<{ sessionID?: string; keep: boolean; busy: boolean }>,
  };
  let sessionCost = 0;
  let seq = 0;
  const machine = agentMachine.provide({
    actors: {
      createSession: fromPromise(async () => {
        calls.created++;
        if (opts.createFails) throw new Error('server said no');
        return { id: `ses_${calls.created}` };
      }),
      sendPrompt: fromPromise<
        { sent: boolean } | void,
        { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
      >(async ({ input }) => {
        if (opts.promptDelayMs) await new Promise((r) => setTimeout(r, opts.promptDelayMs));
        calls.prompts.push(input.model);
      }),
      watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack, input }) => {
        calls.watches.push(input);
        // Decide once the prompt went out (the watch starts before it, as in the runtime).
        const t = setTimeout(() => {
          const model = calls.prompts[calls.prompts.length - 1] ?? '';
          const r = (calls.prompts.length === 0 ? opts.restored : script[model]) ?? { kind: 'ok' };
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
            sendBack({
              type: 'oc.outcome',
              outcome: outcome({ error: { name: 'APIError', message: r.message ?? r.errorKind, kind: r.errorKind } }),
            });
          } else if (r.kind === 'retry') {
            for (let i = 1; i <= r.attempts; i++)
              sendBack({ type: 'oc.retry', attempt: i, message: 'Rate limited', kind: 'rate_limit' });
          } else if (r.kind === 'input') {
            sendBack({ type: 'oc.input', request: r.request });
          } else if (r.kind === 'interrupted') {
            for (let i = 0; i < (r.times ?? 1); i++)
              sendBack({ type: 'oc.interrupted', reason: r.reason, userMessageID: r.userMessageID, sessionCost });
          }
        }, 5);
        return () => clearTimeout(t);
      }),
      abortSession: fromPromise<{ sessionCost: number; lastUserMessageID?: string }, { sessionID: string }>(
        async () => {
          calls.aborts++;
          return { sessionCost, lastUserMessageID: `msg_${seq}` };
        },
      ),
      cleanupSession: fromPromise(
        async ({ input }: { input: { sessionID?: string; keep: boolean; busy: boolean } }) => {
          calls.cleanups.push(input);
        },
      ),
    },
  });
  return { machine, calls };
}

function run(
  machine: ReturnType<typeof harness>['machine'],
  input: Parameters<typeof createActor<typeof agentMachine>>[1] extends infer O
    ? O extends { input?: infer I }
      ? I
      : never
    : never,
) {
  const actor = createActor(machine, { input: { ...input, standalone: true } });
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
    expect(
      emitted
        .filter((e) => e.type === 'agent.delta')
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe('hello');
    const done = emitted.find((e) => e.type === 'agent.done') as Extract<AgentNotification, { type: 'agent.done' }>;
    expect(done.result).toMatchObject({
      agent: 'coder',
      status: 'done',
      output: 'hello',
      model: 'p/a',
      sessionID: 'ses_1',
      cost: 0.01,
      attempts: [{ model: 'p/a' }],
    });
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
    const { actor } = run(machine, {
      spec: { name: 'a', model: 'p/a', fallback: ['p/b'] },
      task,
      maxProviderRetries: 2,
    });
    await waitFor(actor, (s) => s.matches('done'));
    expect(calls.prompts).toEqual(['p/a', 'p/b']);
    expect(actor.getSnapshot().context.results[0]!.attempts[0]!.errorKind).toBe('rate_limit');
  });

  it('fails when the chain is exhausted', async () => {
    const { machine } = harness({
      'p/a': { kind: 'error', errorKind: 'server' },
      'p/b': { kind: 'error', errorKind: 'server' },
    });
    const { actor, emitted } = run(machine, { spec: { name: 'a', model: 'p/a', fallback: ['p/b'] }, task });
    await waitFor(actor, (s) => s.matches('failed'));
    const failed = emitted.find((e) => e.type === 'agent.failed') as Extract<
      AgentNotification,
      { type: 'agent.failed' }
    >;
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
    // The abort is the result's last attempt: what tells the supervisor not to retry it.
    expect(actor.getSnapshot().context.results[0]!.attempts).toEqual([
      { model: 'p/a', error: 'aborted', errorKind: 'aborted' },
    ]);
  });

  it('STOP while streaming aborts, reports the prompt as failed with its cost so far, then cleans up', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'hang' } });
    const { actor, emitted } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches({ working: 'streaming' }));
    actor.send({ type: 'STOP' });
    const out = await toPromise(actor);
    expect(actor.getSnapshot().status).toBe('done');
    expect(out.sessionID).toBe('ses_1');
    expect(calls.aborts).toBe(1);
    // Cleanup aborts once more (a prompt request still on its way may start late), then deletes.
    expect(calls.cleanups).toEqual([{ sessionID: 'ses_1', keep: false, busy: true }]);
    const failed = emitted.find((e) => e.type === 'agent.failed');
    expect(failed).toMatchObject({
      agent: 'a',
      error: 'stopped while prompting',
      result: { status: 'failed', attempts: [{ model: 'p/a', errorKind: 'aborted' }] },
    });
    expect(out.results.map((r) => r.status)).toEqual(['failed']);
  });

  it('SESSION_LOST mid-prompt (its server died): the same task again in a new session, the loss an attempt', async () => {
    const { machine, calls } = harness({ 'p/a': { kind: 'hang' } });
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches({ working: 'streaming' }));
    actor.send({ type: 'SESSION_LOST', reason: 'the OpenCode server at http://a is gone' });
    await waitFor(actor, (s) => s.matches({ working: 'streaming' }) && s.context.sessionID === 'ses_2');
    expect(calls.created).toBe(2);
    expect(calls.prompts).toEqual(['p/a', 'p/a']);
    expect(actor.getSnapshot().context.attempts).toEqual([
      {
        model: 'p/a',
        error: 'moved to another server: the OpenCode server at http://a is gone',
        errorKind: 'server',
      },
    ]);
    // The watch of the new prompt follows the new session, expecting no old answer.
    expect(calls.watches.at(-1)).toMatchObject({ sessionID: 'ses_2', afterUserMessageID: undefined });
    actor.send({ type: 'STOP' });
    await toPromise(actor);
    // Only the new session is cleaned up: the lost one went with its server.
    expect(calls.cleanups.map((c) => c.sessionID)).toEqual(['ses_2']);
  });

  it('SESSION_LOST while idle: the result stays, the next task opens a new session', async () => {
    const { machine, calls } = harness({});
    const { actor } = run(machine, { spec: { name: 'a', model: 'p/a' }, task });
    await waitFor(actor, (s) => s.matches('done'));
    actor.send({ type: 'SESSION_LOST', reason: 'gone' });
    expect(actor.getSnapshot().context.sessionID).toBeUndefined();
    expect(actor.getSnapshot().value).toBe('done');
    actor.send({ type: 'PROMPT', task: { id: 't2', text: 'again' } });
    await waitFor(actor, (s) => s.matches('done') && s.context.results.length === 2);
    expect(calls.created).toBe(2);
    expect(actor.getSnapshot().context.results.map((r) => [r.taskId, r.sessionID, r.status])).toEqual([
      ['t1', 'ses_1', 'done'],
      ['t2', 'ses_2', 'done'],
    ]);
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

/** Run an agent until `until`, then restore its persisted snapshot into `next` (a new run). */
async function restoreInto(
  first: ReturnType<typeof harness>,
  next: ReturnType<typeof harness>,
  input: Parameters<typeof run>[1],
  until: Parameters<AgentSnapshot['matches']>[0],
) {
  const { actor } = run(first.machine, input);
  await waitFor(actor, (s) => s.matches(until), { timeout: 5000 });
  const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
  actor.stop();
  const restored = createActor(next.machine, { snapshot: persisted, input });
  const emitted: AgentNotification[] = [];
  restored.on('*', (e) => emitted.push(e as AgentNotification));
  restored.start();
  return { actor: restored, emitted };
}

const states = (emitted: AgentNotification[]) =>
  emitted.filter((e) => e.type === 'agent.state').map((e) => (e as { state: string }).state);

describe('agent machine: restored mid-prompt', () => {
  const spec = { name: 'a', model: 'p/a', fallback: ['p/b'] };

  it('re-sends an unanswered prompt on the same model, counted as an attempt, skipping its user message', async () => {
    const first = harness({ 'p/a': { kind: 'hang' } });
    const next = harness({}, { restored: { kind: 'interrupted', reason: 'unanswered', userMessageID: 'msg_lost' } });
    const { actor, emitted } = await restoreInto(first, next, { spec, task }, { working: 'streaming' });
    await waitFor(actor, (s) => s.matches('done'), { timeout: 5000 });
    expect(next.calls.prompts).toEqual(['p/a']);
    expect(states(emitted)).toEqual(['prompting', 'streaming', 'done']);
    const r = actor.getSnapshot().context.results[0]!;
    expect(r).toMatchObject({ status: 'done', model: 'p/a', output: 'hello' });
    expect(r.attempts).toEqual([
      {
        model: 'p/a',
        error: 'interrupted: re-prompted after resume (the session was idle with no answer)',
        errorKind: 'aborted',
      },
      { model: 'p/a' },
    ]);
    // The new prompt's watch ignores the lost prompt's (missing) answer; nothing was aborted.
    expect(next.calls.watches.map((w) => w.afterUserMessageID)).toEqual([undefined, 'msg_lost']);
    expect(next.calls.aborts).toBe(0);
  });

  it('re-sends a prompt whose answer was aborted meanwhile instead of failing', async () => {
    const first = harness({ 'p/a': { kind: 'hang' } });
    const next = harness({}, { restored: { kind: 'interrupted', reason: 'aborted', userMessageID: 'msg_cut' } });
    const { actor } = await restoreInto(first, next, { spec, task }, { working: 'streaming' });
    await waitFor(actor, (s) => s.matches('done'), { timeout: 5000 });
    expect(next.calls.prompts).toEqual(['p/a']);
    expect(actor.getSnapshot().context.results[0]!.attempts.map((a) => a.error)).toEqual([
      'interrupted: re-prompted after resume (its answer was aborted)',
      undefined,
    ]);
  });

  it('takes an answer that arrived meanwhile and sends nothing', async () => {
    const first = harness({ 'p/a': { kind: 'hang' } });
    const next = harness({}, { restored: { kind: 'ok', output: 'finished meanwhile' } });
    const { actor } = await restoreInto(first, next, { spec, task }, { working: 'streaming' });
    await waitFor(actor, (s) => s.matches('done'), { timeout: 5000 });
    expect(next.calls.prompts).toEqual([]);
    expect(actor.getSnapshot().context.results[0]).toMatchObject({
      output: 'finished meanwhile',
      attempts: [{ model: 'p/a' }],
    });
  });

  it('keeps watching a session that is still busy, sending nothing', async () => {
    const first = harness({ 'p/a': { kind: 'hang' } });
    const next = harness({}, { restored: { kind: 'hang' } });
    const { actor } = await restoreInto(first, next, { spec, task }, { working: 'streaming' });
    await new Promise((r) => setTimeout(r, 50));
    expect(actor.getSnapshot().matches({ working: 'streaming' })).toBe(true);
    expect(next.calls.prompts).toEqual([]);
    expect(next.calls.watches).toHaveLength(1);
    actor.stop();
  });

  it('re-sends the prompt of an agent restored while waiting on a person, with the dead request dropped', async () => {
    const request: InputRequest = {
      kind: 'permission',
      id: 'per_1',
      sessionID: 'ses_1',
      permission: 'bash',
      patterns: ['ls'],
    };
    const asking = { ...spec, inputPolicy: { onPermission: 'ask' as const } };
    const first = harness({ 'p/a': { kind: 'input', request } });
    const next = harness({}, { restored: { kind: 'interrupted', reason: 'aborted' } });
    const { actor, emitted } = await restoreInto(
      first,
      next,
      { spec: asking, task },
      { working: { awaitingInput: 'asking' } },
    );
    await waitFor(actor, (s) => s.matches('done'), { timeout: 5000 });
    expect(next.calls.prompts).toEqual(['p/a']);
    expect(actor.getSnapshot().context.inputQueue).toEqual([]);
    expect(emitted.some((e) => e.type === 'agent.input_answered')).toBe(false);
    expect(actor.getSnapshot().context.results[0]!.attempts).toHaveLength(2);
  });

  it('re-prompts once on a duplicated report', async () => {
    const first = harness({ 'p/a': { kind: 'hang' } });
    const next = harness({}, { restored: { kind: 'interrupted', reason: 'unanswered', times: 2 } });
    const { actor, emitted } = await restoreInto(first, next, { spec, task }, { working: 'streaming' });
    await waitFor(actor, (s) => s.matches('done'), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 30));
    expect(next.calls.prompts).toEqual(['p/a']);
    expect(emitted.filter((e) => e.type === 'agent.done')).toHaveLength(1);
    expect(actor.getSnapshot().context.results[0]!.attempts).toHaveLength(2);
  });

  it('ignores an interruption report while its own prompt is being sent', async () => {
    // The watch reports before the (slow) prompt went out: that report cannot be about it.
    const { machine, calls } = harness(
      { 'p/a': { kind: 'hang' } },
      { restored: { kind: 'interrupted', reason: 'unanswered' }, promptDelayMs: 40 },
    );
    const { actor } = run(machine, { spec, task });
    await waitFor(actor, (s) => s.matches({ working: 'streaming' }), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 30));
    expect(calls.prompts).toEqual(['p/a']);
    expect(actor.getSnapshot().matches({ working: 'streaming' })).toBe(true);
    expect(actor.getSnapshot().context.attempts).toEqual([]);
    actor.stop();
  });
});

describe('readPrompt: where a session stands on its latest prompt', () => {
  let n = 0;
  const user = (id: string): MessageWithParts =>
    ({ info: { id, role: 'user', time: { created: ++n } }, parts: [] }) as unknown as MessageWithParts;
  const assistant = (info: { completed?: boolean; error?: unknown; cost?: number }, text = ''): MessageWithParts =>
    ({
      info: {
        id: `msg_a${++n}`,
        role: 'assistant',
        time: { created: n, ...(info.completed ? { completed: n + 1 } : {}) },
        ...(info.error ? { error: info.error } : {}),
        cost: info.cost ?? 0,
        tokens: { input: 3, output: 2, reasoning: 0, cache: { read: 0, write: 0 } },
        providerID: 'p',
        modelID: 'a',
      },
      parts: text ? [{ id: `prt_${n}`, type: 'text', text }] : [],
    }) as unknown as MessageWithParts;
  const earlier = [user('msg_1'), assistant({ completed: true, cost: 0.01 }, 'first answer')];

  it('answered: a complete answer to a prompt newer than the last one taken', () => {
    const r = readPrompt(
      [...earlier, user('msg_2'), assistant({ completed: true, cost: 0.02 }, 'second answer')],
      'msg_1',
    );
    expect(r).toMatchObject({
      state: 'answered',
      outcome: { userMessageID: 'msg_2', output: 'second answer', model: 'p/a' },
    });
    expect(r.state === 'answered' && r.outcome.sessionCost).toBeCloseTo(0.03, 12);
  });

  it('answered, aborted: the caller decides what an abort means', () => {
    const r = readPrompt(
      [...earlier, user('msg_2'), assistant({ error: { name: 'MessageAbortedError', data: { message: 'Aborted' } } })],
      'msg_1',
    );
    expect(r).toMatchObject({ state: 'answered', outcome: { userMessageID: 'msg_2', error: { kind: 'aborted' } } });
  });

  it('unanswered: an answer cut off with neither completion nor error (OpenCode killed mid-prompt)', () => {
    expect(readPrompt([...earlier, user('msg_2'), assistant({})], 'msg_1')).toEqual({
      state: 'unanswered',
      userMessageID: 'msg_2',
      sessionCost: 0.01,
    });
  });

  it('unanswered: a user message with no assistant message after it', () => {
    expect(readPrompt([...earlier, user('msg_2')], 'msg_1')).toEqual({
      state: 'unanswered',
      userMessageID: 'msg_2',
      sessionCost: 0.01,
    });
  });

  it('unanswered: the prompt never reached the session (only the previous one is there)', () => {
    expect(readPrompt(earlier, 'msg_1')).toEqual({ state: 'unanswered', userMessageID: undefined, sessionCost: 0.01 });
    expect(readPrompt([], undefined)).toEqual({ state: 'unanswered', userMessageID: undefined, sessionCost: 0 });
  });
});
