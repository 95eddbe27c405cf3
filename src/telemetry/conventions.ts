/**
 * The names this package's spans, events and metrics use: the OpenTelemetry GenAI semantic
 * conventions (`gen_ai.*`, development status) and the general `server.*` and `error.type`,
 * plus our own `opencode_flow.*` where the conventions have nothing. Written out rather than
 * imported: `@opentelemetry/semantic-conventions` is a development dependency only, and
 * `test/telemetry/conventions.test.ts` checks every `gen_ai.*` name against it.
 */
export const ATTR = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  workflowName: 'gen_ai.workflow.name',
  agentName: 'gen_ai.agent.name',
  agentId: 'gen_ai.agent.id',
  conversationId: 'gen_ai.conversation.id',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationTokens: 'gen_ai.usage.cache_creation.input_tokens',
  reasoningTokens: 'gen_ai.usage.reasoning.output_tokens',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  toolType: 'gen_ai.tool.type',
  toolArguments: 'gen_ai.tool.call.arguments',
  toolResult: 'gen_ai.tool.call.result',
  tokenType: 'gen_ai.token.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  // Ours: the conventions have no flow id, status or cost.
  flowId: 'opencode_flow.flow.id',
  flowMode: 'opencode_flow.flow.mode',
  status: 'opencode_flow.status',
  costUsd: 'opencode_flow.cost.usd',
  maxCostUsd: 'opencode_flow.max_cost.usd',
  retries: 'opencode_flow.agent.retries',
  mcpSide: 'opencode_flow.tool.side',
  /** On a link of `invoke_workflow`: `continues`, the stored run this one resumes. */
  linkKind: 'opencode_flow.link',
} as const;

/** `gen_ai.operation.name` values (well-known in the conventions). */
export const OP = {
  workflow: 'invoke_workflow',
  agent: 'invoke_agent',
  tool: 'execute_tool',
} as const;

/** The span events of a run and its agents. */
export const EVENT = {
  fallback: 'opencode_flow.fallback',
  retry: 'opencode_flow.retry',
  taskRetry: 'opencode_flow.task_retry',
  budgetExceeded: 'opencode_flow.budget_exceeded',
  stop: 'opencode_flow.stop',
  inputRequired: 'opencode_flow.input_required',
  inputAnswered: 'opencode_flow.input_answered',
  sessionLost: 'opencode_flow.session_lost',
} as const;

/** Metrics (the conventions' client metrics), recorded per agent run. */
export const METRIC = {
  tokenUsage: 'gen_ai.client.token.usage',
  operationDuration: 'gen_ai.client.operation.duration',
} as const;

/**
 * OpenCode's provider ids → the conventions' well-known `gen_ai.provider.name` values; any
 * other provider id is used as it is.
 */
const PROVIDERS: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'gcp.gemini',
  'google-vertex': 'gcp.vertex_ai',
  'google-vertex-anthropic': 'gcp.vertex_ai',
  'amazon-bedrock': 'aws.bedrock',
  azure: 'azure.ai.openai',
  mistral: 'mistral_ai',
  xai: 'x_ai',
  groq: 'groq',
  deepseek: 'deepseek',
  cohere: 'cohere',
  perplexity: 'perplexity',
};

/** `provider/model` → `gen_ai.provider.name` and the model id (`''` model: OpenCode's default). */
export function splitModel(model: string | undefined): { provider?: string; model?: string } {
  if (!model) return {};
  const i = model.indexOf('/');
  if (i <= 0) return { model };
  const id = model.slice(0, i);
  return { provider: PROVIDERS[id] ?? id, model: model.slice(i + 1) };
}

/** `server.address` and `server.port` of a server URL (the default port of its scheme when it names none). */
export function serverOf(url: string | undefined): { address?: string; port?: number } {
  if (!url) return {};
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { address: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return {};
  }
}

/**
 * The conventions' content-capture switch: tool arguments and results go on spans only when
 * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is `true`, and then with secrets masked.
 */
export function captureContent(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ?? '').trim().toLowerCase() === 'true';
}

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|auth|credential|cookie|private[-_]?key/i;
/** Values that look like credentials whatever their key (bearer tokens, provider keys, URL passwords). */
const SECRET_VALUE =
  /\b(Bearer\s+\S+|sk-[A-Za-z0-9_-]{8,}|ghp_[A-Za-z0-9]{8,}|xox[abp]-\S+)|(\/\/[^/\s:@]+:)[^@\s/]+@/g;
const MAX_CONTENT = 8192;

/** A value as a span attribute may carry it: JSON, secrets masked, at most 8 KiB. */
export function contentOf(value: unknown): string {
  const masked = JSON.stringify(value, (k, v: unknown) => (k && SECRET_KEY.test(k) ? '***' : v)) ?? '';
  const text = (typeof value === 'string' ? value : masked).replace(SECRET_VALUE, (m, tok: string, userinfo: string) =>
    userinfo ? `${userinfo}***@` : tok ? '***' : m,
  );
  return text.length > MAX_CONTENT ? `${text.slice(0, MAX_CONTENT)}…` : text;
}
