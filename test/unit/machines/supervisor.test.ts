import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, toPromise } from 'xstate';
import {
  agentMachine,
  type AgentEvent,
  type AgentSpec,
  type AgentTask,
  type WatchInput,
} from '../../../machines/agent.js';
import { supervisorMachine, type SupervisorInput } from '../../../machines/supervisor.js';

/**
 * The supervisor over real agent machines whose effects are fakes: each agent "answers"
 * after `delay` ms, fails when its name starts with `bad`, costs `cost` USD.
 */
function world({ delay = 10, cost = 0.01, kind = 'server' as 'server' | 'auth' } = {}) {
  const log = {
    prompts: [] as Array<{ agent: string; text: string; at: number }>,
    running: 0,
    maxRunning: 0,
    cleanups: 0,
  };
  let seq = 0;
  const agent = agentMachine.provide({
    actors: {
      createSession: fromPromise(async ({ input }: { input: { spec: AgentSpec } }) => ({
        id: `ses_${input.spec.name}`,
      })),
      sendPrompt: fromPromise<
        { sent: boolean } | void,
        { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
      >(async ({ input }) => {
        log.prompts.push({ agent: input.spec.name, text: input.task.text, at: Date.now() });
        log.running++;
        log.maxRunning = Math.max(log.maxRunning, log.running);
      }),
      watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack, input }) => {
        const name = input.sessionID.slice(4);
        const t = setTimeout(() => {
          log.running--;
          const base = {
            userMessageID: `m${++seq}`,
            output: `output of ${name}`,
            model: 'p/m',
            tokens: { input: 1, output: 1 },
          };
          if (name.startsWith('bad'))
            sendBack({
              type: 'oc.outcome',
              outcome: { ...base, sessionCost: 0, error: { name: 'APIError', message: 'boom', kind } },
            });
          else sendBack({ type: 'oc.outcome', outcome: { ...base, sessionCost: cost } });
        }, delay);
        return () => clearTimeout(t);
      }),
      abortSession: fromPromise<{ sessionCost: number; lastUserMessageID?: string }, { sessionID: string }>(
        async () => ({ sessionCost: 0 }),
      ),
      cleanupSession: fromPromise(async () => {
        log.cleanups++;
      }),
    },
  });
  const machine = supervisorMachine.provide({ actors: { agent } });
  const run = async (
    input: Partial<SupervisorInput> & { agents: AgentSpec[] },
    drive?: (a: ReturnType<typeof createActor<typeof machine>>) => void,
  ) => {
    const actor = createActor(machine, { input: { flowId: 'f1', task: 'TASK', mode: 'parallel', ...input } });
    actor.start();
    drive?.(actor);
    return toPromise(actor);
  };
  return { run, log };
}

const agents = (...names: string[]): AgentSpec[] => names.map((name) => ({ name, model: 'p/m' }));

