import type { InputRequest } from '../../machines/input-policy.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { PendingInputs, type ReplyAnswer } from './inputs.js';
import { routeToolCall, type ToolCallRoute } from './memory-routing.js';
import type { RunPlan } from './plan.js';
import { FlowRun, type RunHost, type SessionCaller } from './run.js';

/**
 * A host's live runs: the set itself, the sessions their agents opened (so a tool call finds
 * its run), and the human inputs they wait on. Opening, cancelling and detaching runs, and
 * placing a tool call, happen here.
 */
export class LiveRuns {
  readonly #runs = new Map<string, FlowRun>();
  /** OpenCode session → the run whose agent opened it (tool calls are placed by it). */
  readonly #sessions = new Map<string, SessionCaller>();
  readonly inputs = new PendingInputs();

  constructor(
    private readonly hostId: string,
    /** The host's parts a run uses (after the host started). */
    private readonly parts: () => Omit<RunHost, 'inputs' | 'sessionOpened' | 'runEnded'>,
    /** Told when a run has ended. */
    private readonly onEnd: (run: FlowRun) => void,
  ) {}

  /** Where a tool call made from `session` belongs (the one rule: {@link routeToolCall}). */
  route(session: string | undefined): ToolCallRoute {
    return routeToolCall({ session, sessions: this.#sessions, runs: this.ids(), hostId: this.hostId });
  }

  /** Open a run of `plan` on the host's parts, not started yet. */
  open(plan: RunPlan): FlowRun {
    if (this.#runs.has(plan.flowId))
      throw new FlowError(FlowErrorCode.InvalidConfig, `flow "${plan.flowId}" is running already`);
    const run = new FlowRun(
      {
        ...this.parts(),
        inputs: this.inputs,
        sessionOpened: (sessionID, caller) => this.#sessions.set(sessionID, caller),
        runEnded: (r) => {
          if (this.#runs.get(r.flowId) === r) this.#runs.delete(r.flowId);
          for (const s of r.sessions()) this.#sessions.delete(s);
          this.onEnd(r);
        },
      },
      plan,
    );
    this.#runs.set(plan.flowId, run);
    return run;
  }

  /** Ids of the runs going now. */
  ids(): string[] {
    return [...this.#runs.keys()];
  }

  /** The runs going now (all, or the one named). */
  select(flowId?: string): FlowRun[] {
    return [...this.#runs.values()].filter((r) => !flowId || r.flowId === flowId);
  }

  reply(requestId: string, answer: ReplyAnswer): void {
    this.inputs.reply(requestId, answer);
  }

  pending(flowId?: string): Array<{ flowId: string; agent: string; request: InputRequest }> {
    return this.inputs.list(flowId);
  }

  cancel(flowId: string | undefined, reason: string): void {
    for (const run of this.select(flowId)) run.cancel(reason);
  }

  /** Store the runs (all, or one) for `resume` and stop their actors; resolves once they have ended. */
  async detach(flowId?: string): Promise<void> {
    const chosen = this.select(flowId);
    await Promise.all(chosen.map((r) => r.detach()));
    await Promise.allSettled(chosen.map((r) => r.settled()));
  }
}
