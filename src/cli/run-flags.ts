import { Command, Option } from 'commander';

// Commander only: `--help` builds every command's flags, and must not load zod for it.
// The flags are checked by run-options.ts, loaded when a command runs.

/**
 * Adds the flow-run flags to a command (the default command and `run <flow>`). No flag has
 * a commander default: a value not given falls through to the config file, then to the
 * library's default.
 *
 * @example
 * ```ts
 * addRunFlags(new Command('opencode-flow')).parse(['--agents', 'coder', '--task', 'Fix #12'], { from: 'user' });
 * ```
 */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('-a, --agents <names>', 'agents to run, comma-separated (presets or configured)')
    .option('-t, --task <text>', 'the task for the agents')
    .addOption(
      new Option(
        '-m, --mode <mode>',
        'how agents work together (default: parallel; hierarchical: the planner splits the task)',
      ).choices(['parallel', 'sequential', 'hierarchical']),
    )
    .option('-c, --config <path>', 'flow config file (default: ./flow.config.json when present)')
    .option('--model <provider/model>', 'model for agents without one')
    .option('--fallback <models>', 'fallback models, comma-separated provider/model')
    .addOption(
      new Option('--optimize <mode>', 'let the router pick models for agents without one').choices([
        'cost',
        'quality',
        'balanced',
        'speed',
      ]),
    )
    .option('--max-cost <usd>', 'hard budget for the flow in USD: no prompt starts past it')
    .option(
      '-s, --server <urls>',
      'attach to this OpenCode server, or a pool: url1,url2 (default: $OPENCODE_SERVER_URL, else start one)',
    )
    .option(
      '--memory <uri>',
      'shared memory: file:PATH, sqlite:PATH or redis://HOST:PORT/DB (default: $OPENCODE_FLOW_MEMORY, else file:.opencode-flow/memory.json)',
    )
    .option(
      '--store <uri>',
      'where the flow is stored: file:DIR, sqlite:PATH or postgres://USER@HOST:PORT/DB (default: $OPENCODE_FLOW_STORE, else file:.opencode-flow/flows)',
    )
    .option('--timeout <seconds>', 'give up on the whole flow after this many seconds (default: no limit)')
    .option(
      '--prompt-timeout <seconds>',
      'a prompt with no answer after this many seconds falls back to the next model (default: 600)',
    )
    .option('--max-concurrent <n>', 'agents at once in parallel mode (default: 8)')
    .option('--stream', "print agents' output as it streams, prefixed by agent name")
    .option('--json', 'print exactly one JSON object (the flow report) on stdout')
    .addOption(new Option('-q, --quiet', 'no progress display: only the report and errors').conflicts('verbose'))
    .option('-v, --verbose', 'also show tool calls, model picks, the server and the config used')
    .option(
      '--log-format <format>',
      'progress lines on stderr: pretty (readable lines, the default) or json (one JSON log line each, as serve writes them) (default: $OPENCODE_FLOW_LOG_FORMAT)',
    )
    .option('-i, --interactive', 'ask for the task, agents, mode, optimization and budget')
    .option('--inspect', 'show the flow live in the Stately inspector (prints the URL to open)')
    .option('--keep-sessions', 'keep OpenCode sessions after the flow (default: delete them)')
    .option(
      '--keep-warm <seconds>',
      'leave the OpenCode server this run starts running this long for the next run here (default: $OPENCODE_FLOW_KEEP_WARM, else 300)',
    )
    .option('--no-keep-warm', 'stop the OpenCode server this run starts when it ends');
}
