import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, toPromise } from 'xstate';
import {
  agentMachine,
  type AgentEvent,
  type AgentSpec,
  type AgentTask,
  type WatchInput,
} from '../../../machines/agent.js';
import { supervisorMachine, withSubflows, type SupervisorInput } from '../../../machines/supervisor.js';

/**
 * Hierarchical flows whose planner marks subtasks `decompose`: each runs as a sub-supervisor
 * (a planner of its own over the same agents), down to `maxDepth` levels. Agents are real
 * agent machines with fake effects; a planner answers with the plan `plans` gives for its task.
 */
type PlanOf = (task: string) => {
  subtasks: Array<{
    id: string;
    title: string;
    description: string;
    agent: string;
    dependsOn?: string[];
    decompose?: boolean;
  }>;
};

function world(planOf: PlanOf, { failing = '' } = {}) {
  const log = { prompts: [] as Array<{ agent: string; text: string; parent?: string; session: string }>, cleanups: 0 };
  const sessions = new Map<string, { agent: string; parent?: string; text: string }>();
  let seq = 0;
  const agent = agentMachine.provide({
    actors: {
      createSession: fromPromise(async ({ input }: { input: { spec: AgentSpec; parentSessionID?: string } }) => {
        const id = `ses_${++seq}`;
        sessions.set(id, { agent: input.spec.name, parent: input.parentSessionID, text: '' });
        return { id };
      }),
      sendPrompt: fromPromise<
        { sent: boolean } | void,
        { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
      >(async ({ input }) => {
        const s = sessions.get(input.sessionID)!;
        s.text = input.task.text;
        log.prompts.push({ agent: input.spec.name, text: input.task.text, parent: s.parent, session: input.sessionID });
      }),
      watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack, input }) => {
        const s = sessions.get(input.sessionID)!;
        const t = setTimeout(() => {
          let output: string;
          let structured: unknown;
          // Asked for structured output (the planner, by default), the answer is there, not in the text.
          if (s.text.includes('# Plan this task for the team') && input.format)
            [output, structured] = ['', planOf(s.text)];
          else if (s.text.includes('# Plan this task for the team')) output = JSON.stringify(planOf(s.text));
          else if (s.text.startsWith('All subtasks of your plan have finished'))
            output = `combined(${(s.text.match(/OUT-[\w-]+/g) ?? []).join(',')})`;
          // A nested subtask's text holds its parent's subtask heading too: the last one is its own.
          else output = `OUT-${[...s.text.matchAll(/# Your subtask \(([\w-]+)\)/g)].at(-1)?.[1] ?? s.agent}`;
          const base = {
            userMessageID: `m${++seq}`,
            output,
            structured,
            model: 'p/m',
            tokens: { input: 10, output: 1 },
          };
          if (failing && s.text.includes(failing))
            sendBack({
              type: 'oc.outcome',
              outcome: {
                ...base,
                sessionCost: 0,
                error: { name: 'ProviderAuthError', message: 'no key', kind: 'auth' },
              },
            });
          else sendBack({ type: 'oc.outcome', outcome: { ...base, sessionCost: 0.01 } });
        }, 5);
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
  const run = async (input: Partial<SupervisorInput>, drive?: (a: { send(e: { type: 'CANCEL' }): void }) => void) => {
    const machine = withSubflows(supervisorMachine.provide({ actors: { agent } }), input.maxDepth ?? 3);
    const events: Array<{ type: string; agent?: string }> = [];
    const actor = createActor(machine, {
      input: {
        flowId: 'f1',
        task: 'ROOT-TASK',
        mode: 'hierarchical',
        agents: [
          { name: 'coder', model: 'p/m' },
          { name: 'tester', model: 'p/m' },
        ],
        planner: { name: 'planner', model: 'p/m' },
        retries: 0,
        ...input,
      },
    });
    actor.on('*', (e) => events.push(e as { type: string; agent?: string }));
    actor.start();
    drive?.(actor);
    return { out: await toPromise(actor), events, sessions };
  };
  return { run, log };
}

const rootPlan: PlanOf = (task) =>
  task.includes('# Your subtask (big)')
    ? // The sub-planner's plan for the decomposed subtask.
      {
        subtasks: [
          { id: 'b1', title: 'part 1', description: 'do part 1', agent: 'coder' },
          { id: 'b2', title: 'part 2', description: 'do part 2', agent: 'tester', dependsOn: ['b1'] },
        ],
      }
    : {
        subtasks: [
          { id: 'big', title: 'the big one', description: 'too big for one agent', agent: 'coder', decompose: true },
          { id: 'after', title: 'after it', description: 'builds on big', agent: 'tester', dependsOn: ['big'] },
        ],
      };

describe('sub-supervisors for decomposed subtasks', () => {
  it('a decomposed subtask is planned again and run by a sub-supervisor; its output feeds its dependents', async () => {
    const { run, log } = world(rootPlan);
    const { out, events } = await run({});
    expect(out.status).toBe('completed');
    // The report lists every agent that ran, the sub-supervisor's prefixed with its subtask.
    expect(out.results.map((r) => r.agent)).toEqual([
      'planner',
      'coder:big/planner',
      'coder:big/coder:b1',
      'coder:big/tester:b2',
      'coder:big/planner',
      'tester:after',
      'planner',
    ]);
    // 2 planners × (plan + aggregate) + 3 subtasks.
    expect(log.prompts).toHaveLength(7);
    // Five sessions at $0.01 each (a planner's second prompt adds nothing to its session here).
    expect(out.results.reduce((n, r) => n + r.cost, 0)).toBeCloseTo(0.05, 10);
    // The sub-planner got the subtask as its task, and may not decompose only past the limit.
    const subPlan = log.prompts.find(
      (p) => p.text.includes('# Your subtask (big)') && p.text.includes('# Plan this task'),
    )!;
    expect(subPlan.agent).toBe('planner');
    expect(subPlan.text).toContain('"decompose": true');
    // The dependent subtask saw the sub-supervisor's combined output.
    const after = log.prompts.find((p) => p.agent === 'tester:after')!;
    expect(after.text, after.text).toContain('## Output of coder:big\n\ncombined(OUT-b1,OUT-b2)');
    expect(out.output).toBe('combined(OUT-b1,OUT-b2,OUT-after)');
    // Nested agents' events reach the top, named by their place in the tree.
    expect(events.some((e) => e.type === 'agent.done' && e.agent === 'coder:big/coder:b1')).toBe(true);
    expect(log.cleanups).toBe(5); // one per agent actor: 2 planners + 3 subtasks
  });

  it('sessions nest: the sub-planner under the planner, its subtasks under the sub-planner', async () => {
    const { run, log } = world(rootPlan);
    await run({});
    const sessionOf = (pred: (p: (typeof log.prompts)[0]) => boolean) => log.prompts.find(pred)!;
    const top = sessionOf((p) => p.agent === 'planner' && !p.text.includes('# Your subtask'));
    const sub = sessionOf((p) => p.agent === 'planner' && p.text.includes('# Your subtask (big)'));
    const b1 = sessionOf((p) => p.agent === 'coder:b1');
    const after = sessionOf((p) => p.agent === 'tester:after');
    expect(top.parent).toBeUndefined();
    expect(sub.parent).toBe(top.session);
    expect(b1.parent).toBe(sub.session);
    expect(after.parent).toBe(top.session);
  });

  it('past the depth limit a decomposed subtask runs as an ordinary one, and the planner is not offered decompose', async () => {
    const { run, log } = world(() => ({
      subtasks: [{ id: 'big', title: 'big', description: 'd', agent: 'coder', decompose: true }],
    }));
    const { out } = await run({ maxDepth: 1 });
    expect(out.status).toBe('completed');
    expect(out.results.map((r) => r.agent)).toEqual(['planner', 'coder:big', 'planner']);
    expect(log.prompts[0]!.text).not.toContain('decompose');
  });

  it('depth 3 by default: a plan that always decomposes stops nesting at the third level', async () => {
    const { run, log } = world(() => ({
      subtasks: [{ id: 'x', title: 'x', description: 'd', agent: 'coder', decompose: true }],
    }));
    const { out } = await run({});
    expect(out.status).toBe('completed');
    expect(out.results.map((r) => r.agent)).toEqual([
      'planner',
      'coder:x/planner',
      'coder:x/coder:x/planner',
      'coder:x/coder:x/coder:x',
      'coder:x/coder:x/planner',
      'coder:x/planner',
      'planner',
    ]);
    expect(log.prompts.filter((p) => p.text.includes('# Plan this task'))).toHaveLength(3);
  });

  it('failures inside a sub-plan follow onAgentFailure: continue records them and goes on; fail fails the sub-plan, its subtask and the flow', async () => {
    const cont = world(rootPlan, { failing: 'do part 1' });
    const { out } = await cont.run({});
    expect(out.status).toBe('completed');
    expect(out.results.find((r) => r.agent === 'coder:big/coder:b1')!.status).toBe('failed');
    expect(out.results.find((r) => r.agent === 'coder:big/tester:b2')!.error).toMatch(
      /skipped: dependency coder:b1 failed/,
    );
    expect(out.results.find((r) => r.agent === 'tester:after')!.status).toBe('done');

    const strict = world(rootPlan, { failing: 'do part 1' });
    const failed = await strict.run({ onAgentFailure: 'fail' });
    expect(failed.out.status).toBe('failed');
    expect(failed.out.reason).toMatch(/sub-plan coder:big failed/);
    expect(failed.out.results.some((r) => r.agent === 'tester:after')).toBe(false);
    expect(strict.log.prompts.some((p) => p.agent === 'tester:after')).toBe(false);
  });

  it('cancelling the flow cancels the sub-supervisor and stops every agent', async () => {
    const { run, log } = world(rootPlan);
    const { out } = await run({}, (actor) => setTimeout(() => actor.send({ type: 'CANCEL' }), 25));
    expect(out.status).toBe('cancelled');
    // Every agent actor that was started was cleaned up.
    const started = new Set(log.prompts.map((p) => p.session));
    expect(log.cleanups).toBe(started.size);
  });
});
