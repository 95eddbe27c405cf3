import { z } from 'zod';
import { AgentConfigSchema, ModelIdSchema } from '../config/agent.js';
import { timeoutSecondsSchema } from '../config/timeouts.js';
import { ROUTING_MODES } from '../router/config.js';
import { jsonSchemaProblem } from '../../machines/structured.js';

/** Longest name an inline agent may have. */
export const MAX_INLINE_AGENT_NAME = 56;

const AgentNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  message: 'expected an agent name of letters, digits, "-", "_" or "." (max 64)',
});

/** An inline agent: the library's `AgentConfig`. */
const InlineAgentSchema = AgentConfigSchema.refine((a) => a.name.length <= MAX_INLINE_AGENT_NAME, {
  path: ['name'],
  message: `expected an inline agent name of at most ${MAX_INLINE_AGENT_NAME} characters`,
});

/**
 * Body of `POST /flows`. `agents` lists preset (or already spawned) agent names and/or
 * inline `AgentConfig` objects. Inline agents belong to their flow only: they live and die
 * with its run, so concurrent flows never share one and the server keeps none after a flow.
 * An inline agent whose `name` is a preset inherits that preset unless it names another
 * `preset`. `timeout` (the whole flow) and `promptTimeout` (one prompt) are in seconds,
 * `maxCost` in USD.
 *
 * @example
 * ```ts
 * CreateFlowBodySchema.parse({
 *   task: 'Review src/',
 *   agents: ['reviewer', { name: 'scout', model: 'anthropic/claude-sonnet-4', systemPrompt: 'Find TODOs' }],
 *   mode: 'parallel', optimize: 'cost', maxCost: 0.5, timeout: 600,
 * });
 * ```
 */
export const CreateFlowBodySchema = z
  .object({
    task: z
      .string({ message: 'expected the task as a string' })
      .trim()
      .min(1, { message: 'expected a non-empty task' })
      .max(200_000),
    agents: z
      .array(z.union([AgentNameSchema, InlineAgentSchema], { message: 'expected a preset name or an agent object' }), {
        message: 'expected an array of agent names or agent objects',
      })
      .min(1, { message: 'expected at least one agent' })
      .max(64, { message: 'expected at most 64 agents' })
      .superRefine((agents, ctx) => {
        const seen = new Set<string>();
        agents.forEach((a, i) => {
          const name = typeof a === 'string' ? a : a.name;
          if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i], message: `agent "${name}" is listed twice` });
          seen.add(name);
        });
      }),
    mode: z
      .enum(['parallel', 'sequential', 'hierarchical'], {
        message: 'expected "parallel", "sequential" or "hierarchical"',
      })
      .default('parallel'),
    /** Agents at once in parallel mode (and subtasks at once in hierarchical mode). */
    maxConcurrent: z
      .number({ message: 'expected a number of agents' })
      .int({ message: 'expected a whole number of agents' })
      .min(1, { message: 'expected at least 1' })
      .max(64)
      .optional(),
    /** `continue` (default): the other agents carry on when one fails; `fail`: the first failure ends the flow. */
    onAgentFailure: z.enum(['continue', 'fail'], { message: 'expected "continue" or "fail"' }).optional(),
    /** Model for agents without one (`provider/model`). */
    model: ModelIdSchema.optional(),
    /** Routing mode for agents without an explicit model. */
    optimize: z.enum(ROUTING_MODES, { message: `expected one of ${ROUTING_MODES.join(', ')}` }).optional(),
    /** Hard budget of the flow, USD. */
    maxCost: z
      .number({ message: 'expected a number of USD' })
      .positive({ message: 'expected a positive number of USD' })
      .optional(),
    /** Fallback models for every agent, after its own. */
    fallback: z.array(ModelIdSchema, { message: 'expected an array of "provider/model" ids' }).max(16).optional(),
    /** Whole-flow timeout, seconds. */
    timeout: timeoutSecondsSchema().optional(),
    /** Per-prompt timeout, seconds: a prompt past it falls back to the next model. */
    promptTimeout: timeoutSecondsSchema().optional(),
    /**
     * Structured output: a JSON Schema (of type `object`) every agent's answer must fill
     * (hierarchical: the planner's combined answer); the report's `structured` holds it.
     */
    schema: z
      .record(z.string(), z.unknown(), { message: 'expected a JSON Schema object (of type "object")' })
      .refine((s) => s.type === 'object', { message: 'expected a JSON Schema of type "object"' })
      .superRefine((s, ctx) => {
        const problem = s.type === 'object' ? jsonSchemaProblem(s) : undefined;
        if (problem)
          ctx.addIssue({
            code: 'custom',
            path: problem.path ? problem.path.split('.') : [],
            message: `not a valid JSON Schema: ${problem.message}`,
          });
      })
      .optional(),
  })
  .strict();

export type CreateFlowBody = z.output<typeof CreateFlowBodySchema>;
