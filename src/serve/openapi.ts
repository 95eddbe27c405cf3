import type { Hono } from 'hono';
import { describeRoute, generateSpecs, resolver, type DescribeRouteOptions } from 'hono-openapi';
import type { OpenAPIV3_1 } from 'openapi-types';
import { z } from 'zod';
import { packageInfo } from '../package-root.js';
import {
  ApiErrorSchema,
  CancellingSchema,
  CreateFlowBodySchema,
  FlowAcceptedSchema,
  FlowCostAnswerSchema,
  FlowListSchema,
  FlowReportSchema,
  FlowViewSchema,
  HealthSchema,
  ReadinessSchema,
  ReplyAcceptedSchema,
  ReplyBodySchema,
  RequestListSchema,
  SERVE_EVENT_DATA,
} from './api-schemas.js';

/** The OpenAPI document of the serve API (3.1), as `GET /openapi.json` serves it. */
export type OpenApiDocument = OpenAPIV3_1.Document;

/** One SSE message of `GET /flows/:id/events`: `id:`, `event:` and the JSON of `data:`. */
export const FlowEventMessageSchema = z
  .discriminatedUnion(
    'event',
    Object.entries(SERVE_EVENT_DATA).map(([event, data]) =>
      z.object({ id: z.number().int().min(1), event: z.literal(event), data }),
    ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  )
  .meta({
    id: 'FlowEventMessage',
    description:
      'One server-sent event: `id:` (counts from 1 within the flow), `event:` (the type) and `data:` (this JSON)',
  });

/**
 * An answer's schema as the handler's output: objects are closed (`additionalProperties:
 * false`) unless declared loose, so an answer with a field the document lacks is outside it.
 */
const answer = (schema: z.ZodType) => resolver(schema, { options: { io: 'output' } });
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema: answer(schema) } },
});
const error = (description: string) => json(ApiErrorSchema, description);

const unauthorized = {
  description: 'missing or invalid bearer token (`unauthorized`, with `WWW-Authenticate: Bearer`)',
  headers: { 'WWW-Authenticate': { schema: { type: 'string' as const } } },
  content: { 'application/json': { schema: answer(ApiErrorSchema) } },
};
/** What the listener answers, for any route, to a request it cannot take (`createNodeServer`). */
const refused = {
  400: error('refused before routing: a `Host` and target that form no URL, or malformed HTTP (`bad_request`)'),
};
/** Answers every route behind the token may give besides its own. */
const guarded = {
  ...refused,
  401: unauthorized,
  403: error('no token is configured and the `Host` header is not a loopback name (`forbidden_host`)'),
  500: error('a bug on our side (`internal`; the message is not echoed)'),
};
const flowNotFound = error('no such flow (`flow_not_found`; finished flows are kept for the last `keepFinished`)');

const idParam: OpenAPIV3_1.ParameterObject = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'the flow id, `flow_…`',
  schema: { type: 'string' },
};
const ridParam: OpenAPIV3_1.ParameterObject = {
  name: 'rid',
  in: 'path',
  required: true,
  description: 'the request id (`request.id` of a pending request)',
  schema: { type: 'string' },
};
const publicRoute = { security: [] as OpenAPIV3_1.SecurityRequirementObject[] };

