import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, setup, toPromise } from 'xstate';
import {
  agentMachine,
  type AgentEvent,
  type AgentSpec,
  type AgentTask,
  type WatchInput,
} from '../../../machines/agent.js';
import {
  agentDone,
  joinAgents,
  promptAgents,
  spawnAgent,
  stopAgent,
  type AgentEvents,
} from '../../../machines/flows/helpers.js';

/** Agents whose effects are fakes: each answers `output of <name>` after `delay` ms; `bad*` fail. */
const agent = agentMachine.provide({
  actors: {
    createSession: fromPromise(async ({ input }: { input: { spec: AgentSpec } }) => ({ id: `ses_${input.spec.name}` })),
    sendPrompt: fromPromise<
      { sent: boolean } | void,
      { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
    >(async () => {}),
    watchSession: fromCallback<AgentEvent, WatchInput>(({ sendBack, input }) => {
      const name = input.sessionID.slice(4);
      const t = setTimeout(
        () => {
          const base = {
            userMessageID: `m-${name}-${Math.random()}`,
            output: `output of ${name}`,
            model: 'p/m',
            tokens: { input: 1, output: 1 },
          };
          sendBack({
            type: 'oc.outcome',
            outcome: name.startsWith('bad')
              ? { ...base, sessionCost: 0, error: { name: 'APIError', message: 'boom', kind: 'auth' } }
              : { ...base, sessionCost: 0.01 },
          });
        },
        name === 'slow' ? 60 : 10,
      );
      return () => clearTimeout(t);
    }),
    abortSession: fromPromise(async () => ({ sessionCost: 0 })),
    cleanupSession: fromPromise(async () => {}),
  },
});

interface Ctx {
  spec: AgentSpec;
  names: string[];
  outputs: string[];
}

const joinMachine = setup({
  types: {
    context: {} as Ctx,
    input: {} as { spec: AgentSpec; names: string[] },
    events: {} as AgentEvents,
    output: {} as { outcome: string; outputs: string[] },
  },
  actors: { agent },
}).createMachine({
  id: 'join',
  context: ({ input }) => ({ ...input, outputs: [] }),
  entry: [
    // The resolvers are typed by the machine: `context` is Ctx.
    spawnAgent('fast', ({ context }) => context.spec),
    spawnAgent('slow', ({ context }) => context.spec),
    spawnAgent('bad', ({ context }) => ({ ...context.spec, fallback: [] })),
  ],
  initial: 'fanOut',
  states: {
    fanOut: {
      entry: promptAgents(['fast', 'slow'], ({ agent: name }) => ({ id: `t-${name}`, text: `do it, ${name}` })),
      on: {
        'agent.done': { actions: joinAgents(['fast', 'slow']) },
        'agents.joined': {
          target: 'joined',
          actions: ({ context, event }) => context.outputs.push(...event.results.map((r) => r.output)),
        },
      },
    },
    joined: {
      entry: promptAgents(['bad', 'fast'], { id: 'second', text: 'again' }),
      on: {
        'agent.failed': { actions: joinAgents(['bad', 'fast']) },
        'agent.done': [{ guard: agentDone('nobody'), target: 'failed' }, { actions: joinAgents(['bad', 'fast']) }],
        'agents.joined': { guard: ({ event }) => event.failed.join() === 'bad', target: 'failed' },
      },
    },
    failed: { entry: [stopAgent('fast'), stopAgent('slow'), stopAgent('bad')], type: 'final' },
  },
  output: ({ context }) => ({ outcome: 'a join, then a failure seen', outputs: context.outputs }),
});

describe('custom-machine toolkit', () => {
  it('a join waits for every agent of the fan-out, and reports a failure among them', async () => {
    const actor = createActor(joinMachine, { input: { spec: { name: 'x', model: 'p/m' }, names: [] } }).start();
    const out = await toPromise(actor);
    // Joined once, with both results, after the slow one finished.
    expect(out.outputs).toEqual(['output of fast', 'output of slow']);
  });

  it("types the resolvers by the caller's machine", () => {
    setup({ types: { context: {} as Ctx, events: {} as AgentEvents }, actors: { agent } }).createMachine({
      context: { spec: { name: 'x' }, names: [], outputs: [] },
      // @ts-expect-error: `nope` is not in the machine's context
      entry: spawnAgent('a', ({ context }) => context.nope),
    });
    expect(true).toBe(true);
  });
});
