import { createActor, toPromise, type AnyActorRef, type AnyStateMachine, type InspectionEvent } from 'xstate';
import type { TellingClock } from '../../machines/clock.js';
import { agentMachine, type AgentNotification, type AgentResult } from '../../machines/agent.js';
import {
  PLANNER,
  prefixed,
  supervisorMachine,
  withSubflows,
  type SupervisorInput,
  type SupervisorOutput,
} from '../../machines/supervisor.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { StoredFlowMeta } from '../store/store.js';
import type { FlowStarted } from './events.js';
import type { CustomRunPlan, CustomRunSnapshot, RunPlan, SupervisorRunPlan } from './plan.js';
import { toReport, type RunReport, type RunStatus } from './report.js';

type AnyRef = AnyActorRef & { logic?: { id?: string } };

/** Agent actors under `root`, at any depth. */
export function agentsUnder(root: AnyActorRef): AnyRef[] {
  const out: AnyRef[] = [];
  const walk = (ref: AnyActorRef) => {
    const children = (ref.getSnapshot() as { children?: Record<string, AnyRef> }).children ?? {};
    for (const child of Object.values(children)) {
      if (child.logic?.id === agentMachine.id) out.push(child);
      else walk(child);
    }
  };
  walk(root);
  return out;
}

/** The actors from `root` down to `target` (both included), or undefined when it is not under it. */
function pathTo(root: AnyActorRef, target: AnyActorRef): AnyActorRef[] | undefined {
  if (root === target) return [root];
  const children = (root.getSnapshot() as { children?: Record<string, AnyActorRef> }).children ?? {};
  for (const child of Object.values(children)) {
    const rest = pathTo(child, target);
    if (rest) return [root, ...rest];
  }
  return undefined;
}

/** What a machine kind gets from the run it runs in. */
export interface KindContext {
  flowId: string;
  /** The agent logic of this run (its OpenCode effects, its prompt timeout). */
  agent: AnyStateMachine;
  inspect?: (ev: InspectionEvent) => void;
  /** The clock the run's actors are created with (machines read the time from it: `machines/clock.ts`). */
  clock: TellingClock;
  /** Every agent event of the run, whatever machine it came through. */
  intake(e: AgentNotification): void;
  /** Agents' results of a custom run so far (the supervisor's output carries its own). */
  results: AgentResult[];
  /** Agents' names seen so far (a custom run's meta). */
  agentNames(): string[];
  /** Booked so far, USD (the run's cost owner). */
  spent(): number;
  maxCost?: number;
}

/**
 * A machine kind's part of a run: how its actor is made, what is stored of it, how it is told
 * to end and how its ending reads as a report. `FlowRun` does everything else the same for
 * every kind (cost, events, persistence, inputs, servers, cancel, detach, cleanup).
 */
export interface RunKind {
  readonly actor: AnyActorRef;
  readonly startedAt: number;
  /** What `flow.started` says. */
  started(): Omit<FlowStarted, 'flowId'>;
  /** The stored meta and snapshot, now; `ended` is the status once the report is known. */
  stored(
    ended: RunStatus | undefined,
    reason: string | undefined,
  ): {
    meta: Omit<StoredFlowMeta, 'flowId' | 'updatedAt'>;
    snapshot: unknown;
  };
  /** Tell the machine to end with `status`. */
  stop(status: RunStatus, reason: string): void;
  /** The report, from how the actor ended (`ending`: how the run ended it, if it did). */
  report(
    o: {
      output?: unknown;
      failure?: string;
      /** How the run ended it, if it did. */
      ending?: { status: RunStatus; reason: string };
      /** Why the run's cost owner stopped it, if it did. */
      overBudget?: string;
    },
    finishedAt: number,
  ): RunReport<unknown>;
  /** What a detached run's `start()` rejects with. */
  detachedError(): FlowError;
  /** Whole-run timeout (ms) the run keeps, when the machine keeps none of its own. */
  readonly timeoutMs?: number;
}

