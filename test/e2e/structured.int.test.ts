import { setup } from 'xstate';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { agentMachine, type AgentResult } from '../../machines/agent.js';
import { agentDone, promptAgent, spawnAgent, type AgentEvents } from '../../machines/flows/helpers.js';
import { outputFormat, structuredOf } from '../../machines/structured.js';
import { OpencodeFlow } from '../../src/flow/index.js';
import { structuredReply } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Structured output against real OpenCode: the scripted model answers by calling the
 * `StructuredOutput` tool OpenCode offers for a prompt with a `format`; OpenCode checks the
 * value against the JSON Schema and puts it in the message's `structured`.
 */
const env = useFlowHosts();

const Review = z.object({
  verdict: z.enum(['approve', 'reject']),
  score: z.number().min(0).max(10),
  // Not in the model's answer: zod's default fills it, so the value is zod's output.
  tags: z.array(z.string()).default([]),
});

describe('structured output', () => {
  it('execute({ schema }) with zod: OpenCode is asked for the JSON Schema, the answer is checked, typed and parsed', async () => {
    env.llm.script({
      match: { allText: 'ZOD-TASK', tool: 'StructuredOutput' },
      reply: structuredReply({ verdict: 'approve', score: 8 }),
    });
    const flow = env.host();
    try {
      const report = await flow.execute({ task: 'ZOD-TASK: review it', agents: ['reviewer'], schema: Review });
      expectTypeOf(report.structured).toEqualTypeOf<z.output<typeof Review> | undefined>();
      expect(report.status).toBe('completed');
      expect(report.results[0]!.structured).toEqual({ verdict: 'approve', score: 8, tags: [] });
      expect(report.structured).toEqual({ verdict: 'approve', score: 8, tags: [] });
      // The tool OpenCode offered carried our schema.
      const req = env.llm.promptRequests().find((r) => r.allText.includes('ZOD-TASK'))!;
      const tool = (req.body.tools as Array<{ function: { name: string; parameters: Record<string, unknown> } }>).find(
        (t) => t.function.name === 'StructuredOutput',
      )!;
      expect(tool.function.parameters).toMatchObject({
        type: 'object',
        properties: { verdict: { enum: ['approve', 'reject'] } },
        required: ['verdict', 'score'],
      });
    } finally {
      await flow.shutdown();
    }
  });

  it("an agent config's JSON Schema gives its structured answer; other agents answer in text", async () => {
    env.llm.script([
      {
        match: { allText: 'JSON-TASK', tool: 'StructuredOutput' },
        reply: structuredReply({ files: ['a.ts', 'b.ts'], count: 2 }),
      },
      { match: { allText: 'JSON-TASK' }, reply: { text: 'plain words' } },
    ]);
    const flow = env.host();
    try {
      const schema = {
        type: 'object',
        properties: { files: { type: 'array', items: { type: 'string' } }, count: { type: 'integer' } },
        required: ['files', 'count'],
        additionalProperties: false,
      };
      const report = await flow.execute({
        task: 'JSON-TASK: list files',
        agents: [{ name: 'lister', schema }, 'researcher'],
      });
      const by = Object.fromEntries(report.results.map((r) => [r.agent, r]));
      expect(by.lister!.structured).toEqual({ files: ['a.ts', 'b.ts'], count: 2 });
      expect(by.researcher!.structured).toBeUndefined();
      expect(by.researcher!.output).toBe('plain words');
    } finally {
      await flow.shutdown();
    }
  });

  it('an answer the zod schema refuses fails that try (kind structured_output) and the next model is asked', async () => {
    env.llm.script([
      // OpenCode's check passes (the JSON Schema cannot say "even"); zod's refinement does not.
      {
        match: { allText: 'REFINE-TASK', model: 'small', tool: 'StructuredOutput' },
        reply: structuredReply({ n: 3 }),
      },
      {
        match: { allText: 'REFINE-TASK', model: 'medium', tool: 'StructuredOutput' },
        reply: structuredReply({ n: 4 }),
      },
    ]);
    const Even = z.object({ n: z.number().refine((n) => n % 2 === 0, { message: 'expected an even number' }) });
    const flow = env.host({ fallback: ['scripted/medium'] });
    try {
      const report = await flow.execute({ task: 'REFINE-TASK', agents: ['coder'], schema: Even, retries: 0 });
      const r = report.results[0]!;
      expect(r.status).toBe('done');
      expect(r.structured).toEqual({ n: 4 });
      expect(r.attempts).toEqual([
        {
          model: 'scripted/small',
          error: 'the structured output does not fit the schema: n: expected an even number',
          errorKind: 'structured_output',
        },
        { model: 'scripted/medium' },
      ]);
    } finally {
      await flow.shutdown();
    }
  });

  it('a model that never calls StructuredOutput: every model of the chain is tried, then a structured_output failure', async () => {
    env.llm.script({ match: { allText: 'NEVER-TASK' }, reply: { text: 'I would rather talk.' } });
    const flow = env.host({ fallback: ['scripted/medium'] });
    try {
      const report = await flow.execute({ task: 'NEVER-TASK', agents: ['coder'], schema: Review, retries: 0 });
      const r = report.results[0]!;
      expect(r.status).toBe('failed');
      expect(r.errorKind).toBe('structured_output');
      expect(r.attempts.map((a) => [a.model, a.errorKind])).toEqual([
        ['scripted/small', 'structured_output'],
        ['scripted/medium', 'structured_output'],
      ]);
      expect(r.error).toMatch(/no structured output/);
      expect(report.structured).toBeUndefined();
      // One request per model: OpenCode itself ends the prompt when no StructuredOutput call came.
      expect(env.llm.promptRequests().filter((q) => q.allText.includes('NEVER-TASK'))).toHaveLength(2);
    } finally {
      await flow.shutdown();
    }
  });

  it('a custom machine asks one task for structured output with promptAgent and outputFormat, then talks on in text', async () => {
    env.llm.script([
      {
        match: { allText: 'MACHINE-TASK', tool: 'StructuredOutput' },
        reply: structuredReply({ verdict: 'reject', score: 2 }),
      },
      { match: { lastUser: 'MACHINE-FOLLOWUP' }, reply: { text: 'because of the tests' } },
    ]);
    const machine = setup({
      types: {
        context: {} as { verdict?: z.output<typeof Review>; why?: string },
        events: {} as AgentEvents,
        output: {} as { verdict?: z.output<typeof Review>; why?: string },
      },
      actors: { agent: agentMachine },
    }).createMachine({
      context: {},
      entry: spawnAgent('rev', { model: 'scripted/small' }),
      initial: 'asking',
      states: {
        asking: {
          entry: promptAgent('rev', { id: 'r1', text: 'MACHINE-TASK: review', format: outputFormat(Review) }),
          on: {
            'agent.done': {
              guard: agentDone('rev'),
              target: 'followup',
              actions: ({ context, event }) => {
                context.verdict = structuredOf((event as { result: AgentResult }).result, Review);
              },
            },
          },
        },
        // The same session again, in text: its messages can only be read page by page now.
        followup: {
          entry: promptAgent('rev', { id: 'r2', text: 'MACHINE-FOLLOWUP: why?' }),
          on: {
            'agent.done': {
              target: 'done',
              actions: ({ context, event }) => {
                context.why = (event as { result: AgentResult }).result.output;
              },
            },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    });
    const flow = env.host({ keepSessions: true });
    try {
      const report = await flow.run(machine, undefined);
      expect(report.status).toBe('completed');
      expect(report.output).toEqual({
        verdict: { verdict: 'reject', score: 2, tags: [] },
        why: 'because of the tests',
      });
      // Its cost is OpenCode's: every assistant message of the session, the formatted prompt's included.
      const session = report.results[0]!.sessionID;
      const messages = await flow.opencode.messages(session);
      expect(messages.filter((m) => m.info.role === 'user')).toHaveLength(2);
      const cost = messages.reduce((n, m) => n + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0), 0);
      expect(cost).toBeGreaterThan(0);
      expect(report.cost.total).toBeCloseTo(cost, 12);
    } finally {
      await flow.shutdown();
    }
  });

  it('a schema that is not an object is refused before anything runs', async () => {
    const flow = env.host();
    try {
      await expect(flow.execute({ task: 'x', agents: ['coder'], schema: z.string() })).rejects.toThrow(
        /execute\.schema: expected a schema of type "object"/,
      );
      await expect(flow.execute({ task: 'x', agents: [{ name: 'a', schema: { type: 'array' } }] })).rejects.toThrow(
        /agent "a": schema: expected a schema of type "object"/,
      );
      // A type JSON Schema does not have is refused with its path, not sent and trusted.
      const nonsense = { type: 'object', properties: { risk: { type: 'nonsense' } } };
      await expect(flow.execute({ task: 'x', agents: ['coder'], schema: nonsense })).rejects.toThrow(
        /execute\.schema: not a valid JSON Schema: properties\.risk\.type must be one of "array", .* \(got "nonsense"\)/,
      );
      await expect(flow.execute({ task: 'x', agents: [{ name: 'a', schema: nonsense }] })).rejects.toThrow(
        /agent "a": schema: not a valid JSON Schema: properties\.risk\.type/,
      );
    } finally {
      await flow.shutdown();
    }
  });
});
