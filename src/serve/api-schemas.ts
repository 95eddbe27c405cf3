import { z } from 'zod';
import { CreateFlowBodySchema } from './flow-request.js';

/**
 * The serve API's bodies as zod schemas, declared once: handlers build their answers with
 * the types inferred here (`satisfies`), request bodies are checked with them, the OpenAPI
 * document (`GET /openapi.json`, `openapi.ts`) is generated from them and the typed client
 * (`opencode-flow/client`) is typed by them. Each schema with a `meta({ id })` is a named
 * component of the document. Answers are strict objects (`additionalProperties: false` in the
 * document) unless a part is open on purpose (a report's plan, an event's payload), so a
 * handler that answers outside its documented shape fails the contract tests.
 */

export { CreateFlowBodySchema };

const usd = z.number().min(0).describe('USD, as OpenCode reports it');
const isoTime = z.string().describe('ISO 8601 time');
const msTime = z.number().describe('ms since the epoch');
const tokens = z.object({ input: z.number().int().min(0), output: z.number().int().min(0) });

/** One invalid field of a request. */
export const ApiIssueSchema = z
  .object({ path: z.string().describe('e.g. agents[1].model, or (root)'), message: z.string() })
  .meta({ id: 'ApiIssue' });

/** The body of every error answer. */
export const ApiErrorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('stable code to branch on (invalid_body, too_many_flows, flow_not_found, ...)'),
      message: z.string(),
      issues: z.array(ApiIssueSchema).optional(),
    }),
  })
  .meta({ id: 'ApiError', description: 'Every error answer: { error: { code, message, issues? } }' });

/** Every status a flow of the API can be in. */
export const FlowStatusSchema = z
  .enum(['queued', 'running', 'completed', 'failed', 'cancelled', 'budget_exceeded'])
  .meta({ id: 'FlowStatus' });
const finishedStatus = z.enum(['completed', 'failed', 'cancelled', 'budget_exceeded']);
const modeSchema = z.enum(['parallel', 'sequential', 'hierarchical']);

/** `POST /flows` → 202. */
export const FlowAcceptedSchema = z
  .object({
    id: z.string(),
    status: z.enum(['running', 'queued']).describe('queued on a replica of a pool, else running'),
  })
  .meta({ id: 'FlowAccepted' });

/** A line of `GET /flows`. */
export const FlowSummarySchema = z
  .object({
    id: z.string(),
    status: FlowStatusSchema,
    task: z.string(),
    agents: z.array(z.string()),
    cost: usd,
    maxCost: usd.optional(),
    startedAt: isoTime,
    finishedAt: isoTime.optional(),
  })
  .meta({ id: 'FlowSummary' });

export const FlowListSchema = z.object({ flows: z.array(FlowSummarySchema) }).meta({ id: 'FlowList' });

/** Cost of a flow: total, per agent and per model. */
export const FlowCostSchema = z
  .object({ total: usd, byAgent: z.record(z.string(), usd), byModel: z.record(z.string(), usd) })
  .meta({ id: 'FlowCost' });

/** One agent of a running flow. */
export const AgentViewSchema = z
  .object({
    agent: z.string(),
    status: z.enum(['pending', 'running', 'done', 'failed']),
    state: z.string().describe("the agent machine's latest state (spawning, prompting, streaming, ...)"),
    model: z.string().describe("provider/model; '' when the router picks it at start"),
    sessionID: z.string().optional(),
    tokens,
    cost: usd,
    fallbacks: z.array(z.object({ from: z.string(), to: z.string(), reason: z.string() })),
    error: z.string().optional(),
    startedAt: msTime.optional(),
    finishedAt: msTime.optional(),
  })
  .meta({ id: 'AgentView' });

/** `GET /flows/:id` before the report exists. */
export const RunningFlowSchema = z
  .object({
    flowId: z.string(),
    status: z.enum(['running', 'queued']).describe('queued: waiting for a replica of the pool to take it'),
    mode: modeSchema,
    task: z.string(),
    startedAt: isoTime,
    agents: z.array(AgentViewSchema),
    cost: FlowCostSchema,
    maxCost: usd.optional(),
    unsaved: z
      .object({ failures: z.number().int().min(1), error: z.string(), store: z.string() })
      .optional()
      .describe("saves of the run's state to the flow store failed (a crash now could not be resumed)"),
  })
  .meta({ id: 'RunningFlow' });

