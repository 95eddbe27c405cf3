import { sendTo, spawnChild } from 'xstate';
import type { AgentNotification, AgentSpec, AgentTask } from '../agent.js';
import { agentActorId } from '../supervisor.js';

/**
 * Building blocks for your own coordination machines. Register the agent logic as
 * `agent` in `setup({ actors: { agent: agentMachine } })`, spawn agents with
 * {@link spawnAgent}, talk to them with {@link promptAgent}, react to `agent.done` /
 * `agent.failed` events (guards {@link agentDone}, {@link agentFailed}), and run the
 * machine with `flow.run(machine, input)`, which supplies the real OpenCode effects.
 *
 * @example
 * ```ts
 * const m = setup({ actors: { agent: agentMachine } }).createMachine({
 *   entry: spawnAgent('coder', ({ context }) => context.coder, { id: 't1', text: 'Write it' }),
 *   on: { 'agent.done': { guard: agentDone('coder'), target: '.done' } },
 *   ...
 * });
 * ```
 */
type Resolver<T> = T | ((args: { context: any; event: any }) => T);

/**
 * XState types an action by the machine it belongs to; these helpers serve any machine,
 * so they hand back an action the caller's `setup()` accepts as its own.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyMachineAction = any;

const resolve = <T>(v: Resolver<T>, args: { context: unknown; event: unknown }): T =>
  typeof v === 'function' ? (v as (a: { context: unknown; event: unknown }) => T)(args as never) : v;

/** Spawn an agent child named `name` (actor id `agent:<name>`), optionally with a first task. */
export function spawnAgent(
  name: string,
  spec: Resolver<Omit<AgentSpec, 'name'> & { name?: string }>,
  task?: Resolver<AgentTask | undefined>,
): AnyMachineAction {
  return spawnChild('agent' as never, {
    id: agentActorId(name),
    input: (args: { context: unknown; event: unknown }) => ({
      spec: { ...resolve(spec, args), name },
      task: task === undefined ? undefined : resolve(task, args),
    }),
  } as never);
}

/** Send a task to a spawned agent (it must be `ready`, `done` or `failed`). */
export function promptAgent(name: string, task: Resolver<AgentTask>): AnyMachineAction {
  return sendTo(agentActorId(name), (args: { context: unknown; event: unknown }) => ({ type: 'PROMPT' as const, task: resolve(task, args) }));
}

/** Stop an agent: it aborts if busy and cleans its session up. */
export function stopAgent(name: string): AnyMachineAction {
  return sendTo(agentActorId(name), { type: 'STOP' as const });
}

/** Guard: this event is `agent.done` from `name`. */
export const agentDone =
  (name: string) =>
  ({ event }: { event: { type: string; agent?: string } }): boolean =>
    event.type === 'agent.done' && event.agent === name;

/** Guard: this event is `agent.failed` from `name`. */
export const agentFailed =
  (name: string) =>
  ({ event }: { event: { type: string; agent?: string } }): boolean =>
    event.type === 'agent.failed' && event.agent === name;

/** The events agents send to the machine that spawned them. */
export type AgentEventFor<T extends AgentNotification['type']> = Extract<AgentNotification, { type: T }>;
