import {
  enqueueActions,
  sendTo,
  spawnChild,
  type ActionFunction,
  type AnyActorRef,
  type EventObject,
  type MachineContext,
  type ParameterizedObject,
  type ProvidedActor,
} from 'xstate';
import type { AgentNotification, AgentResult, AgentSpec, AgentTask } from '../agent.js';
import { agentActorId } from '../supervisor.js';

/**
 * Building blocks for your own coordination machines, typed against your machine: each takes
 * plain values or functions of `{ context, event }` with your machine's context and event
 * types (inferred where the action is used, as XState's own `assign` is).
 *
 * - Register the agent logic as `agent`: `setup({ actors: { agent: agentMachine } })`.
 * - {@link spawnAgent} starts an agent child (actor id `agent:<name>`), optionally on a task;
 *   {@link promptAgent} / {@link promptAgents} give tasks; {@link stopAgent} stops one.
 * - Agents answer with `agent.done` / `agent.failed` ({@link AgentEvents}); guards
 *   {@link agentDone}, {@link agentFailed}; {@link joinAgents} raises `agents.joined` when
 *   every agent of a fan-out finished, or one failed.
 * - Run the machine with `flow.run(machine, input)`, which supplies the real OpenCode effects
 *   and stops every agent it spawned when the machine ends.
 *
 * @example
 * ```ts
 * const m = setup({ types: { context: {} as { spec: AgentSpec }, events: {} as AgentEvents }, actors: { agent: agentMachine } }).createMachine({
 *   entry: promptAgents(['a', 'b'], { id: 't1', text: 'Review it' }),
 *   on: { 'agent.done': { actions: joinAgents(['a', 'b']) }, 'agents.joined': { target: '.merge' } },
 *   ...
 * });
 * ```
 */

/** The events agents send to the machine that spawned them, and the join's: use as (or in) your machine's `events`. */
export type AgentEvents = AgentNotification | AgentsJoinedEvent;

/** One of {@link AgentEvents} by type. */
export type AgentEventFor<T extends AgentNotification['type']> = Extract<AgentNotification, { type: T }>;

/** A value, or a function of the action's `{ context, event }`. */
export type Resolver<T, TContext, TEvent> = T | ((args: { context: TContext; event: TEvent }) => T);

/** What {@link spawnAgent} takes as the agent: an agent spec, its name optional (the first argument names it). */
export type AgentSpecInput = Omit<AgentSpec, 'name'> & { name?: string };

type Action<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
> = ActionFunction<
  TContext,
  TExpressionEvent,
  TEvent,
  ParameterizedObject['params'] | undefined,
  TActor,
  never,
  never,
  never,
  never
>;

const resolve = <T, C, E>(v: Resolver<T, C, E>, args: { context: C; event: E }): T =>
  typeof v === 'function' ? (v as (a: { context: C; event: E }) => T)(args) : v;

/**
 * Spawn an agent child named `name` (actor id `agent:<name>`), optionally with a first task.
 *
 * @example
 * ```ts
 * entry: spawnAgent('coder', ({ context }) => context.coder, ({ context }) => ({ id: 'code-1', text: context.task })),
 * ```
 */
export function spawnAgent<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  name: string,
  spec: Resolver<AgentSpecInput, TContext, TExpressionEvent>,
  task?: Resolver<AgentTask | undefined, TContext, TExpressionEvent>,
): Action<TContext, TExpressionEvent, TEvent, TActor> {
  return spawnChild(
    'agent' as never,
    {
      id: agentActorId(name),
      input: (args: { context: TContext; event: TExpressionEvent }) => ({
        spec: { ...resolve(spec, args), name },
        task: task === undefined ? undefined : resolve(task, args),
      }),
    } as never,
  ) as unknown as Action<TContext, TExpressionEvent, TEvent, TActor>;
}

/**
 * Send a task to a spawned agent (it must be `ready`, `done` or `failed`).
 *
 * @example
 * ```ts
 * entry: promptAgent('reviewer', ({ context }) => ({ id: `review-${context.round}`, text: context.code })),
 * ```
 */
