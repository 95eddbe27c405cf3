import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FlowReport } from '../flow/index.js';
import type { AgentEventPayload, AgentEventType, FlowRecord } from './flow-record.js';

/** Final statuses of a flow (the `status` label of `opencode_flow_flows_total`). */
export const FLOW_STATUSES: ReadonlyArray<FlowReport['status']> = [
  'completed',
  'failed',
  'cancelled',
  'budget_exceeded',
];

/**
 * Distinct `agent` label values kept by default; later new names count as `other`. Inline
 * agents are named by clients, so without a cap each name would be new series forever.
 */
export const MAX_AGENT_LABELS = 100;

/** The `agent` label value of every name past the cap. */
export const OTHER_AGENT_LABEL = 'other';

/**
 * prom-client's default gauges whose names end in `_total`: Prometheus reserves `_total`
 * for counters (`promtool check metrics` fails on them). Each is the sum of the same-named
 * gauge without `_total` over its `type` label, so nothing is lost: `sum(nodejs_active_handles)`.
 */
const GAUGES_NAMED_LIKE_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Buckets of the prompt latency histogram (seconds): LLM turns take from 100 ms to many minutes. */
export const PROMPT_SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/**
 * The API's Prometheus metrics, in a registry of their own (never prom-client's global
 * one, so an embedding app's metrics stay apart):
 *
 * - `opencode_flow_flows_total{status}` counter: flows finished, by final status
 * - `opencode_flow_flows_running` gauge: flows running now
 * - `opencode_flow_agents{state}` gauge: agents of running flows, by machine state (and
 *   `waitingForSlot` while a prompt waits for the host's concurrency caps)
 * - `opencode_flow_prompts_total{agent,model}` counter: prompts sent (fallback retries included);
 *   an agent on OpenCode's default model counts its prompt when it ends, under the model that
 *   answered (the label its tokens and cost carry), `default` only when nothing answered
 * - `opencode_flow_fallbacks_total{agent,from,to}` counter: model fallbacks
 * - `opencode_flow_tokens_total{model,agent,direction}` counter: tokens, direction `input|output`
 * - `opencode_flow_cost_usd_total{model,agent}` counter: USD, as OpenCode computes it
 * - `opencode_flow_prompt_duration_seconds{model,outcome}` histogram: `prompting` until
 *   `done`, `failed` or `fallback` (the outcome)
 * - `opencode_flow_tool_calls_total{tool}` and `opencode_flow_tool_errors_total{tool}`
 *   counters: calls of the app's own tools (`OpencodeFlow({ tools })`) and those that failed
 *   (threw, timed out, refused); `tool` is the app's name for it, so the label is bounded
 * - prom-client's default process metrics (`process_*`, `nodejs_*`) except its three
 *   `nodejs_active_*_total` gauges (a gauge must not end in `_total`)
 *
 * The `agent` label holds at most `maxAgentLabels` distinct names (default 100, the first
 * seen); any later new name is counted as `other`, so clients cannot grow the series
 * without bound. Model names are bounded already: only served models are accepted.
 *
 * @example
 * ```ts
 * const metrics = new ServeMetrics(() => registry.active());
 * flow.on('agent.done', (e) => metrics.onAgentEvent('agent.done', e));
 * const text = await metrics.registry.metrics();
 * ```
 */
export class ServeMetrics {
  readonly registry = new Registry();
  private readonly flows: Counter<'status'>;
  private readonly prompts: Counter<'agent' | 'model'>;
  private readonly fallbacks: Counter<'agent' | 'from' | 'to'>;
  private readonly tokens: Counter<'model' | 'agent' | 'direction'>;
  private readonly cost: Counter<'model' | 'agent'>;
  private readonly latency: Histogram<'model' | 'outcome'>;
  private readonly toolCalls: Counter<'tool'>;
  private readonly toolErrors: Counter<'tool'>;
  private readonly persistErrors: Counter;
  /** `flowId\0agent` → when its current prompt began and on which model. */
  private readonly promptStarts = new Map<string, { at: number; model?: string }>();

  private readonly agentLabels = new Set<string>();
  private readonly maxAgentLabels: number;

