import {
  assign,
  emit,
  enqueueActions,
  fromPromise,
  sendParent,
  sendTo,
  setup,
  type ActorRefFrom,
  type SnapshotFrom,
} from 'xstate';
import { agentMachine, type AgentNotification, type AgentResult, type AgentSpec, type AgentTask } from './agent.js';
import { compileWatchPattern } from '../src/memory/watch-pattern.js';
import { parsePlan, PLAN_FORMAT, planPrompt, type Plan } from './plan.js';
import { nowOf } from './clock.js';
import { RETRY_DEFAULTS, shouldRetryTask } from './retry.js';

/**
 * The supervisor: spawns agent actors as named children (`spawnChild('agent', { id })`,
 * so the whole tree persists) and coordinates them only through their events.
 * Modes: `parallel` (all agents on the task, at most `maxConcurrent` at once),
 * `sequential` (each agent gets the previous agents' outputs as context) and
 * `hierarchical` (a planner splits the task into subtasks with dependencies; they run in
 * dependency order as child sessions of the planner's session; the planner aggregates).
 */

export {
  AGGREGATE,
  PLANNER,
  agentActorId,
  subflowActorId,
  type FlowMode,
  type FlowStatus,
  type SupervisorContext,
  type SupervisorEmitted,
  type SupervisorEvent,
  type SupervisorInput,
  type SupervisorOutput,
} from './supervisor-types.js';
export { prefixed } from './supervisor-results.js';
export { taskFor } from './supervisor-prompts.js';
import {
  AGGREGATE,
  PLANNER,
  agentActorId,
  subflowActorId,
  type SupervisorContext,
  type SupervisorEmitted,
  type SupervisorEvent,
  type SupervisorInput,
  type SupervisorOutput,
} from './supervisor-types.js';
import { childName, doneSubflow, prefixed, skippedResult, subflowResult, workerNames } from './supervisor-results.js';
import { taskFor } from './supervisor-prompts.js';

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    input: {} as SupervisorInput,
    events: {} as SupervisorEvent,
    emitted: {} as SupervisorEmitted,
    output: {} as SupervisorOutput,
  },
  actors: {
    agent: agentMachine,
    // The supervisor itself, for decomposed subtasks; supplied with `provide` (a machine
    // cannot name itself in its own setup), see `withSubflows`.
    subflow: fromPromise<SupervisorOutput, SupervisorInput>(async () => {
      throw new Error('sub-supervisors are not provided: use withSubflows(machine)');
    }),
  },
  delays: {
    flowTimeout: ({ context }) => context.timeoutMs ?? 2 ** 31 - 1,
  },
  guards: {
    allFinished: ({ context }) => context.queue.length === 0 && context.running.length === 0,
    isHierarchical: ({ context }) => context.mode === 'hierarchical',
    aggregateByAgent: ({ context }) =>
      context.mode === 'hierarchical' && context.aggregate === 'agent' && Object.keys(context.deps).length > 0,
    validPlan: ({ context, event }) =>
      event.type === 'agent.done' && parsePlan(event.result.structured ?? event.result.output, workerNames(context)).ok,
    canAskAgain: ({ context }) => context.planAttempts < context.maxPlanAttempts,
    allStopped: ({ context }) => context.live.length === 0,
    isSubflowDone: ({ context, event }) => doneSubflow(context, event) !== undefined,
    subflowFailsFlow: ({ context, event }) => {
      const done = doneSubflow(context, event);
      return done !== undefined && done.out.status !== 'completed' && context.onAgentFailure === 'fail';
    },
    shouldFailFlow: ({ context, event }) => event.type === 'agent.failed' && context.onAgentFailure === 'fail',
    shouldRetry: ({ context, event }) => {
      if (event.type !== 'agent.failed' || !event.result.sessionID || event.agent in context.subflows) return false;
      return shouldRetryTask({
        kind: event.result.attempts.at(-1)?.errorKind,
        retried: context.retried[event.agent] ?? 0,
        max: context.retries,
      });
    },
  },
  actions: {
    startAgents: enqueueActions(({ context, enqueue, self }) => {
      // Nothing waits (the usual case once a parallel flow has started them all): no copies,
      // no new context. Each agent that finishes comes here; copying the lists of a 100-agent
      // flow each time made it quadratic.
      if (context.queue.length === 0) return;
      const limit = context.mode === 'sequential' ? 1 : Math.max(1, context.maxConcurrent);
      const queue = [...context.queue];
      const running = [...context.running];
      const live = [...context.live];
      const results = { ...context.results };
      let skipped = false;
      // Subtasks whose dependency failed never run; record why.
      for (const name of [...queue]) {
        const failedDep = (context.deps[name] ?? []).find((d) => results[d]?.status === 'failed');
        if (!failedDep) continue;
        queue.splice(queue.indexOf(name), 1);
        results[name] = skippedResult(name, `skipped: dependency ${failedDep} failed`, nowOf(self));
        skipped = true;
      }
      const ready = (n: string) => (context.deps[n] ?? []).every((d) => results[d]?.status === 'done');
      while (running.length < limit) {
        const idx = queue.findIndex(ready);
        if (idx < 0) break;
        const name = queue.splice(idx, 1)[0]!;
        const spec = context.agents.find((a) => a.name === name)!;
        running.push(name);
        live.push(name);
        if (name in context.subflows) {
          enqueue.spawnChild('subflow', {
            id: subflowActorId(name),
            input: {
              flowId: context.flowId,
              task: taskFor(context, name).text,
              mode: 'hierarchical',
              agents: context.workers,
              planner: context.planner,
              planAs: context.planAs,
              aggregate: context.aggregate,
              maxPlanAttempts: context.maxPlanAttempts,
              maxConcurrent: context.maxConcurrent,
              promptTimeoutMs: context.promptTimeoutMs,
              keepSessions: context.keepSessions,
              onAgentFailure: context.onAgentFailure,
              retries: context.retries,
              // Its planner's session is a child of this planner's, its subtasks children of that.
              parentSessionID: context.parentSessionID,
              maxProviderRetries: context.maxProviderRetries,
              // No budget of its own: the run's cost owner counts every agent of the tree.
              maxDepth: context.maxDepth,
              depth: context.depth + 1,
              prefix: `${context.prefix}${name}/`,
            },
          });
          continue;
        }
        enqueue.spawnChild('agent', {
          id: agentActorId(name),
          input: {
            spec,
            flowId: context.flowId,
            parentSessionID: context.parentSessionID,
            keepSessions: context.keepSessions,
            promptTimeoutMs: context.promptTimeoutMs,
            maxProviderRetries: context.maxProviderRetries,
            task: taskFor(context, name),
          },
        });
      }
      enqueue.assign({ queue, running, live, ...(skipped ? { results } : {}) });
    }),
    spawnPlanner: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('agent', {
        id: agentActorId(PLANNER),
        input: {
          spec: { ...context.planner!, name: PLANNER },
          flowId: context.flowId,
          parentSessionID: context.parentSessionID,
          keepSessions: context.keepSessions,
          promptTimeoutMs: context.promptTimeoutMs,
          maxProviderRetries: context.maxProviderRetries,
          task: {
            id: 'plan',
            text: planPrompt(context.task, context.agents, {
              canDecompose: context.depth < context.maxDepth,
              structured: context.planAs === 'structured',
            }),
            ...(context.planAs === 'structured' ? { format: PLAN_FORMAT } : {}),
          },
        },
      });
      enqueue.assign({ live: [...context.live, PLANNER], planAttempts: 1 });
    }),
    askPlannerAgain: enqueueActions(({ context, enqueue, event }) => {
      if (event.type !== 'agent.done') return;
      const check = parsePlan(event.result.structured ?? event.result.output, workerNames(context));
      const why = check.ok ? '' : check.error;
      enqueue.sendTo(agentActorId(PLANNER), {
        type: 'PROMPT',
        task: {
          id: `plan-${context.planAttempts + 1}`,
          text:
            context.planAs === 'structured'
              ? `Your plan could not be used: ${why}\n\nGive the plan again as your structured output, following the rules.`
              : `Your plan could not be used: ${why}\n\nAnswer again with only the JSON object, following the rules.`,
          ...(context.planAs === 'structured' ? { format: PLAN_FORMAT } : {}),
        },
      });
      // The rejected answer cost money too: it is counted now and folded into the planner's result.
      enqueue.assign({
        planAttempts: context.planAttempts + 1,
        retryCost: { ...context.retryCost, [PLANNER]: (context.retryCost[PLANNER] ?? 0) + event.result.cost },
      });
    }),
    takePlan: assign(({ context, event }) => {
      if (event.type !== 'agent.done') return {};
      const check = parsePlan(event.result.structured ?? event.result.output, workerNames(context));
      if (!check.ok) return {};
      const plan = check.plan;
      const nameOf = (id: string) => `${plan.subtasks.find((t) => t.id === id)!.agent}:${id}`;
      const agents: AgentSpec[] = [];
      const deps: Record<string, string[]> = {};
      const subtaskText: Record<string, string> = {};
      const subflows: Record<string, AgentResult[]> = {};
      for (const t of plan.subtasks) {
        const worker = context.agents.find((a) => a.name === t.agent)!;
        const name = nameOf(t.id);
        agents.push({ ...worker, name, role: worker.role ?? worker.name });
        // Past the depth limit a decomposed subtask is an ordinary one.
        if (t.decompose && context.depth < context.maxDepth) subflows[name] = [];
        deps[name] = t.dependsOn.map(nameOf);
        subtaskText[name] = [
          context.task,
          '',
          `# Your subtask (${t.id}): ${t.title}`,
          '',
          t.description,
          ...(t.dependsOn.length ? ['', 'It builds on the subtasks before it; their outputs are below.'] : []),
        ].join('\n');
      }
      return {
        plan,
        workers: context.agents,
        agents,
        deps,
        subtaskText,
        subflows,
        queue: agents.map((a) => a.name),
        // Subtasks run as child sessions of the planner's session.
        parentSessionID: event.result.sessionID || context.parentSessionID,
        results: {
          ...context.results,
          [PLANNER]: { ...event.result, cost: event.result.cost + (context.retryCost[PLANNER] ?? 0) },
        },
      };
    }),
    withDependencyOutputs: assign(({ context }) => {
      // Add finished dependencies' outputs to the texts of subtasks about to become ready.
      const subtaskText = { ...context.subtaskText };
      for (const name of context.queue) {
        const deps = context.deps[name] ?? [];
        if (deps.length === 0 || !deps.every((d) => context.results[d]?.status === 'done')) continue;
        if (subtaskText[name]!.includes('\n## Output of ')) continue;
        subtaskText[name] += deps.map((d) => `\n\n## Output of ${d}\n\n${context.results[d]!.output}`).join('');
      }
      return { subtaskText };
    }),
    askAggregate: enqueueActions(({ context, enqueue }) => {
      const parts = Object.keys(context.deps).map((n) => {
        const r = context.results[n];
        return `## ${n} (${r?.status ?? 'not run'})\n\n${r?.status === 'done' ? r.output : (r?.error ?? '')}`;
      });
      enqueue.sendTo(agentActorId(PLANNER), {
        type: 'PROMPT',
        task: {
          id: 'aggregate',
          text: `All subtasks of your plan have finished. Combine their outputs into one final answer to the original task:\n\n${context.task}\n\n# Subtask outputs\n\n${parts.join('\n\n')}`,
          ...(context.format ? { format: context.format } : {}),
        },
      });
    }),
    takeAggregate: assign(({ context, event }) => {
      if (event.type !== 'agent.done' && event.type !== 'agent.failed') return {};
      return {
        results: { ...context.results, [AGGREGATE]: event.result },
        output: event.type === 'agent.done' ? event.result.output : undefined,
        structured: event.type === 'agent.done' ? event.result.structured : undefined,
      };
    }),
    concatOutputsIfHierarchical: assign(({ context }) => {
      if (context.mode !== 'hierarchical') return {};
      return {
        output: Object.keys(context.deps)
          .map((n) => context.results[n])
          .filter((r): r is AgentResult => r?.status === 'done')
          .map((r) => `## ${r.agent}\n\n${r.output}`)
          .join('\n\n'),
      };
    }),
    record: assign(({ context, event }) => {
      if (event.type !== 'agent.done' && event.type !== 'agent.failed') return {};
      const retries = context.retried[event.agent] ?? 0;
      const earlier = context.retryCost[event.agent] ?? 0;
      // Earlier failed runs of this task (or rejected plans) cost money too: keep their cost in the result.
      const result =
        retries > 0 || earlier > 0
          ? { ...event.result, ...(retries > 0 ? { retries } : {}), cost: event.result.cost + earlier }
          : event.result;
      return {
        results: { ...context.results, [event.agent]: result },
        running: context.running.filter((n) => n !== event.agent),
      };
    }),
    /** Only on `agent.done` and `agent.failed`. */
    stopAgent: sendTo(({ event }) => agentActorId((event as { agent: string }).agent), { type: 'STOP' }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      for (const name of context.live) {
        if (name in context.subflows)
          enqueue.sendTo(subflowActorId(name), { type: 'CANCEL', reason: context.reason ?? context.status });
        else enqueue.sendTo(agentActorId(name), { type: 'STOP' });
      }
      enqueue.assign({ queue: [], running: [] });
    }),
    /**
     * Agents' events (only on `agent.*` and `subflow.event`) go to the flow's listeners: emitted
     * at the top; a sub-supervisor passes them up instead (see `withSubflows`). A plain `emit`,
     * not `enqueueActions`: it runs for every event of every agent.
     */
    forward: emit(({ context, event }) => ({ ...notification(event, context.prefix), flowId: context.flowId })),
    takeSubflow: assign(({ context, event }) => {
      const done = doneSubflow(context, event);
      if (!done) return {};
      const result = subflowResult(done.name, done.out);
      return {
        results: { ...context.results, [done.name]: result },
        subflows: { ...context.subflows, [done.name]: done.out.results },
        running: context.running.filter((n) => n !== done.name),
      };
    }),
    retryAgent: enqueueActions(({ context, enqueue, event }) => {
      if (event.type !== 'agent.failed') return;
      enqueue.assign({
        retried: { ...context.retried, [event.agent]: (context.retried[event.agent] ?? 0) + 1 },
        retryCost: { ...context.retryCost, [event.agent]: (context.retryCost[event.agent] ?? 0) + event.result.cost },
      });
      enqueue.sendTo(agentActorId(event.agent), { type: 'PROMPT', task: taskFor(context, event.agent) });
    }),
    wake: assign(({ context, event }) => {
      if (event.type !== 'memory.changed' || event.value === null) return {};
      const woken = Object.entries(context.waiting).filter(([, pattern]) => compileWatchPattern(pattern)(event.key));
      if (woken.length === 0) return {};
      const waiting = { ...context.waiting };
      const triggeredBy = { ...context.triggeredBy };
      for (const [name] of woken) {
        delete waiting[name];
        triggeredBy[name] = { key: event.key, value: event.value };
      }
      return { waiting, triggeredBy, queue: [...context.queue, ...woken.map(([n]) => n)] };
    }),
    markStopped: assign(({ context, event }) => {
      const name = childName((event as { actorId?: string }).actorId ?? event.type.slice('xstate.done.actor.'.length));
      return { live: context.live.filter((n) => n !== name) };
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, self }) => ({
    flowId: input.flowId,
    task: input.task,
    mode: input.mode,
    agents: input.agents,
    maxConcurrent: input.maxConcurrent ?? 8,
    promptTimeoutMs: input.promptTimeoutMs ?? 600_000,
    timeoutMs: input.timeoutMs,
    keepSessions: input.keepSessions ?? false,
    onAgentFailure: input.onAgentFailure ?? 'continue',
    retries: input.retries ?? RETRY_DEFAULTS.taskRetries,
    retried: {},
    retryCost: {},
    parentSessionID: input.parentSessionID,
    maxProviderRetries: input.maxProviderRetries,
    maxCost: input.maxCost,
    queue: input.mode === 'hierarchical' ? [] : input.agents.map((a) => a.name).filter((n) => !input.waitFor?.[n]),
    waiting: { ...input.waitFor },
    triggeredBy: {},
    planner: input.planner,
    planAs: input.planAs ?? 'structured',
    format: input.format,
    aggregate: input.aggregate ?? 'agent',
    maxPlanAttempts: input.maxPlanAttempts ?? 2,
    planAttempts: 0,
    maxDepth: input.maxDepth ?? 3,
    depth: input.depth ?? 1,
    prefix: input.prefix ?? '',
    workers: input.agents,
    subflows: {},
    deps: {},
    subtaskText: {},
    running: [],
    live: [],
    results: {},
    status: 'running',
    startedAt: nowOf(self),
  }),
  initial: 'starting',
  on: {
    'agent.delta': { actions: 'forward' },
    'agent.state': { actions: 'forward' },
    'agent.tool': { actions: 'forward' },
    'agent.fallback': { actions: 'forward' },
    'agent.input_required': { actions: 'forward' },
    'agent.input_answered': { actions: 'forward' },
    'subflow.event': { actions: 'forward' },
    'xstate.done.actor.*': [
      { guard: 'isSubflowDone', actions: ['markStopped', 'takeSubflow'] },
      { actions: 'markStopped' },
    ],
  },
  states: {
    starting: {
      always: [{ guard: 'isHierarchical', target: 'active.planning' }, { target: 'active.running' }],
    },
    /** The flow is working: one flow timeout, cancel and budget stop for all its phases. */
    active: {
      // Entered through `starting`, which picks planning or running.
      initial: 'running',
      after: {
        flowTimeout: {
          target: 'stopping',
          actions: assign({
            status: 'failed',
            reason: ({ context }) => `flow timed out after ${context.timeoutMs} ms`,
          }),
        },
      },
      on: {
        CANCEL: {
          target: 'stopping',
          actions: assign({ status: 'cancelled', reason: ({ event }) => event.reason ?? 'cancelled' }),
        },
        BUDGET_EXCEEDED: {
          target: 'stopping',
          actions: assign({ status: 'budget_exceeded', reason: ({ event }) => event.reason ?? 'budget exceeded' }),
        },
        FAIL: {
          target: 'stopping',
          actions: assign({ status: 'failed', reason: ({ event }) => event.reason }),
        },
      },
      states: {
        planning: {
          entry: 'spawnPlanner',
          on: {
            'agent.done': [
              { guard: 'validPlan', target: 'running', actions: ['forward', 'takePlan', 'withDependencyOutputs'] },
              { guard: 'canAskAgain', actions: ['forward', 'askPlannerAgain'] },
              {
                target: '#supervisor.stopping',
                actions: [
                  'record',
                  'forward',
                  assign({
                    status: 'failed',
                    reason: ({ context, event }) => {
                      const check = parsePlan(event.result.structured ?? event.result.output, workerNames(context));
                      return `the planner gave no usable plan after ${context.planAttempts} answers: ${check.ok ? '' : check.error}`;
                    },
                  }),
                ],
              },
            ],
            'agent.failed': {
              target: '#supervisor.stopping',
              actions: [
                'record',
                'forward',
                assign({ status: 'failed', reason: ({ event }) => `the planner failed: ${event.error}` }),
              ],
            },
          },
        },
        aggregating: {
          entry: 'askAggregate',
          on: {
            'agent.done': [
              {
                target: '#supervisor.stopping',
                actions: ['takeAggregate', 'forward', assign({ status: 'completed' })],
              },
            ],
            'agent.failed': {
              // The subtasks' work stands; the report says the summary is missing.
              target: '#supervisor.stopping',
              actions: [
                'takeAggregate',
                'forward',
                'concatOutputsIfHierarchical',
                assign({ status: 'completed', reason: ({ event }) => `aggregation failed: ${event.error}` }),
              ],
            },
          },
        },
        running: {
          entry: 'startAgents',
          on: {
            'agent.done': [
              // Only a plan's subtasks have dependencies whose outputs their texts take.
              {
                guard: 'isHierarchical',
                actions: ['record', 'forward', 'stopAgent', 'withDependencyOutputs', 'startAgents'],
              },
              { actions: ['record', 'forward', 'stopAgent', 'startAgents'] },
            ],
            'agent.failed': [
              { guard: 'shouldRetry', actions: ['forward', 'retryAgent'] },
              {
                guard: 'shouldFailFlow',
                target: '#supervisor.stopping',
                actions: [
                  'record',
                  'forward',
                  assign({ status: 'failed', reason: ({ event }) => `agent ${event.agent} failed: ${event.error}` }),
                ],
              },
              { actions: ['record', 'forward', 'stopAgent', 'startAgents'] },
            ],
            'memory.changed': { actions: ['wake', 'startAgents'] },
            'xstate.done.actor.*': [
              {
                guard: 'subflowFailsFlow',
                target: '#supervisor.stopping',
                actions: [
                  'markStopped',
                  'takeSubflow',
                  assign({
                    status: 'failed',
                    reason: ({ event }) =>
                      `sub-plan ${(event.type as string).slice('xstate.done.actor.subflow:'.length)} failed`,
                  }),
                ],
              },
              {
                guard: 'isSubflowDone',
                actions: ['markStopped', 'takeSubflow', 'withDependencyOutputs', 'startAgents'],
              },
              { actions: 'markStopped' },
            ],
          },
          always: [
            {
              guard: ({ context }) =>
                context.queue.length === 0 &&
                context.running.length === 0 &&
                context.mode === 'hierarchical' &&
                context.aggregate === 'agent',
              target: 'aggregating',
            },
            {
              guard: 'allFinished',
              target: '#supervisor.stopping',
              actions: [
                { type: 'concatOutputsIfHierarchical' },
                assign({
                  status: ({ context }) => {
                    const rs = Object.values(context.results);
                    return rs.length > 0 && rs.every((r) => r.status === 'failed') ? 'failed' : 'completed';
                  },
                  reason: ({ context }) => {
                    const never = Object.entries(context.waiting);
                    return never.length
                      ? `not started (memory key never written): ${never.map(([n, k]) => `${n} ← ${k}`).join(', ')}`
                      : undefined;
                  },
                }),
              ],
            },
          ],
        },
      },
    },
    stopping: {
      entry: [
        'stopAll',
        enqueueActions(({ context, enqueue }) =>
          enqueue.emit({ type: 'flow.status', flowId: context.flowId, status: context.status, reason: context.reason }),
        ),
      ],
      on: {
        'agent.done': { actions: ['record', 'forward'] },
        'agent.failed': { actions: ['record', 'forward'] },
        // The run books results as the supervisor records them: the budget's verdict on the
        // results that ended the flow arrives while it stops, and is what ended it.
        BUDGET_EXCEEDED: {
          guard: ({ context }) => context.status !== 'cancelled',
          actions: assign({ status: 'budget_exceeded', reason: ({ event }) => event.reason ?? 'budget exceeded' }),
        },
      },
      always: { guard: 'allStopped', target: 'finished' },
      // Cleanup talks to the server; never let a stuck one keep the flow open.
      after: { 15_000: 'finished' },
    },
    finished: {
      type: 'final',
      entry: assign({ finishedAt: ({ self }) => nowOf(self) }),
    },
  },
  output: ({ context, self }) => ({
    flowId: context.flowId,
    status: context.status === 'running' ? 'failed' : context.status,
    mode: context.mode,
    results: (context.mode === 'hierarchical'
      ? [
          context.results[PLANNER],
          // A sub-supervisor's subtask stands for all its agents' results (their cost with them).
          ...context.agents.flatMap((a) =>
            context.subflows[a.name]?.length ? context.subflows[a.name]! : [context.results[a.name]],
          ),
          context.results[AGGREGATE],
        ]
      : context.agents.map((a) => context.results[a.name])
    )
      .filter((r): r is AgentResult => r !== undefined)
      .map((r) =>
        context.prefix && !r.agent.startsWith(context.prefix) ? { ...r, agent: `${context.prefix}${r.agent}` } : r,
      ),
    ...(context.plan ? { plan: context.plan } : {}),
    ...(context.output !== undefined ? { output: context.output } : {}),
    ...structuredAnswer(context),
    reason: context.reason,
    startedAt: context.startedAt,
    finishedAt: context.finishedAt ?? nowOf(self),
  }),
});