/** How each route is documented, by operation id; `app.ts` puts each on its route with `describeRoute`. */
export const ROUTE_DOCS = {
  createFlow: {
    operationId: 'createFlow',
    tags: ['flows'],
    summary: 'Start a flow',
    description:
      'Runs the flow through the library and answers once it was accepted (its plan is streamed first). ' +
      'On a replica of a pool the flow is queued instead (`status: "queued"`, never 429).',
    requestBody: {
      required: true,
      content: { 'application/json': { schema: resolver(CreateFlowBodySchema.meta({ id: 'CreateFlowBody' })) } },
    },
    responses: {
      202: {
        ...json(FlowAcceptedSchema, 'accepted: `{ id, status }`; `Location` is the flow'),
        headers: { Location: { description: '/flows/{id}', schema: { type: 'string' } } },
      },
      ...guarded,
      400: error(
        'bad body: `invalid_body` (issues with field paths such as `agents[1].model`), `invalid_json`, ' +
          '`unknown_agent`, `invalid_config` (a model not served); `bad_request` when refused before routing',
      ),
      413: error('the body is larger than `maxBodyBytes` (`payload_too_large`; the connection is closed)'),
      415: error('the body is not `application/json` (`unsupported_media_type`)'),
      429: error(
        'rate limit: `maxFlows` (`--max-flows`) flows are running (`too_many_flows`); retry when one finishes. ' +
          'A replica of a pool queues instead and never answers 429.',
      ),
      503: error('the server is shutting down (`shutting_down`), or OpenCode cannot be reached (`server_unavailable`)'),
      502: error('an OpenCode call of the library failed (`opencode_request`)'),
      504: error('an OpenCode call of the library timed out (`timeout`)'),
    },
  },
  listFlows: {
    operationId: 'listFlows',
    tags: ['flows'],
    summary: 'List flows, newest first',
    description: 'Running flows and the last `keepFinished` finished ones (on a pool: every replica’s).',
    responses: { 200: json(FlowListSchema, '`{ flows }`, newest first'), ...guarded },
  },
  getFlow: {
    operationId: 'getFlow',
    tags: ['flows'],
    summary: 'A flow: its running view, or its report once finished',
    parameters: [idParam],
    responses: {
      200: json(FlowViewSchema, 'the report when finished (`RunningFlow` while it runs)'),
      ...guarded,
      404: flowNotFound,
    },
  },
  getFlowCost: {
    operationId: 'getFlowCost',
    tags: ['flows'],
    summary: 'Cost of a flow so far',
    parameters: [idParam],
    responses: { 200: json(FlowCostAnswerSchema, 'USD, total, by agent, by model'), ...guarded, 404: flowNotFound },
  },
  streamFlowEvents: {
    operationId: 'streamFlowEvents',
    tags: ['flows'],
    summary: 'Follow a flow’s events (server-sent events)',
    description:
      'An SSE stream (`text/event-stream`): first the events so far, then live ones; the server ends it after ' +
      '`flow.done`. Each message is a `FlowEventMessage`: `id:` n, `event:` its type, `data:` JSON. Comment lines ' +
      '(`: keep-alive`) come every 15 s. Reconnect with `Last-Event-ID` (or `?after=n`) to get only what was missed.',
    parameters: [
      idParam,
      {
        name: 'Last-Event-ID',
        in: 'header',
        required: false,
        description: 'resume after this event id',
        schema: { type: 'string', pattern: '^\\d+$' },
      },
      {
        name: 'after',
        in: 'query',
        required: false,
        description: 'resume after this event id (when the client cannot send `Last-Event-ID`)',
        schema: { type: 'string', pattern: '^\\d+$' },
      },
    ],
    responses: {
      200: {
        description: 'the event stream; every `data:` is the JSON of a `FlowEventMessage`’s `data`',
        content: { 'text/event-stream': { schema: answer(FlowEventMessageSchema) } },
      },
      ...guarded,
      404: flowNotFound,
    },
  },
  listFlowRequests: {
    operationId: 'listFlowRequests',
    tags: ['human input'],
    summary: 'Permission requests and questions the flow’s agents wait on',
    parameters: [idParam],
    responses: { 200: json(RequestListSchema, '`{ flowId, requests }`'), ...guarded, 404: flowNotFound },
  },
  answerFlowRequest: {
    operationId: 'answerFlowRequest',
    tags: ['human input'],
    summary: 'Answer a permission request or a question',
    description:
      "A permission is answered `'once'`, `'always'` or `'reject'`; a question with one list of choices per " +
      "question, or `'reject'`.",
    parameters: [idParam, ridParam],
    requestBody: { required: true, content: { 'application/json': { schema: resolver(ReplyBodySchema) } } },
    responses: {
      200: json(ReplyAcceptedSchema, 'the answer was delivered to the agent'),
      ...guarded,
      400: error(
        '`invalid_json`, `invalid_body`, an answer of the wrong kind (`invalid_config`), or `bad_request` (refused before routing)',
      ),
      404: error('no such flow (`flow_not_found`) or no such pending request (`request_not_found`)'),
    },
  },
  cancelFlow: {
    operationId: 'cancelFlow',
    tags: ['flows'],
    summary: 'Cancel a flow',
    description: 'Busy sessions are aborted. Answers with the report once the flow wound down, 202 after 10 s.',
    parameters: [idParam],
    responses: {
      200: json(FlowReportSchema, 'the report of the cancelled flow'),
      202: json(CancellingSchema, 'still winding down after 10 s'),
      ...guarded,
      404: flowNotFound,
      409: error('the flow already ended (`flow_not_running`)'),
    },
  },
  getMetrics: {
    operationId: 'getMetrics',
    tags: ['operations'],
    summary: 'Prometheus metrics',
    responses: {
      200: {
        description: 'Prometheus text exposition format 0.0.4',
        content: { 'text/plain': { schema: { type: 'string' } } },
      },
      ...guarded,
    },
  },
  healthz: {
    operationId: 'healthz',
    tags: ['operations'],
    summary: 'Liveness',
    ...publicRoute,
    responses: {
      ...refused,
      200: json(HealthSchema, 'the process runs'),
    },
  },
  readyz: {
    operationId: 'readyz',
    tags: ['operations'],
    summary: 'Readiness: OpenCode answers its health check and memory answers a read',
    ...publicRoute,
    responses: {
      ...refused,
      200: json(ReadinessSchema, 'ready'),
      503: json(ReadinessSchema, 'not ready (also while shutting down), with `reasons`'),
    },
  },
  dashboard: {
    operationId: 'dashboard',
    tags: ['pages'],
    summary: 'The live dashboard page (its API calls send the token)',
    ...publicRoute,
    responses: {
      ...refused,
      200: { description: 'a self-contained HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
    },
  },
  openapi: {
    operationId: 'openapi',
    tags: ['pages'],
    summary: 'This document (OpenAPI 3.1)',
    ...publicRoute,
    responses: {
      ...refused,
      200: { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } },
    },
  },
  apiReference: {
    operationId: 'apiReference',
    tags: ['pages'],
    summary: 'This document as a readable page (self-contained, no script)',
    ...publicRoute,
    responses: {
      ...refused,
      200: { description: 'a self-contained HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
    },
  },
} satisfies Record<string, DescribeRouteOptions>;

/** The `describeRoute` middleware of one documented route. */
export const documented = (op: keyof typeof ROUTE_DOCS) => describeRoute(ROUTE_DOCS[op] as DescribeRouteOptions);

/**
 * The OpenAPI 3.1 document of a serve app, from the zod schemas its routes are described
 * with (`hono-openapi`); it carries the package's version.
 *
 * @example
 * ```ts
 * const doc = await openApiDocument(app);
 * doc.paths['/flows']?.post?.operationId; // 'createFlow'
 * ```
 */
export async function openApiDocument(app: Hono): Promise<OpenApiDocument> {
  const doc = await generateSpecs(app, {
    // `/openapi.json` is a route, not a static file.
    excludeStaticFile: false,
    documentation: {
      openapi: '3.1.0',
      info: {
        title: 'opencode-flow serve',
        version: packageInfo().version,
        description:
          'Multi-agent flows on OpenCode over HTTP: start flows, follow their events (SSE), answer the ' +
          'permission requests and questions of their agents, cancel them. Every error answer is ' +
          '`{ error: { code, message, issues? } }`. The typed client is `opencode-flow/client`.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: 'http://127.0.0.1:5000', description: 'the default bind of `opencode-flow serve`' }],
      tags: [
        { name: 'flows', description: 'Start, read, follow and cancel flows' },
        { name: 'human input', description: 'Requests agents wait on (`inputPolicy: ask`)' },
        { name: 'operations', description: 'Health, readiness and metrics' },
        { name: 'pages', description: 'Pages and this document' },
      ],
      security: [{ bearer: [] }],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              '`--token` / `OPENCODE_FLOW_TOKEN` (at least 16 characters). Without a configured token the server ' +
              'binds loopback only and answers only requests whose `Host` is a loopback name.',
          },
        },
      },
    },
  });
  return doc as OpenApiDocument;
}