/** The built-in supervisor (parallel, sequential, hierarchical): it winds down by itself when told. */
function supervisorKind(ctx: KindContext, plan: SupervisorRunPlan): RunKind {
  const maxDepth =
    'input' in plan.from
      ? plan.from.input.maxDepth
      : (plan.from.snapshot as { context?: { maxDepth?: number } }).context?.maxDepth;
  const machine = withSubflows(supervisorMachine.provide({ actors: { agent: ctx.agent as never } }), maxDepth ?? 3);
  const inspect = { clock: ctx.clock, ...(ctx.inspect ? { inspect: ctx.inspect } : {}) };
  const actor =
    'input' in plan.from
      ? createActor(machine, { id: ctx.flowId, input: plan.from.input, ...inspect })
      : // The input is ignored on restore; the snapshot carries the context.
        createActor(machine, {
          id: ctx.flowId,
          snapshot: plan.from.snapshot as never,
          input: undefined as unknown as SupervisorInput,
          ...inspect,
        });
  // The supervisor emits its agents' events (sub-supervisors' too, names prefixed).
  actor.on('*', (e) => {
    if (e.type.startsWith('agent.')) ctx.intake(e as AgentNotification);
  });
  const startedAt = actor.getSnapshot().context.startedAt;
  return {
    actor,
    startedAt,
    started() {
      const c = actor.getSnapshot().context;
      const specs = [...c.agents, ...(c.planner ? [{ ...c.planner, name: PLANNER }] : [])];
      return {
        mode: plan.info.mode,
        agents: plan.info.agents,
        task: plan.info.task,
        models: Object.fromEntries(specs.map((s) => [s.name, s.model ?? ''])),
        ...(ctx.maxCost !== undefined ? { maxCost: ctx.maxCost } : {}),
      };
    },
    stored() {
      const snap = actor.getSnapshot();
      const c = snap.context;
      return {
        meta: {
          task: plan.info.task,
          mode: plan.info.mode,
          agents: plan.info.agents,
          status: snap.status === 'done' ? (snap.output?.status ?? c.status) : 'running',
          cost: ctx.spent(),
          startedAt: c.startedAt ?? startedAt,
          ...(c.reason ? { reason: c.reason } : {}),
        },
        snapshot: actor.getPersistedSnapshot(),
      };
    },
    stop(status, reason) {
      actor.send(
        status === 'budget_exceeded'
          ? { type: 'BUDGET_EXCEEDED', reason }
          : status === 'failed'
            ? { type: 'FAIL', reason }
            : { type: 'CANCEL', reason },
      );
    },
    report({ output, failure, overBudget }) {
      const out = output as SupervisorOutput | undefined;
      if (!out) throw new FlowError(FlowErrorCode.Internal, failure ?? 'the supervisor ended without a report');
      // The run owns the budget: over it, the run ended for that, whatever else ended last.
      return toReport(
        overBudget !== undefined && out.status !== 'cancelled' && out.status !== 'budget_exceeded'
          ? { ...out, status: 'budget_exceeded', reason: overBudget }
          : out,
      );
    },
    detachedError: () =>
      new FlowError(
        FlowErrorCode.Cancelled,
        `flow ${ctx.flowId} was detached: its agents go on (or are prompted again) when it is resumed (opencode-flow resume ${ctx.flowId})`,
      ),
  };
}

/**
 * The caller's own machine: it may not know CANCEL, so the run stops its agents (busy ones
 * abort and report what they cost so far), then the machine. Its agents report to the
 * machine that spawned them, at any depth; the run picks their reports up on the way, as the
 * inspection stream shows them.
 */
