import { Command } from 'commander';
import { closest, findFlowConfig, FLOW_CONFIG_FILE } from '../config/flow-config-file.js';
import { packageInfo } from '../package-root.js';
import { agentsCommand } from './agents.js';
import { completionCommand } from './completion.js';
import { demoCommand } from './demo.js';
import { costCommand, flowsCommand, resumeCommand } from './flows.js';
import { mcpCommand } from './mcp.js';
import { runCommand } from './run.js';
import { serverCommand } from './server.js';
import { addRunFlags } from './run-flags.js';

/**
 * The `opencode-flow` program: the default command runs a flow from flags and/or
 * `flow.config.json`; subcommands `run`, `agents`, `demo`, `mcp`, `completion` (the entry point adds
 * `serve`).
 * Options are positional: flags after a subcommand belong to it.
 *
 * @example
 * ```ts
 * await buildProgram().parseAsync(['--agents', 'reviewer', '--task', 'Review src/'], { from: 'user' });
 * ```
 */
export function buildProgram(): Command {
  const program = new Command('opencode-flow')
    .description('Run multi-agent flows on OpenCode: agents as XState actors, coordinated by a supervisor.')
    .version(packageInfo().version, '-V, --version')
    .enablePositionalOptions()
    // An operand is a mistyped command: say so (with commander's suggestion) in the action.
    .allowExcessArguments()
    .exitOverride()
    .showHelpAfterError('(run opencode-flow --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s}`) });
  addRunFlags(program);
  program.addCommand(runCommand());
  program.addCommand(agentsCommand());
  program.addCommand(demoCommand());
  program.addCommand(mcpCommand());
  program.addCommand(flowsCommand());
  program.addCommand(resumeCommand());
  program.addCommand(costCommand());
  program.addCommand(serverCommand());
  program.addCommand(completionCommand());
  program.addHelpText(
    'after',
    `
Examples:
  $ npx opencode-flow demo                                   # a whole flow, scripted model, no API key
  $ opencode-flow --agents researcher,coder,reviewer --task "Design a REST API for todos"
  $ opencode-flow --agents coder,reviewer --mode sequential --task "Add input validation" --stream
  $ opencode-flow --agents reviewer --task "Security audit" --optimize cost --max-cost 0.01
  $ opencode-flow --config ./flow.config.json --task "Review src/" --json
  $ opencode-flow --interactive
  $ opencode-flow run code-review --task "Review src/"
  $ opencode-flow agents
  $ opencode-flow flows                                      # stored flows, status and cost
  $ opencode-flow resume flow_20261124093000_ab12cd          # continue one whose process died
  $ opencode-flow cost                                       # the latest flow's cost per agent and model

Config: ./flow.config.json is read when present (or --config PATH); flags override it, and
.env in the working directory is loaded. Schema: schema/flow.config.schema.json.
Exit codes: 0 completed, 1 flow failed, 2 usage or config error, 130 cancelled.`,
  );
  program.action(async (raw: Record<string, unknown>) => {
    if (program.args.length > 0) unknownCommand(program, program.args[0]!);
    // A bare `opencode-flow` shows help, even beside a flow.config.json: running a flow (and
    // paying for it) takes at least one flag.
    if (!Object.values(raw).some((v) => v !== undefined && v !== false)) {
      program.outputHelp();
      const found = findFlowConfig(process.cwd());
      if (found)
        process.stdout.write(
          `\nFound ${FLOW_CONFIG_FILE} here: run it with opencode-flow --config ${FLOW_CONFIG_FILE} (flags override it).\n`,
        );
      return;
    }
    const { parseRunOptions } = await import('./run-options.js');
    const flags = parseRunOptions(raw);
    const { planRun } = await import('./plan.js');
    const { runFlow } = await import('./run-flow.js');
    const answered = flags.interactive ? await (await import('./interactive.js')).askRunOptions(flags) : flags;
    process.exitCode = await runFlow(await planRun(answered));
  });
  return program;
}

/** Commander's own "unknown command" error, with its "(Did you mean …?)" suggestion. */
function unknownCommand(program: Command, name: string): never {
  const names = (program.commands as readonly Command[]).map((c) => c.name());
  const near = closest(name, names);
  program.error(
    `error: unknown command '${name}'${near ? ` (Did you mean ${near}?)` : ''}; commands: ${names.join(', ')}`,
    {
      code: 'commander.unknownCommand',
      exitCode: 2,
    },
  );
}