/** A permission request or a question an agent waits on. */
export const InputRequestSchema = z
  .discriminatedUnion('kind', [
    z.object({
      kind: z.literal('permission'),
      id: z.string(),
      sessionID: z.string(),
      permission: z.string().describe('bash, edit, webfetch, ...'),
      patterns: z.array(z.string()),
      metadata: z.record(z.string(), z.unknown()).optional(),
    }),
    z.object({
      kind: z.literal('question'),
      id: z.string(),
      sessionID: z.string(),
      questions: z.array(
        z.object({
          question: z.string(),
          header: z.string().optional(),
          options: z.array(z.object({ label: z.string(), description: z.string().optional() })),
          multiple: z.boolean().optional(),
        }),
      ),
    }),
  ])
  .meta({ id: 'InputRequest' });

const inputAnswer = z.union([
  z.object({ reply: z.enum(['once', 'always', 'reject']), message: z.string().optional() }),
  z.object({ answers: z.array(z.array(z.string())) }),
]);

const inputRecord = z.object({
  request: InputRequestSchema,
  answer: inputAnswer,
  by: z.enum(['policy', 'user', 'timeout']),
  at: msTime,
});

/** One agent's line in a report (the CLI's `--json` contract, plus its times). */
export const AgentReportSchema = z
  .object({
    agent: z.string(),
    sessionID: z.string(),
    model: z.string(),
    status: z.enum(['done', 'failed']),
    output: z.string(),
    cost: usd,
    tokens,
    attempts: z.array(z.object({ model: z.string(), error: z.string().optional(), errorKind: z.string().optional() })),
    error: z.string().optional(),
    errorKind: z.string().optional(),
    inputs: z.array(inputRecord).optional(),
    retries: z.number().int().optional(),
    structured: z.unknown().optional(),
    startedAt: msTime.optional(),
    finishedAt: msTime.optional(),
  })
  .meta({ id: 'AgentReport' });

/** A finished flow's report (as `opencode-flow run --json`). */
export const FlowReportSchema = z
  .object({
    flowId: z.string(),
    status: finishedStatus,
    mode: z.enum(['parallel', 'sequential', 'hierarchical', 'custom']),
    results: z.array(AgentReportSchema),
    cost: z.object({
      total: usd,
      byAgent: z.record(z.string(), usd),
      byModel: z.record(z.string(), usd),
      byTask: z.record(z.string(), usd),
    }),
    durationMs: z.number().min(0),
    reason: z.string().optional(),
    plan: z
      .looseObject({})
      .optional()
      .describe("hierarchical flows: the planner's plan that ran (see the library's Plan type)"),
    output: z.string().optional(),
    structured: z.unknown().optional(),
    unsaved: z
      .object({ failures: z.number().int().min(1), error: z.string(), store: z.string(), reportSaved: z.boolean() })
      .optional()
      .describe("saves of the run's state failed: how many, the last error, whether this report was stored"),
  })
  .meta({ id: 'FlowReport' });

/** `GET /flows/:id`: the report once finished, else the running view. */
export const FlowViewSchema = z.union([RunningFlowSchema, FlowReportSchema]).meta({ id: 'FlowView' });

/** `GET /flows/:id/cost`. */
export const FlowCostAnswerSchema = z
  .object({
    flowId: z.string(),
    status: FlowStatusSchema,
    total: usd,
    byAgent: z.record(z.string(), usd),
    byModel: z.record(z.string(), usd),
  })
  .meta({ id: 'FlowCostAnswer' });

/** `DELETE /flows/:id` → 202 when the flow did not wind down in time. */
export const CancellingSchema = z
  .object({ id: z.string(), status: z.literal('cancelling') })
  .meta({ id: 'Cancelling' });

/** A request an agent of the flow waits on. */
export const PendingRequestSchema = z
  .object({ flowId: z.string(), agent: z.string(), request: InputRequestSchema })
  .meta({ id: 'PendingRequest' });

export const RequestListSchema = z
  .object({ flowId: z.string(), requests: z.array(PendingRequestSchema) })
  .meta({ id: 'RequestList' });

/** What answers a request: once/always/reject for a permission, one list of choices per question (or reject) for a question. */
export const ReplyAnswerSchema = z
  .union([z.enum(['once', 'always', 'reject']), z.array(z.array(z.string()))])
  .meta({ id: 'ReplyAnswer' });

