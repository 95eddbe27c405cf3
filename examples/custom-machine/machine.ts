/**
 * A custom coordination machine: two reviewers give independent opinions in parallel;
 * when they disagree, an architect breaks the tie. Written with the building blocks
 * opencode-flow exports, run with `flow.run(secondOpinionMachine, input)`.
 */
import { assign, setup } from 'xstate';
import { agentDone, agentMachine, promptAgent, spawnAgent, type AgentEvents, type AgentSpec } from 'opencode-flow';

export interface SecondOpinionInput {
  change: string;
  reviewer: AgentSpec;
  architect: AgentSpec;
}

type Verdict = 'approve' | 'reject';

const verdictOf = (text: string): Verdict => (/VERDICT:\s*APPROVE/i.test(text) ? 'approve' : 'reject');

export const secondOpinionMachine = setup({
  types: {
    input: {} as SecondOpinionInput,
    context: {} as SecondOpinionInput & { a?: Verdict; b?: Verdict; final?: Verdict; tieBreak: boolean },
    events: {} as AgentEvents,
    output: {} as { verdict: Verdict; unanimous: boolean; tieBreak: boolean },
  },
  actors: { agent: agentMachine },
}).createMachine({
  id: 'second-opinion',
  context: ({ input }) => ({ ...input, tieBreak: false }),
  entry: [
    spawnAgent(
      'first',
      ({ context }) => context.reviewer,
      ({ context }) => ({ id: 'first', text: `Review this change:\n\n${context.change}` }),
    ),
    spawnAgent(
      'second',
      ({ context }) => context.reviewer,
      ({ context }) => ({ id: 'second', text: `Review this change:\n\n${context.change}` }),
    ),
  ],
  initial: 'reviewing',
  states: {
    reviewing: {
      on: {
        'agent.done': [
          { guard: agentDone('first'), actions: assign({ a: ({ event }) => verdictOf(event.result.output) }) },
          { guard: agentDone('second'), actions: assign({ b: ({ event }) => verdictOf(event.result.output) }) },
        ],
      },
      always: [
        {
          guard: ({ context }) => !!context.a && context.a === context.b,
          target: 'decided',
          actions: assign({ final: ({ context }) => context.a }),
        },
        { guard: ({ context }) => !!context.a && !!context.b, target: 'tieBreak' },
      ],
    },
    tieBreak: {
      entry: [
        assign({ tieBreak: true }),
        spawnAgent('architect', ({ context }) => context.architect),
        promptAgent('architect', ({ context }) => ({
          id: 'tie-break',
          text: `Two reviewers disagree about this change. Decide. End with "VERDICT: APPROVE" or "VERDICT: REJECT".\n\n${context.change}`,
        })),
      ],
      on: {
        'agent.done': {
          guard: agentDone('architect'),
          target: 'decided',
          actions: assign({ final: ({ event }) => verdictOf(event.result.output) }),
        },
      },
    },
    decided: { type: 'final' },
  },
  output: ({ context }) => ({
    verdict: context.final ?? 'reject',
    unanimous: !context.tieBreak,
    tieBreak: context.tieBreak,
  }),
});
