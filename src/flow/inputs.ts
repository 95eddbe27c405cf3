import type { InputAnswer, InputRequest } from '../../machines/input-policy.js';
import { FlowError, FlowErrorCode } from '../errors.js';

/** A request an agent waits on, and how to deliver the answer to that agent. */
export interface PendingInput {
  flowId: string;
  agent: string;
  request: InputRequest;
  send: (e: { type: 'INPUT_REPLY'; requestId: string; answer: InputAnswer }) => void;
}

/** What `reply` takes: `'once' | 'always' | 'reject'` for a permission, one answer list per question for a question. */
export type ReplyAnswer = 'once' | 'always' | 'reject' | string[][];

/**
 * Human-input requests agents are waiting on, across the host's runs: each run adds its
 * agents' `agent.input_required` requests and removes them when answered or when it ends;
 * `reply` routes an answer to the agent that asked, whatever kind of run it is in.
 *
 * @example
 * ```ts
 * inputs.add({ flowId, agent: 'coder', request, send: (e) => agentRef.send(e) });
 * inputs.reply(request.id, 'once');
 * ```
 */
export class PendingInputs {
  readonly #pending = new Map<string, PendingInput>();

  add(p: PendingInput): void {
    this.#pending.set(p.request.id, p);
  }

  delete(requestId: string): void {
    this.#pending.delete(requestId);
  }

  /** Forget every request of a run (it ended). */
  dropRun(flowId: string): void {
    for (const [id, p] of this.#pending) if (p.flowId === flowId) this.#pending.delete(id);
  }

  /** Requests waiting now (all runs, or one). */
  list(flowId?: string): Array<{ flowId: string; agent: string; request: InputRequest }> {
    return [...this.#pending.values()]
      .filter((p) => !flowId || p.flowId === flowId)
      .map(({ flowId: f, agent, request }) => ({ flowId: f, agent, request }));
  }

  /** Send an answer; throws a `FlowError` for an unknown request or an answer of the wrong shape. */
  reply(requestId: string, answer: ReplyAnswer): void {
    const pending = this.#pending.get(requestId);
    if (!pending) throw new FlowError(FlowErrorCode.InvalidConfig, `no agent is waiting on request "${requestId}"`);
    const a: InputAnswer = Array.isArray(answer) ? { answers: answer } : { reply: answer };
    if (pending.request.kind === 'permission' && 'answers' in a) {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `request "${requestId}" is a permission: answer 'once', 'always' or 'reject'`,
      );
    }
    if (pending.request.kind === 'question' && 'reply' in a && a.reply !== 'reject') {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `request "${requestId}" is a question: answer with one list of choices per question, or 'reject'`,
      );
    }
    pending.send({ type: 'INPUT_REPLY', requestId, answer: a });
  }
}
