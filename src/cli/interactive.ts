import { findFlowConfig, loadFlowConfig, type FlowConfig } from '../config/flow-config.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { RunOptions } from './run-options.js';

const NO_ROUTING = 'none';

/** Every mode `--mode` accepts, as the mode question offers it (a new mode fails to compile until described here). */
const MODES: Record<NonNullable<RunOptions['mode']>, string> = {
  parallel: 'all at once',
  sequential: 'one after another, each given the earlier outputs',
  hierarchical: 'a planner splits the task into subtasks for the agents, run in dependency order',
};

/**
 * Checks first that the run's OpenCode server serves a model provider (`checkProvidersFirst`:
 * the run's own error, before any question), then asks for what a run needs, with the flags and
 * the config file as defaults: the task, the agents (a multi-select over presets and the
 * config's own agents), the mode (every mode `--mode` accepts), the routing mode and a budget. Prompts go to stderr, so `--json` output stays one object on stdout.
 * Needs a terminal on stdin.
 *
 * @returns the flags with the answers filled in.
 *
 * @example
 * ```ts
 * const flags = await askRunOptions(parseRunOptions({ interactive: true }));
 * ```
 */
export async function askRunOptions(
  flags: RunOptions,
  sources: { configPath?: string; cwd?: string } = {},
): Promise<RunOptions> {
  if (!process.stdin.isTTY) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      '--interactive needs a terminal: stdin is not a TTY (pass --agents and --task instead)',
    );
  }
  const cwd = sources.cwd ?? process.cwd();
  // No question before the pre-flight: a machine with no provider is told so at once.
  process.stderr.write('Checking the OpenCode server and its model providers…\n');
  await (await import('./preflight.js')).checkProvidersFirst(flags, cwd);
  const path = flags.config ?? sources.configPath ?? findFlowConfig(cwd);
  const config: FlowConfig = path ? (await loadFlowConfig(path, cwd)).config : {};
  const { loadPresets } = await import('../presets/index.js');
  const presets = [...(await loadPresets({ cwd })).values()];
  const { input, checkbox, select } = await import('@inquirer/prompts');
  const ctx = { output: process.stderr };

  const task = await input(
    {
      message: 'Task for the agents:',
      default: flags.task ?? config.task,
      validate: (s) => (s.trim() ? true : 'Describe the task, e.g. "Review src/ for security issues"'),
    },
    ctx,
  );

  const configured = (config.agents ?? []).map((a) => (typeof a === 'string' ? a : a.name));
  const chosen = new Set(flags.agents ?? configured);
  const own = (config.agents ?? []).filter((a) => typeof a === 'object');
  const agents = await checkbox(
    {
      message: 'Agents (space to select, enter to confirm):',
      choices: [
        ...own.map((a) => ({ value: a.name, name: `${a.name} (from the config)`, checked: chosen.has(a.name) })),
        ...presets.map((p) => ({
          value: p.name,
          name: p.name,
          description: p.description,
          checked: chosen.has(p.name),
        })),
      ],
      required: true,
      pageSize: 12,
    },
    ctx,
  );

  const mode = await select(
    {
      message: 'How should they work together?',
      default: flags.mode ?? config.coordination?.mode ?? 'parallel',
      choices: (Object.keys(MODES) as (keyof typeof MODES)[]).map((value) => ({
        value,
        name: value,
        description: MODES[value],
      })),
    },
    ctx,
  );

  const optimize = await select(
    {
      message: 'Model routing:',
      default: flags.optimize ?? config.modelRouter?.mode ?? NO_ROUTING,
      choices: [
        {
          value: NO_ROUTING,
          name: config.modelRouter ? 'as configured' : 'none',
          description: "explicit models, else OpenCode's default model",
        },
        { value: 'cost', name: 'cost', description: "the cheapest model that meets each task's quality floor" },
        { value: 'balanced', name: 'balanced', description: 'quality, cost and speed together' },
        { value: 'quality', name: 'quality', description: 'the best model' },
        { value: 'speed', name: 'speed', description: 'the fastest model that meets the floor' },
      ],
    },
    ctx,
  );

  const budget = await input(
    {
      message: 'Budget in USD (empty for none):',
      default: flags.maxCost !== undefined ? String(flags.maxCost) : '',
      validate: (s) =>
        s.trim() === '' || (/^\d*\.?\d+$/.test(s.trim()) && Number(s) > 0)
          ? true
          : 'Enter an amount such as 0.50, or nothing',
    },
    ctx,
  );

  return {
    ...flags,
    task: task.trim(),
    agents,
    mode,
    optimize: optimize === NO_ROUTING ? undefined : (optimize as RunOptions['optimize']),
    maxCost: budget.trim() ? Number(budget) : undefined,
  };
}