/** Body of `POST /flows/:id/requests/:rid`. */
export const ReplyBodySchema = z.object({ answer: ReplyAnswerSchema }).strict().meta({ id: 'ReplyBody' });

/** `POST /flows/:id/requests/:rid` → 200. */
export const ReplyAcceptedSchema = z
  .object({ flowId: z.string(), requestId: z.string(), answer: ReplyAnswerSchema, agent: z.string() })
  .meta({ id: 'ReplyAccepted' });

export const HealthSchema = z
  .object({ status: z.literal('ok'), uptimeSeconds: z.number().int().min(0) })
  .meta({ id: 'Health' });

const check = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
  version: z.string().optional(),
  disabled: z.boolean().optional(),
});

export const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    ready: z.boolean(),
    checks: z.object({ opencode: check, memory: check }),
    reasons: z.array(z.string()),
  })
  .meta({ id: 'Readiness' });

/** The payload (`data:`) of each SSE event type; open objects: the library may add fields. */
export const SERVE_EVENT_DATA = {
  'flow.started': z.looseObject({
    flowId: z.string(),
    mode: modeSchema,
    task: z.string(),
    agents: z.array(z.string()),
    startedAt: isoTime,
  }),
  'flow.plan': z.looseObject({ flowId: z.string(), models: z.record(z.string(), z.string()), maxCost: usd.optional() }),
  'agent.state': z.looseObject({
    flowId: z.string(),
    agent: z.string(),
    state: z.string(),
    model: z.string(),
    sessionID: z.string().optional(),
  }),
  'agent.delta': z.looseObject({ flowId: z.string(), agent: z.string(), sessionID: z.string(), text: z.string() }),
  'agent.tool': z.looseObject({
    flowId: z.string(),
    agent: z.string(),
    sessionID: z.string(),
    tool: z.string(),
    status: z.string(),
  }),
  'agent.fallback': z.looseObject({
    flowId: z.string(),
    agent: z.string(),
    from: z.string(),
    to: z.string(),
    reason: z.string(),
  }),
  'agent.input_required': z.looseObject({
    flowId: z.string(),
    agent: z.string(),
    sessionID: z.string(),
    request: InputRequestSchema,
  }),
  'agent.input_answered': z.looseObject({ flowId: z.string(), agent: z.string(), record: inputRecord }),
  'agent.done': z.looseObject({ flowId: z.string(), agent: z.string(), result: z.looseObject({}) }),
  'agent.failed': z.looseObject({
    flowId: z.string(),
    agent: z.string(),
    result: z.looseObject({}),
    error: z.string(),
  }),
  'flow.persist_error': z.looseObject({
    flowId: z.string(),
    error: z.string(),
    store: z.string(),
    failures: z.number().int().min(1),
  }),
  'flow.done': FlowReportSchema,
} as const;

export type ServeEventType = keyof typeof SERVE_EVENT_DATA;

/** One event of `GET /flows/:id/events`, as the typed client yields it. */
export type FlowStreamEvent = {
  [T in ServeEventType]: { id: number; type: T; data: z.output<(typeof SERVE_EVENT_DATA)[T]> };
}[ServeEventType];

export type CreateFlowRequest = z.input<typeof CreateFlowBodySchema>;
export type ApiErrorBody = z.output<typeof ApiErrorSchema>;
export type FlowAccepted = z.output<typeof FlowAcceptedSchema>;
export type FlowSummary = z.output<typeof FlowSummarySchema>;
export type FlowList = z.output<typeof FlowListSchema>;
export type RunningFlow = z.output<typeof RunningFlowSchema>;
export type FlowReportBody = z.output<typeof FlowReportSchema>;
export type FlowView = z.output<typeof FlowViewSchema>;
export type FlowCostAnswer = z.output<typeof FlowCostAnswerSchema>;
export type Cancelling = z.output<typeof CancellingSchema>;
export type PendingRequestBody = z.output<typeof PendingRequestSchema>;
export type RequestList = z.output<typeof RequestListSchema>;
export type ReplyAnswer = z.output<typeof ReplyAnswerSchema>;
export type ReplyAccepted = z.output<typeof ReplyAcceptedSchema>;
export type Health = z.output<typeof HealthSchema>;
export type Readiness = z.output<typeof ReadinessSchema>;