/** The flow's structured answer (see `SupervisorOutput.structured`). */
function structuredAnswer(context: SupervisorContext): { structured?: unknown } {
  if (context.mode === 'hierarchical')
    return context.structured !== undefined ? { structured: context.structured } : {};
  for (let i = context.agents.length - 1; i >= 0; i--) {
    const r = context.results[context.agents[i]!.name];
    if (r?.status === 'done' && r.structured !== undefined) return { structured: r.structured };
  }
  return {};
}

export type SupervisorActorRef = ActorRefFrom<typeof supervisorMachine>;
export type SupervisorSnapshot = SnapshotFrom<typeof supervisorMachine>;

/**
 * The supervisor with sub-supervisors for decomposed subtasks, `maxDepth` levels deep: a
 * machine cannot name itself in its own `setup`, so each level is given the next one.
 *
 * @example
 * ```ts
 * const machine = withSubflows(supervisorMachine.provide({ actors: { agent } }));
 * createActor(machine, { input }).start();
 * ```
 */
export function withSubflows<M extends typeof supervisorMachine>(machine: M, maxDepth = 3): M {
  if (maxDepth <= 1) return machine;
  // Every level below the top passes its agents' events up to the supervisor that spawned it.
  const nested = machine.provide({
    actions: {
      forward: sendParent(({ context, event }: { context: SupervisorContext; event: SupervisorEvent }) => ({
        type: 'subflow.event' as const,
        event: notification(event, context.prefix),
      })),
    },
  }) as M;
  let level = nested;
  for (let i = 2; i < maxDepth; i++) level = nested.provide({ actors: { subflow: level as never } }) as M;
  return machine.provide({ actors: { subflow: level as never } }) as M;
}

/** The agent's event a `forward` carries: a sub-supervisor's as it came, one of ours with our prefix. */
function notification(event: SupervisorEvent, prefix: string): AgentNotification {
  return event.type === 'subflow.event' ? event.event : prefixed(event as AgentNotification, prefix);
}
