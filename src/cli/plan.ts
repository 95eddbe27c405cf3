import { isAbsolute, relative } from 'node:path';
import {
  checkAgentNames,
  findFlowConfig,
  loadFlowConfig,
  type FlowAgent,
  type FlowConfig,
} from '../config/flow-config.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { RunOptions } from './run-options.js';

/** How a run prints. */
export interface OutputOptions {
  json: boolean;
  stream: boolean;
  quiet: boolean;
  verbose: boolean;
  /** Progress as JSON log lines (`--log-format json`), through the logger `serve` uses. */
  logFormat?: 'json' | 'pretty';
}

/**
 * Everything a run needs, after flags, environment and config file are merged. Precedence:
 * flags, then the environment (`OPENCODE_SERVER_URL`, `OPENCODE_FLOW_MEMORY`), then the
 * config file, then the library's defaults.
 *
 * @example
 * ```ts
 * const plan = await planRun(parseRunOptions(raw));
 * plan.agents; // ['researcher', { name: 'api-coder', preset: 'coder' }]
 * ```
 */
export interface RunPlan {
  task: string;
  /** Agents of the config: names, and objects that are spawned before the run. */
  agents: FlowAgent[];
  /** Names of the agents that run, in order. */
  run: string[];
  mode: 'parallel' | 'sequential' | 'hierarchical';
  /** Whole-flow timeout, seconds. */
  timeout?: number;
  /** Per-prompt timeout, seconds. */
  promptTimeout?: number;
  maxConcurrent?: number;
  onAgentFailure?: 'continue' | 'fail';
  model?: string;
  fallback?: string[];
  optimize?: 'cost' | 'quality' | 'balanced' | 'speed';
  maxCost?: number;
  server?: string;
  memory?: FlowConfig['memory'];
  /** The flow store URI (`--store`, `OPENCODE_FLOW_STORE`); absent: the library's default. */
  store?: string;
  /** The config's router; only `{ concurrency }` when the file sets nothing else (no routing then). */
  modelRouter?: FlowConfig['modelRouter'] | { concurrency?: Record<string, number> };
  keepSessions: boolean;
  /** Show the flow in the Stately inspector. */
  inspect?: boolean;
  /** Seconds an OpenCode server this run starts stays warm for the next run (0: stop it with the run). */
  keepWarm?: number;
  /** The config's policy for agents without their own (permission requests, questions). */
  inputPolicy?: FlowConfig['inputPolicy'];
  output: OutputOptions;
  /** The config file used, if any (absolute). */
  configPath?: string;
}

/** Where a run's config comes from besides `--config` and discovery. */
export interface PlanSources {
  /** A config the command itself names (`run <flow>`). */
  configPath?: string;
  /** Directory searched for `flow.config.json` and `.opencode-flow/agents/`. */
  cwd?: string;
  /** Preset names (for early, field-naming errors); default: loaded from `cwd`. */
  presets?: Iterable<string>;
}

/**
 * Merges checked flags with the config file (given by `--config`, by the command, or
 * `flow.config.json` in the working directory) into a {@link RunPlan}. Unknown agents and a
 * missing task or agent list are `FlowError`s (exit 2) that say which flag or field to set.
 *
 * @example
 * ```ts
 * const plan = await planRun(parseRunOptions({ task: 'Review src/' }), { configPath: 'examples/code-review/flow.config.json' });
 * ```
 */
export async function planRun(flags: RunOptions, sources: PlanSources = {}): Promise<RunPlan> {
  const cwd = sources.cwd ?? process.cwd();
  if (flags.config && sources.configPath) {
    throw new FlowError(FlowErrorCode.InvalidConfig, 'give either a flow to run or --config, not both');
  }
  const found = flags.config ?? sources.configPath ?? findFlowConfig(cwd);
  // Messages name the file as the user would: relative to the working directory when inside it.
  const path = found && isAbsolute(found) && !relative(cwd, found).startsWith('..') ? relative(cwd, found) : found;
  const loaded = path ? await loadFlowConfig(path, cwd) : undefined;
  const config: FlowConfig = loaded?.config ?? {};
  const source = path ?? 'flow.config.json';

  const presets = [...(sources.presets ?? (await presetNames(cwd)))];
  checkAgentNames(config, presets, source);

  const agents: FlowAgent[] = config.agents ?? [];
  const run = flags.agents ?? agents.map((a) => (typeof a === 'string' ? a : a.name));
  if (run.length === 0) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `no agents: pass --agents researcher,coder or list "agents" in ${source}`,
    );
  }
  const known = new Set([...presets, ...agents.map((a) => (typeof a === 'string' ? a : a.name))]);
  for (const name of run) {
    if (!known.has(name)) {
      throw new FlowError(
        FlowErrorCode.UnknownAgent,
        `unknown agent "${name}" (known: ${[...known].sort().join(', ')})`,
      );
    }
  }
  const dup = run.find((a, i) => run.indexOf(a) !== i);
  if (dup) throw new FlowError(FlowErrorCode.InvalidConfig, `--agents: "${dup}" is listed twice`);
  const task = flags.task ?? config.task;
  if (!task) throw new FlowError(FlowErrorCode.InvalidConfig, `no task: pass --task "…" or set "task" in ${source}`);

  const c = config.coordination ?? {};
  return {
    task,
    agents,
    run,
    mode: flags.mode ?? c.mode ?? 'parallel',
    timeout: flags.timeout ?? c.timeout,
    promptTimeout: flags.promptTimeout ?? c.promptTimeout,
    maxConcurrent: flags.maxConcurrent ?? c.maxConcurrent,
    onAgentFailure: c.onAgentFailure,
    model: flags.model ?? config.model,
    fallback: flags.fallback ?? config.fallback,
    optimize: flags.optimize,
    maxCost: flags.maxCost,
    server: flags.server ?? config.server,
    memory: flags.memory ?? config.memory,
    ...(flags.store !== undefined ? { store: flags.store } : {}),
    // Caps alone (`modelRouter.concurrency`) do not turn routing on, as in the library: the
    // schema's defaults (mode, cooldown) are not the user's asking for it.
    modelRouter:
      loaded && config.modelRouter && loaded.modelRouterKeys.every((k) => k === 'concurrency')
        ? { concurrency: config.modelRouter.concurrency }
        : config.modelRouter,
    keepSessions: flags.keepSessions || config.keepSessions === true,
    inspect: flags.inspect,
    ...(flags.keepWarm !== undefined ? { keepWarm: flags.keepWarm } : {}),
    ...(config.inputPolicy ? { inputPolicy: config.inputPolicy } : {}),
    output: {
      json: flags.json,
      stream: flags.stream,
      quiet: flags.quiet,
      verbose: flags.verbose,
      ...(flags.logFormat ? { logFormat: flags.logFormat } : {}),
    },
    ...(loaded ? { configPath: loaded.path } : {}),
  };
}

async function presetNames(cwd: string): Promise<string[]> {
  const { loadPresets } = await import('../presets/index.js');
  return [...(await loadPresets({ cwd })).keys()];
}
