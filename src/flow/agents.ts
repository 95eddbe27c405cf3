import type { z } from 'zod';
import type { AgentSpec } from '../../machines/agent.js';
import { OutputSchemaError, type OutputSchema, type StructuredChecks } from '../../machines/structured.js';
import type { InputPolicy } from '../../machines/input-policy.js';
import {
  AgentConfigSchema,
  fullModelId,
  toolSwitches,
  toPermissionRuleset,
  type AgentConfig,
} from '../config/agent.js';
import { zodToFlowError } from '../config/errors.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { PresetAgent } from '../presets/index.js';
import type { RoutedAgentSpec } from './routing.js';
import { openCodeToolName } from './tools.js';

/** A spawned agent. */
export interface AgentHandle {
  readonly name: string;
  readonly spec: AgentSpec;
}

/** What the registry needs to know of its host. */
export interface AgentRegistryOptions {
  presets: Map<string, PresetAgent>;
  /** Models the server serves (`provider/model`); empty: not checked. */
  models: Set<string>;
  /** Presets are registered as OpenCode agents on an embedded server; a remote one gets prompt and rules per prompt. */
  remote: boolean;
  inputPolicy?: InputPolicy;
  /** Where agents' zod output schemas are kept, to check their answers with. */
  structured: StructuredChecks;
  /** Names of the app's own tools (`flow_<name>`): an agent's `flowTools` picks among them. */
  flowTools?: string[];
}

/** Register an output schema, or say clearly (at `where`) why it cannot be used. */
export function registerOutputSchema(checks: StructuredChecks, schema: OutputSchema, where: string) {
  try {
    return checks.register(schema);
  } catch (e) {
    if (e instanceof OutputSchemaError) throw new FlowError(FlowErrorCode.InvalidConfig, `${where}: ${e.message}`);
    throw e;
  }
}

/**
 * The host's agents: presets (bundled and the project's), agents registered with `spawn`,
 * and the check that a model is served. Turns an agent config into the spec the agent
 * machine runs. Inline agents of one run are resolved here too, but never registered: they
 * live and die with their run.
 *
 * @example
 * ```ts
 * const spec = registry.resolve('reviewer');           // a preset
 * const inline = registry.toSpec({ name: 'x', model }); // a run's own agent
 * ```
 */
export class AgentRegistry {
  readonly #spawned = new Map<string, AgentHandle>();

  constructor(private readonly o: AgentRegistryOptions) {}

  /** Explicit models of registered agents (the provider check looks at them). */
  models(): string[] {
    return [...this.#spawned.values()].map((a) => a.spec.model).filter((m): m is string => Boolean(m));
  }

  /** Parse and register an agent for later runs. */
  register(config: AgentConfig): AgentHandle {
    const handle: AgentHandle = { name: config.name, spec: this.toSpec(config) };
    this.#spawned.set(handle.name, handle);
    return handle;
  }

  /** A registered agent or a preset, by name. */
  resolve(name: string): RoutedAgentSpec {
    const spawned = this.#spawned.get(name);
    if (spawned) return spawned.spec;
    if (this.o.presets.has(name)) return this.toSpec({ name });
    const known = [...new Set([...this.#spawned.keys(), ...this.o.presets.keys()])].sort();
    throw new FlowError(FlowErrorCode.UnknownAgent, `unknown agent "${name}" (known: ${known.join(', ')})`);
  }

  /** A run's agent: a name (registered or preset) or an inline config (validated here). */
  specFor(agent: string | AgentConfig, where: string): RoutedAgentSpec {
    if (typeof agent === 'string') return this.resolve(agent);
    const parsed = AgentConfigSchema.safeParse(agent);
    if (!parsed.success) throw zodToFlowError(parsed.error, where);
    return this.toSpec(parsed.data);
  }

  /** Throws a clear error when `model` is not served. */
  checkModel(agent: string, model: string | undefined): void {
    const models = this.o.models;
    if (!model || models.size === 0 || models.has(model)) return;
    const provider = model.split('/')[0];
    const same = [...models].filter((m) => m.startsWith(`${provider}/`)).slice(0, 8);
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `agent "${agent}": model "${model}" is not served by the OpenCode server` +
        (same.length
          ? ` (models of ${provider}: ${same.join(', ')})`
          : ` (providers: ${[...new Set([...models].map((m) => m.split('/')[0]))].join(', ')})`),
    );
  }

  /** The app tools an agent's `flowTools` leaves out, switched off (`flow_<name>: false`): OpenCode never offers them. */
  #withFlowTools(cfg: z.output<typeof AgentConfigSchema>, tools: Record<string, boolean> | undefined) {
    if (!cfg.flowTools) return tools;
    const known = this.o.flowTools ?? [];
    const unknown = cfg.flowTools.find((t) => !known.includes(t));
    if (unknown !== undefined)
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `agent "${cfg.name}": flowTools: unknown tool "${unknown}" (${known.length ? `tools: ${known.join(', ')}` : 'no tools given: new OpencodeFlow({ tools })'})`,
      );
    const off = known.filter((t) => !cfg.flowTools!.includes(t)).map((t) => [openCodeToolName(t), false] as const);
    return off.length ? { ...tools, ...Object.fromEntries(off) } : tools;
  }

  /** An agent config → the spec the agent machine runs. */
  toSpec(input: AgentConfig | z.output<typeof AgentConfigSchema>): RoutedAgentSpec {
    const cfg = AgentConfigSchema.parse(input);
    const preset = this.o.presets.get(cfg.preset ?? cfg.name);
    if (cfg.preset && !preset) {
      throw new FlowError(
        FlowErrorCode.UnknownAgent,
        `agent "${cfg.name}": unknown preset "${cfg.preset}" (presets: ${[...this.o.presets.keys()].join(', ')})`,
      );
    }
    const model = fullModelId(cfg) ?? preset?.model;
    this.checkModel(cfg.name, model);
    const fallback = (cfg.fallback ?? []).filter((m) => m !== model);
    for (const m of fallback) this.checkModel(cfg.name, m);
    // A preset registered on the embedded server runs as that OpenCode agent (prompt,
    // permissions, temperature native); on a remote server we pass prompt and rules.
    const nativePreset = preset && !this.o.remote && !cfg.agent;
    return {
      name: cfg.name,
      agent: cfg.agent ?? (nativePreset ? preset.name : undefined),
      model,
      fallback: [...new Set(fallback)],
      systemPrompt: cfg.systemPrompt ?? (nativePreset ? undefined : preset?.systemPrompt),
      tools: this.#withFlowTools(cfg, toolSwitches(cfg.tools) ?? (nativePreset ? undefined : preset?.tools)),
      permission: toPermissionRuleset(cfg.permissions ?? (nativePreset ? undefined : preset?.permission)),
      role: cfg.role ?? preset?.name ?? cfg.name,
      taskType: preset?.taskType,
      // AgentSpec has no field for it: routing reads it from the spec object (RoutedAgentSpec).
      ...(preset?.qualityFloor !== undefined ? { qualityFloor: preset.qualityFloor } : {}),
      inputPolicy: (cfg.inputPolicy ?? this.o.inputPolicy) as InputPolicy | undefined,
      ...(cfg.schema
        ? { schema: registerOutputSchema(this.o.structured, cfg.schema, `agent "${cfg.name}": schema`) }
        : {}),
    };
  }
}
