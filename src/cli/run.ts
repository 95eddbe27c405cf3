import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { FLOW_CONFIG_FILE } from '../config/flow-config-file.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { packageInfo } from '../package-root.js';
import { addRunFlags } from './run-flags.js';

// The flow-run flags live in run-flags.ts (commander) and run-options.ts (their checks, zod).
export { addRunFlags } from './run-flags.js';
export type { RunOptions } from './run-options.js';

/**
 * The directory of the bundled example flows (`examples/` of the package).
 *
 * @example
 * ```ts
 * join(examplesDir(), 'code-review', 'flow.config.json');
 * ```
 */
export function examplesDir(): string {
  return join(packageInfo().root, 'examples');
}

/**
 * Names of the bundled example flows: the `examples/*` directories with a `flow.config.json`.
 *
 * @example
 * ```ts
 * exampleFlows(); // ['api-generation', 'code-review', 'security-audit']
 * ```
 */
export function exampleFlows(): string[] {
  const dir = examplesDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, FLOW_CONFIG_FILE)))
    .sort();
}

/**
 * The config file a `run` argument names: a bundled flow (`code-review`), a config file, or
 * a directory holding a `flow.config.json`.
 *
 * @example
 * ```ts
 * resolveFlowArg('code-review'); // '…/examples/code-review/flow.config.json'
 * resolveFlowArg('./flows/nightly.json'); // '/repo/flows/nightly.json'
 * ```
 */
export function resolveFlowArg(flow: string, cwd = process.cwd()): string {
  const asPath = resolve(cwd, flow);
  if (/[\\/]|\.json$/.test(flow) || existsSync(asPath)) {
    if (existsSync(asPath) && statSync(asPath).isDirectory()) {
      const inside = join(asPath, FLOW_CONFIG_FILE);
      if (!existsSync(inside)) throw new FlowError(FlowErrorCode.InvalidConfig, `no ${FLOW_CONFIG_FILE} in ${flow}`);
      return inside;
    }
    return asPath;
  }
  const names = exampleFlows();
  if (!names.includes(flow)) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `unknown flow "${flow}" (flows: ${names.join(', ') || 'none installed'}; or give a path to a ${FLOW_CONFIG_FILE})`,
    );
  }
  return join(examplesDir(), flow, FLOW_CONFIG_FILE);
}

/**
 * `opencode-flow run <flow>`: runs a bundled example flow (`code-review`, `api-generation`,
 * `security-audit`) or any flow config file on the current project. Takes every flag of
 * the default command; flags override the flow's config.
 *
 * @example
 * ```ts
 * program.addCommand(runCommand());
 * // $ opencode-flow run code-review --task "Review src/"
 * ```
 */
export function runCommand(): Command {
  const cmd = new Command('run')
    .description(
      'Run a bundled flow (code-review, api-generation, security-audit) or a flow config file on the current project',
    )
    .argument('<flow>', 'a bundled flow name, a flow config file, or a directory with a flow.config.json');
  addRunFlags(cmd)
    .exitOverride()
    .showHelpAfterError('(run opencode-flow run --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s}`) })
    .addHelpText(
      'after',
      () => `
Flows: ${exampleFlows().join(', ')}

Examples:
  $ opencode-flow run code-review --task "Review src/"
  $ opencode-flow run security-audit --optimize quality --max-cost 0.50
  $ opencode-flow run ./flows/nightly.json --server http://127.0.0.1:4096 --json`,
    )
    .action(async (flow: string, _opts: Record<string, unknown>, self: Command) => {
      const { parseRunOptions } = await import('./run-options.js');
      const { planRun } = await import('./plan.js');
      const { runFlow } = await import('./run-flow.js');
      const flags = parseRunOptions(self.optsWithGlobals());
      const configPath = resolveFlowArg(flow);
      // --interactive asks with the flow's own task, agents and mode as the defaults.
      const answered = flags.interactive
        ? await (await import('./interactive.js')).askRunOptions(flags, { configPath })
        : flags;
      process.exitCode = await runFlow(await planRun(answered, { configPath }));
    });
  return cmd;
}
