import { and, assign, setup } from 'xstate';
import { agentMachine, type AgentNotification, type AgentResult, type AgentSpec } from '../agent.js';
import { agentDone, agentFailed, promptAgent, spawnAgent, stopAgent } from './helpers.js';

/**
 * Review loop: the coder works, the reviewer reviews; until the reviewer approves
 * (`VERDICT: APPROVE`, as the reviewer preset answers) or `maxRounds` reviews happened,
 * the coder gets the review and works again. Run it with `flow.run(reviewLoopMachine, input)`.
 *
 * @example
 * ```ts
 * const out = await flow.run(reviewLoopMachine, {
 *   task: 'Add input validation to POST /todos',
 *   coder: flow.agentSpec('coder'),
 *   reviewer: flow.agentSpec('reviewer'),
 *   maxRounds: 3,
 * });
 * out.approved; out.rounds;
 * ```
 */
export interface ReviewLoopInput {
  task: string;
  coder: AgentSpec;
  reviewer: AgentSpec;
  /** Reviews at most. Default 3. */
  maxRounds?: number;
  /** How an approving review is recognised. Default /VERDICT:\s*APPROVE/i. */
  approvePattern?: string;
}

export interface ReviewLoopOutput {
  approved: boolean;
  rounds: number;
  /** The coder's last output. */
  code: string;
  /** The reviewer's last output. */
  review: string;
  results: AgentResult[];
  error?: string;
}

interface Ctx {
  task: string;
  coder: AgentSpec;
  reviewer: AgentSpec;
  maxRounds: number;
  approvePattern: string;
  round: number;
  code: string;
  review: string;
  approved: boolean;
  results: AgentResult[];
  error?: string;
  /** Agents not yet stopped. */
  live: number;
}

type Ev = AgentNotification | { type: 'xstate.done.actor.*' };

export const reviewLoopMachine = setup({
  types: { context: {} as Ctx, input: {} as ReviewLoopInput, events: {} as Ev, output: {} as ReviewLoopOutput },
  actors: { agent: agentMachine },
  guards: {
    reviewerDone: agentDone('reviewer'),
    reviewerApproved: ({ context, event }) =>
      event.type === 'agent.done' &&
      event.agent === 'reviewer' &&
      new RegExp(context.approvePattern, 'i').test(event.result.output),
    roundsLeft: ({ context }) => context.round < context.maxRounds,
    allStopped: ({ context }) => context.live <= 0,
  },
  actions: {
    keep: assign({
      results: ({ context, event }) => ('result' in event ? [...context.results, event.result] : context.results),
    }),
  },
}).createMachine({
  id: 'review-loop',
  context: ({ input }) => ({
    task: input.task,
    coder: input.coder,
    reviewer: input.reviewer,
    maxRounds: input.maxRounds ?? 3,
    approvePattern: input.approvePattern ?? 'VERDICT:\\s*APPROVE',
    round: 0,
    code: '',
    review: '',
    approved: false,
    results: [],
    live: 2,
  }),
  entry: [
    spawnAgent(
      'coder',
      ({ context }) => context.coder,
      ({ context }) => ({ id: 'code-1', text: context.task }),
    ),
    spawnAgent('reviewer', ({ context }) => context.reviewer),
  ],
  initial: 'coding',
  states: {
    coding: {
      on: {
        'agent.done': {
          guard: agentDone('coder'),
          target: 'reviewing',
          actions: ['keep', assign({ code: ({ event }) => event.result.output })],
        },
        'agent.failed': {
          guard: agentFailed('coder'),
          target: 'finished',
          actions: ['keep', assign({ error: ({ event }) => `coder failed: ${event.error}` })],
        },
      },
    },
    reviewing: {
      entry: [
        assign({ round: ({ context }) => context.round + 1 }),
        promptAgent('reviewer', ({ context }) => ({
          id: `review-${context.round}`,
          text: `${context.task}\n\n# Review round ${context.round} of ${context.maxRounds}\n\nReview this work by the coder. End with "VERDICT: APPROVE" or "VERDICT: CHANGES_REQUESTED".\n\n${context.code}`,
        })),
      ],
      on: {
        'agent.done': [
          {
            guard: 'reviewerApproved',
            target: 'finished',
            actions: ['keep', assign({ review: ({ event }) => event.result.output, approved: true })],
          },
          {
            guard: and(['reviewerDone', 'roundsLeft']),
            target: 'revising',
            actions: ['keep', assign({ review: ({ event }) => event.result.output })],
          },
          {
            guard: 'reviewerDone',
            target: 'finished',
            actions: ['keep', assign({ review: ({ event }) => event.result.output })],
          },
        ],
        'agent.failed': {
          guard: agentFailed('reviewer'),
          target: 'finished',
          actions: ['keep', assign({ error: ({ event }) => `reviewer failed: ${event.error}` })],
        },
      },
    },
    revising: {
      entry: promptAgent('coder', ({ context }) => ({
        id: `code-${context.round + 1}`,
        text: `${context.task}\n\n# The reviewer asked for changes (round ${context.round})\n\n${context.review}\n\nRevise your work accordingly.`,
      })),
      on: {
        'agent.done': {
          guard: agentDone('coder'),
          target: 'reviewing',
          actions: ['keep', assign({ code: ({ event }) => event.result.output })],
        },
        'agent.failed': {
          guard: agentFailed('coder'),
          target: 'finished',
          actions: ['keep', assign({ error: ({ event }) => `coder failed: ${event.error}` })],
        },
      },
    },
    finished: {
      // Both agents clean their sessions up (final state `stopped`) before the flow ends.
      entry: [stopAgent('coder'), stopAgent('reviewer')],
      on: { 'xstate.done.actor.*': { actions: assign({ live: ({ context }) => context.live - 1 }) } },
      always: { guard: 'allStopped', target: 'done' },
      after: { 15_000: 'done' },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({
    approved: context.approved,
    rounds: context.round,
    code: context.code,
    review: context.review,
    results: context.results,
    ...(context.error ? { error: context.error } : {}),
  }),
});
