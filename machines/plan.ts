import { z } from 'zod';
import { outputFormat } from './structured.js';

/**
 * The plan a planner agent produces in hierarchical flows: subtasks, each owned by one of
 * the flow's agents, with dependencies. Pure parsing and validation, no I/O.
 */
export const PlanSchema = z
  .object({
    subtasks: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, { message: 'expected an id of letters, digits, "-" or "_"' }),
            title: z.string().min(1).max(200),
            description: z.string().min(1).max(8000),
            agent: z.string().min(1),
            dependsOn: z.array(z.string()).default([]),
            /** Too big for one agent: a planner of its own splits it again (while the depth limit allows). */
            decompose: z.boolean().optional(),
          })
          .strict(),
      )
      .min(1, { message: 'expected at least one subtask' })
      .max(50, { message: 'expected at most 50 subtasks' }),
  })
  .strict();

export type Plan = z.output<typeof PlanSchema>;

/** The planner's task format: the plan as OpenCode structured output, checked against {@link PlanSchema}. */
export const PLAN_FORMAT = outputFormat(PlanSchema);
export type Subtask = Plan['subtasks'][number];

/** The instruction the planner receives (the answer format is part of it). */
export function planPrompt(
  task: string,
  workers: Array<{ name: string; role?: string }>,
  { canDecompose = false, structured = false }: { canDecompose?: boolean; structured?: boolean } = {},
): string {
  const list = workers.map((w) => `- ${w.name}${w.role && w.role !== w.name ? ` (${w.role})` : ''}`).join('\n');
  return [
    task,
    '',
    '# Plan this task for the team',
    'Break the task into subtasks for these agents:',
    list,
    '',
    structured
      ? 'Give the plan as your structured output (the StructuredOutput tool), of this shape:'
      : 'Answer with only one JSON object (no prose, no code fence needed) of this shape:',
    '{"subtasks":[{"id":"s1","title":"short title","description":"what to do and what to deliver","agent":"<one of the agents above>","dependsOn":["<ids that must finish first>"]}]}',
    'Rules: unique ids; dependsOn names only other subtasks of this plan; no cycles; subtasks without dependencies run in parallel; 1 to 50 subtasks.',
    ...(canDecompose
      ? [
          'A subtask too big for one agent may add "decompose": true: it is then planned again into smaller subtasks for the same agents ("agent" must still name one of them).',
        ]
      : []),
  ].join('\n');
}

/** Pull the JSON object out of a model's answer (bare, fenced, or surrounded by prose). */
export function extractJson(text: string): unknown {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(text);
  const candidate = fenced?.[1] ?? text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
  if (!candidate.trim()) throw new Error('no JSON object found in the answer');
  return JSON.parse(candidate);
}

/**
 * Validate a planner's answer against the agents that exist: schema, unique ids, known
 * agents and dependencies, no cycles. Returns the plan, or what is wrong with it (so the
 * planner can be asked again).
 *
 * @example
 * ```ts
 * const r = parsePlan('{"subtasks":[{"id":"a","title":"t","description":"d","agent":"coder"}]}', ['coder']);
 * if (r.ok) r.plan.subtasks[0].agent // 'coder'
 * ```
 */
export function parsePlan(answer: unknown, agents: string[]): { ok: true; plan: Plan } | { ok: false; error: string } {
  let raw: unknown = answer;
  if (typeof answer === 'string') {
    try {
      raw = extractJson(answer);
    } catch (e) {
      return { ok: false, error: `the answer is not JSON: ${(e as Error).message}` };
    }
  }
  const parsed = PlanSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    };
  }
  const plan = parsed.data;
  const ids = new Set<string>();
  for (const s of plan.subtasks) {
    if (ids.has(s.id)) return { ok: false, error: `subtask id "${s.id}" is used twice` };
    ids.add(s.id);
    if (!agents.includes(s.agent))
      return { ok: false, error: `subtask "${s.id}": agent "${s.agent}" is not one of ${agents.join(', ')}` };
  }
  for (const s of plan.subtasks) {
    for (const d of s.dependsOn) {
      if (!ids.has(d)) return { ok: false, error: `subtask "${s.id}" depends on unknown subtask "${d}"` };
      if (d === s.id) return { ok: false, error: `subtask "${s.id}" depends on itself` };
    }
  }
  // Kahn's algorithm: every subtask must become ready at some point.
  const remaining = new Map(plan.subtasks.map((s) => [s.id, new Set(s.dependsOn)]));
  let progressed = true;
  while (remaining.size > 0 && progressed) {
    progressed = false;
    for (const [id, deps] of remaining) {
      if ([...deps].every((d) => !remaining.has(d))) {
        remaining.delete(id);
        progressed = true;
      }
    }
  }
  if (remaining.size > 0) return { ok: false, error: `dependency cycle among ${[...remaining.keys()].join(', ')}` };
  return { ok: true, plan };
}