describe('supervisor machine', () => {
  it('parallel: runs everyone, at most maxConcurrent at once, and cleans every agent up', async () => {
    const { run, log } = world({ delay: 20 });
    const out = await run({ agents: agents('a', 'b', 'c', 'd', 'e'), maxConcurrent: 2 });
    expect(out.status).toBe('completed');
    expect(out.results.map((r) => r.agent)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(log.maxRunning).toBe(2);
    expect(log.cleanups).toBe(5);
  });

  it('sequential: one at a time, each given the earlier outputs', async () => {
    const { run, log } = world();
    const out = await run({ agents: agents('a', 'b', 'c'), mode: 'sequential' });
    expect(out.status).toBe('completed');
    expect(log.maxRunning).toBe(1);
    expect(log.prompts[0]!.text).toBe('TASK');
    expect(log.prompts[2]!.text).toContain('## Output of a\n\noutput of a');
    expect(log.prompts[2]!.text).toContain('## Output of b\n\noutput of b');
  });

  it('onAgentFailure continue: the flow completes and records the failure', async () => {
    const { run } = world();
    const out = await run({ agents: agents('a', 'bad1', 'c'), retries: 0 });
    expect(out.status).toBe('completed');
    expect(out.results.find((r) => r.agent === 'bad1')!.status).toBe('failed');
  });

  it('onAgentFailure fail: the first failure stops the flow', async () => {
    const { run, log } = world({ delay: 5 });
    const out = await run({ agents: agents('bad1', 'b', 'c'), mode: 'sequential', onAgentFailure: 'fail', retries: 0 });
    expect(out.status).toBe('failed');
    expect(out.reason).toMatch(/agent bad1 failed/);
    expect(log.prompts.map((p) => p.agent)).toEqual(['bad1']);
  });

  it('every agent failing fails the flow', async () => {
    const { run } = world();
    expect((await run({ agents: agents('bad1', 'bad2'), retries: 1 })).status).toBe('failed');
  });

  it("stops as budget_exceeded on the run's BUDGET_EXCEEDED (the run, not the supervisor, keeps the budget)", async () => {
    const { run, log } = world({ cost: 0.01 });
    const out = await run({ agents: agents('a', 'b', 'c'), mode: 'sequential', maxCost: 0.015 }, (actor) => {
      let done = 0;
      actor.on('agent.done', () => {
        if (++done === 2)
          actor.send({ type: 'BUDGET_EXCEEDED', reason: 'budget exceeded: spent $0.020000 of max $0.015' });
      });
    });
    expect(out.status).toBe('budget_exceeded');
    expect(out.reason).toMatch(/spent \$0\.020000 of max \$0\.015/);
    expect(log.prompts.map((p) => p.agent)).toEqual(['a', 'b']);
  });

  it('CANCEL stops running agents and finishes as cancelled', async () => {
    const { run, log } = world({ delay: 10_000 });
    const out = await run({ agents: agents('a', 'b') }, (actor) =>
      setTimeout(() => actor.send({ type: 'CANCEL', reason: 'user' }), 30),
    );
    expect(out.status).toBe('cancelled');
    expect(out.reason).toBe('user');
    expect(log.cleanups).toBe(2);
  });

  it('a flow timeout ends the flow as failed', async () => {
    const { run } = world({ delay: 10_000 });
    const out = await run({ agents: agents('a'), timeoutMs: 50 });
    expect(out.status).toBe('failed');
    expect(out.reason).toMatch(/timed out after 50 ms/);
  });

  it('waitFor: an agent starts when its memory key is written, with the value in its task', async () => {
    const { run, log } = world({ delay: 40 });
    const out = await run({ agents: agents('a', 'w'), waitFor: { w: 'plan/*' } }, (actor) =>
      setTimeout(() => {
        actor.send({ type: 'memory.changed', key: 'other', value: 1, by: 'x' });
        actor.send({ type: 'memory.changed', key: 'plan/v1', value: { steps: 3 }, by: 'a' });
      }, 10),
    );
    expect(out.status).toBe('completed');
    expect(log.prompts.map((p) => p.agent)).toEqual(['a', 'w']);
    expect(log.prompts[1]!.text).toContain('memory key "plan/v1" was written');
    expect(log.prompts[1]!.text).toContain('"steps": 3');
  });

  it('retries a failed agent (default 3 times) before the failure counts, and says so', async () => {
    const { run, log } = world();
    const out = await run({ agents: agents('bad1', 'b'), onAgentFailure: 'fail' });
    expect(out.status).toBe('failed');
    expect(log.prompts.filter((p) => p.agent === 'bad1')).toHaveLength(4);
    expect(out.results.find((r) => r.agent === 'bad1')!.retries).toBe(3);
  });

  it('does not retry what a retry cannot fix (auth)', async () => {
    const { run, log } = world({ kind: 'auth' });
    const out = await run({ agents: agents('bad1') });
    expect(out.status).toBe('failed');
    expect(log.prompts).toHaveLength(1);
    expect(out.results[0]!.retries).toBeUndefined();
  });
});