  constructor(
    active: () => FlowRecord[],
    { maxAgentLabels = MAX_AGENT_LABELS, tools = [] }: { maxAgentLabels?: number; tools?: string[] } = {},
  ) {
    this.maxAgentLabels = maxAgentLabels;
    const registers = [this.registry];
    this.flows = new Counter({
      name: 'opencode_flow_flows_total',
      help: 'Flows finished, by final status.',
      labelNames: ['status'],
      registers,
    });
    // Every status exists from the start, so `rate()` and alerts see a 0, not a gap.
    for (const status of FLOW_STATUSES) this.flows.inc({ status }, 0);
    new Gauge({
      name: 'opencode_flow_flows_running',
      help: 'Flows running now.',
      registers,
      collect() {
        this.set(active().length);
      },
    });
    new Gauge({
      name: 'opencode_flow_agents',
      help: 'Agents of running flows, by agent machine state.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const rec of active()) for (const a of rec.agentViews()) this.inc({ state: a.state });
      },
    });
    this.prompts = new Counter({
      name: 'opencode_flow_prompts_total',
      help: 'Prompts sent to OpenCode (fallback retries included).',
      labelNames: ['agent', 'model'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'opencode_flow_fallbacks_total',
      help: 'Model fallbacks after a failed attempt.',
      labelNames: ['agent', 'from', 'to'],
      registers,
    });
    this.tokens = new Counter({
      name: 'opencode_flow_tokens_total',
      help: 'Tokens used by agents, as OpenCode reports them.',
      labelNames: ['model', 'agent', 'direction'],
      registers,
    });
    this.cost = new Counter({
      name: 'opencode_flow_cost_usd_total',
      help: 'Cost of agents in USD, as OpenCode computes it.',
      labelNames: ['model', 'agent'],
      registers,
    });
    this.latency = new Histogram({
      name: 'opencode_flow_prompt_duration_seconds',
      help: 'Time from an agent prompting until done, failed or falling back.',
      labelNames: ['model', 'outcome'],
      buckets: PROMPT_SECONDS_BUCKETS,
      registers,
    });
    this.toolCalls = new Counter({
      name: 'opencode_flow_tool_calls_total',
      help: "Calls of the app's own tools by agents.",
      labelNames: ['tool'],
      registers,
    });
    this.toolErrors = new Counter({
      name: 'opencode_flow_tool_errors_total',
      help: "Calls of the app's own tools that failed (threw, timed out, refused).",
      labelNames: ['tool'],
      registers,
    });
    this.persistErrors = new Counter({
      name: 'opencode_flow_persist_errors_total',
      help: "Saves of a run's state to the flow store that failed (that run could not be resumed after a crash).",
      registers,
    });
    // Every tool exists from the start, so `rate()` and alerts see a 0, not a gap.
    for (const tool of tools) {
      this.toolCalls.inc({ tool }, 0);
      this.toolErrors.inc({ tool }, 0);
    }
    collectDefaultMetrics({ register: this.registry });
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
  }

  /** The `agent` label for a name: itself while under the cap (or already seen), else `other`. */
  agentLabel(agent: string): string {
    if (this.agentLabels.has(agent)) return agent;
    if (this.agentLabels.size >= this.maxAgentLabels) return OTHER_AGENT_LABEL;
    this.agentLabels.add(agent);
    return agent;
  }

  /** Count one failed save of a run's state. */
  onPersistError(): void {
    this.persistErrors.inc();
  }

  /** Count one agent event of a flow (agent names as the client gave them). */
  onAgentEvent<T extends AgentEventType>(type: T, e: AgentEventPayload<T>): void {
    const key = `${e.flowId}\0${e.agent}`;
    const agent = this.agentLabel(e.agent);
    switch (e.type) {
      case 'agent.state': {
        if (e.state === 'prompting') {
          this.endPrompt(key, agent, e.model); // a prompt that never ended (a resumed agent): counted
          // An agent on OpenCode's default model learns which model that is from its answer:
          // its prompt is counted when it ends, under the model that answered, as its tokens
          // and cost are (one model label for one prompt).
          this.promptStarts.set(key, { at: performance.now(), ...(e.model ? { model: e.model } : {}) });
          if (e.model) this.prompts.inc({ agent, model: e.model });
        } else if (e.state === 'fallback' || e.state === 'done' || e.state === 'failed') {
          this.endPrompt(key, agent, e.model, e.state);
        } else if (e.state !== 'streaming' && e.state !== 'awaitingInput') {
          this.endPrompt(key, agent, e.model); // stopped or cleaned up mid-prompt: nothing to time
        }
        break;
      }
      case 'agent.fallback':
        this.fallbacks.inc({ agent, from: e.from || 'default', to: e.to || 'default' });
        break;
      case 'agent.done':
      case 'agent.failed': {
        const model = e.result.model || 'default';
        this.tokens.inc({ model, agent, direction: 'input' }, e.result.tokens.input);
        this.tokens.inc({ model, agent, direction: 'output' }, e.result.tokens.output);
        this.cost.inc({ model, agent }, e.result.cost);
        break;
      }
      default:
        void type;
    }
  }

  /** Count one finished call of an app tool (the host's `tool.call` event). */
  onToolCall(call: { tool: string; error?: string }): void {
    this.toolCalls.inc({ tool: call.tool });
    if (call.error !== undefined) this.toolErrors.inc({ tool: call.tool });
  }

  /** Count a finished flow. */
  onFlowFinished(report: Pick<FlowReport, 'status'>): void {
    this.flows.inc({ status: report.status });
  }

  /** The prompt of `key` ended (`outcome`: timed) or was cut off; counted now if its model was not known at its start. */
  private endPrompt(key: string, agent: string, modelNow: string, outcome?: string) {
    const start = this.promptStarts.get(key);
    if (!start) return;
    this.promptStarts.delete(key);
    const model = start.model ?? (modelNow || 'default');
    if (!start.model) this.prompts.inc({ agent, model });
    if (outcome) this.latency.observe({ model, outcome }, (performance.now() - start.at) / 1000);
  }
}