function customKind(ctx: KindContext, plan: CustomRunPlan): RunKind {
  let machine = plan.machine.provide({ actors: { agent: ctx.agent } } as never) as AnyStateMachine;
  // A machine built on the supervisor (planExecuteMachine) gets its sub-supervisors too.
  if ('subflow' in (plan.machine.implementations.actors ?? {})) {
    machine = withSubflows(machine as unknown as typeof supervisorMachine) as unknown as AnyStateMachine;
  }
  const startedAt = plan.restore?.startedAt ?? ctx.clock.now();
  let root: AnyActorRef | undefined;
  const actor = createActor(machine, {
    id: ctx.flowId,
    clock: ctx.clock,
    input: plan.input as never,
    ...(plan.restore ? { snapshot: plan.restore.snapshot.actor as never } : {}),
    inspect: (ev) => {
      ctx.inspect?.(ev);
      if (ev.type !== '@xstate.event' || root === undefined) return;
      const source = ev.sourceRef as AnyRef | undefined;
      if (source?.logic?.id !== agentMachine.id || source.system !== root.system) return;
      const e = ev.event as AgentNotification;
      if (typeof e.type !== 'string' || !e.type.startsWith('agent.')) return;
      // An event to several targets is seen once per target: take it on its way to the
      // machine that holds the agent as a child (found from the root down, never through `_parent`).
      const path = pathTo(root, source);
      if (!path || path.at(-2) !== ev.actorRef) return;
      // Under a sub-supervisor (a machine built on the supervisor), named by its place in the
      // tree as the supervisor itself names it: `coder:s3/tester:t1`.
      let prefix = '';
      for (const p of path.slice(1, -1)) if (p.id.startsWith('subflow:')) prefix += `${p.id.slice(8)}/`;
      ctx.intake(prefixed(e, prefix));
    },
  });
  root = actor;
  return {
    actor,
    startedAt,
    timeoutMs: plan.timeoutMs,
    started: () => ({ mode: 'custom', agents: [], task: plan.machine.id }),
    stored(ended, reason) {
      const snap = actor.getSnapshot() as { status: string };
      return {
        meta: {
          task: plan.machine.id,
          mode: 'custom',
          agents: ctx.agentNames(),
          status: ended ?? (snap.status === 'done' ? 'completed' : 'running'),
          cost: ctx.spent(),
          ...(ctx.maxCost !== undefined ? { maxCost: ctx.maxCost } : {}),
          startedAt,
          ...(reason ? { reason } : {}),
        },
        snapshot: {
          kind: 'custom',
          actor: actor.getPersistedSnapshot(),
          results: ctx.results,
        } satisfies CustomRunSnapshot,
      };
    },
    stop() {
      const agents = agentsUnder(actor);
      for (const a of agents) a.send({ type: 'STOP' });
      void Promise.race([
        Promise.allSettled(agents.map((a) => toPromise(a))),
        new Promise((r) => setTimeout(r, 15_000).unref()),
      ]).finally(() => actor.stop());
    },
    report({ output, failure, ending }, finishedAt) {
      const make = (status: RunStatus, reason?: string, out?: unknown): RunReport<unknown> => ({
        ...toReport({
          flowId: ctx.flowId,
          status,
          mode: 'custom',
          results: ctx.results,
          startedAt,
          finishedAt,
          ...(reason ? { reason } : {}),
        }),
        ...(out !== undefined ? { output: out } : {}),
      });
      // Stopping an actor completes it too, with no output: only a final state is `done`.
      const reachedFinal = (actor.getSnapshot() as { status: string }).status === 'done';
      if (ending) return make(ending.status, ending.reason, reachedFinal ? output : undefined);
      if (failure !== undefined) return make('failed', failure);
      if (!reachedFinal) return make('failed', 'the machine was stopped');
      return make('completed', undefined, output);
    },
    detachedError: () =>
      new FlowError(
        FlowErrorCode.Cancelled,
        `flow ${ctx.flowId} was detached: continue it with run(machine, input, { flowId: "${ctx.flowId}", resume: true })`,
      ),
  };
}

/** The adapter for a plan's machine kind. */
export function runKindOf(ctx: KindContext, plan: RunPlan): RunKind {
  return plan.kind === 'supervisor' ? supervisorKind(ctx, plan) : customKind(ctx, plan);
}