export function promptAgent<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  name: string,
  task: Resolver<AgentTask, TContext, TExpressionEvent>,
): Action<TContext, TExpressionEvent, TEvent, TActor> {
  return sendTo(agentActorId(name), (args: { context: TContext; event: TExpressionEvent }) => ({
    type: 'PROMPT' as const,
    task: resolve(task, args),
  })) as unknown as Action<TContext, TExpressionEvent, TEvent, TActor>;
}

/**
 * Send the same task (or one per agent, from a function of the agent's name) to several
 * spawned agents at once: the fan-out half of a join (see {@link joinAgents}).
 *
 * @example
 * ```ts
 * entry: promptAgents(['security', 'perf'], ({ context }) => ({ id: 'review', text: context.diff })),
 * ```
 */
export function promptAgents<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  names: readonly string[],
  task: AgentTask | ((args: { context: TContext; event: TExpressionEvent; agent: string }) => AgentTask),
): Array<Action<TContext, TExpressionEvent, TEvent, TActor>> {
  return names.map((agent) =>
    promptAgent<TContext, TExpressionEvent, TEvent, TActor>(agent, (args) =>
      typeof task === 'function' ? task({ ...args, agent }) : task,
    ),
  );
}

/**
 * Stop an agent: it aborts if busy and cleans its session up.
 *
 * @example
 * ```ts
 * entry: [stopAgent('coder'), stopAgent('reviewer')],
 * ```
 */
export function stopAgent<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(name: string): Action<TContext, TExpressionEvent, TEvent, TActor> {
  return sendTo(agentActorId(name), { type: 'STOP' as const }) as unknown as Action<
    TContext,
    TExpressionEvent,
    TEvent,
    TActor
  >;
}

/** Guard: this event is `agent.done` from `name`. */
export const agentDone =
  (name: string) =>
  ({ event }: { event: EventObject }): boolean =>
    event.type === 'agent.done' && (event as AgentEventFor<'agent.done'>).agent === name;

/** Guard: this event is `agent.failed` from `name`. */
export const agentFailed =
  (name: string) =>
  ({ event }: { event: EventObject }): boolean =>
    event.type === 'agent.failed' && (event as AgentEventFor<'agent.failed'>).agent === name;

/** What {@link joinAgents} raises once every agent of a join finished its task, or one failed. */
export interface AgentsJoinedEvent {
  type: 'agents.joined';
  /** The agents joined, in the order given. */
  agents: string[];
  /** Their latest results (a failed one's too), in that order. */
  results: AgentResult[];
  /** The agents whose task failed (empty when all are done). */
  failed: string[];
}

type AgentChild = AnyActorRef & { getSnapshot(): { value: unknown; context?: { result?: AgentResult } } };

/**
 * The join of a fan-out: on each `agent.done` / `agent.failed`, look at the named agents and,
 * once all of them are `done` or one is `failed`, raise `agents.joined` with their results.
 * (Guards see no actors in XState 5, so the join is an action that raises an event.)
 *
 * @example
 * ```ts
 * fanOut: {
 *   entry: promptAgents(['security', 'perf'], { id: 'review', text: 'Review the diff' }),
 *   on: {
 *     'agent.done': { actions: joinAgents(['security', 'perf']) },
 *     'agent.failed': { actions: joinAgents(['security', 'perf']) },
 *     'agents.joined': [{ guard: ({ event }) => event.failed.length > 0, target: 'failed' }, { target: 'merge' }],
 *   },
 * },
 * ```
 */
export function joinAgents<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(names: readonly string[]): Action<TContext, TExpressionEvent, TEvent, TActor> {
  return enqueueActions(({ self, enqueue }) => {
    const children = (self.getSnapshot() as { children?: Record<string, AgentChild | undefined> }).children ?? {};
    const snaps = names.map((n) => children[agentActorId(n)]?.getSnapshot());
    const states = snaps.map((s) => (typeof s?.value === 'string' ? s.value : undefined));
    const failed = names.filter((_, i) => states[i] === 'failed');
    if (failed.length === 0 && !states.every((st) => st === 'done')) return;
    const results = snaps.map((s) => s?.context?.result).filter((r): r is AgentResult => r !== undefined);
    enqueue.raise({ type: 'agents.joined', agents: [...names], results, failed } satisfies AgentsJoinedEvent as never);
  }) as unknown as Action<TContext, TExpressionEvent, TEvent, TActor>;
}
