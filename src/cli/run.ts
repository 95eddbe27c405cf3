import { Command, Option } from 'commander';
import { z } from 'zod';
import { ModelIdSchema } from '../config/agent.js';
import { ExitCode } from './handle-error.js';
import { DeltaPrinter, formatReport } from './output.js';

const csv = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** Options of a flow run, validated before anything starts. */
export const RunOptionsSchema = z
  .object({
    agents: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: 'expected agent names separated by commas' })).min(1, {
      message: 'expected at least one agent, e.g. --agents researcher,coder',
    }),
    task: z.string().trim().min(1, { message: 'expected a task, e.g. --task "Design a REST API"' }),
    mode: z.enum(['parallel', 'sequential']),
    model: ModelIdSchema.optional(),
    fallback: z.array(ModelIdSchema).optional(),
    server: z.string().url({ message: 'expected a URL such as http://127.0.0.1:4096' }).optional(),
    timeout: z.number({ message: 'expected a number of seconds' }).positive({ message: 'expected a positive number of seconds' }).optional(),
    stream: z.boolean(),
    json: z.boolean(),
    keepSessions: z.boolean(),
    optimize: z.enum(['cost', 'quality', 'balanced', 'speed']).optional(),
    maxCost: z.number({ message: 'expected an amount in USD, e.g. 0.50' }).positive({ message: 'expected a positive amount in USD' }).optional(),
  })
  .strict();

export type RunOptions = z.infer<typeof RunOptionsSchema>;

/** Raw commander options → the schema's shape (numbers and lists parsed, env applied). */
export function normaliseRunOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): unknown {
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  return {
    agents: typeof raw.agents === 'string' ? csv(raw.agents) : (raw.agents ?? []),
    task: raw.task ?? '',
    mode: raw.mode ?? 'parallel',
    model: raw.model,
    fallback: typeof raw.fallback === 'string' ? csv(raw.fallback) : undefined,
    server: raw.server ?? (env.OPENCODE_SERVER_URL || undefined),
    timeout: num(raw.timeout),
    stream: Boolean(raw.stream),
    json: Boolean(raw.json),
    keepSessions: Boolean(raw.keepSessions),
    optimize: raw.optimize,
    maxCost: num(raw.maxCost),
  };
}

/** Add the flow-run flags to a command (the default command and `run <preset>`). */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('-a, --agents <names>', 'agents to run, comma-separated (presets or configured)')
    .option('-t, --task <text>', 'the task for the agents')
    .addOption(new Option('-m, --mode <mode>', 'how agents work together').choices(['parallel', 'sequential']).default('parallel'))
    .option('--model <provider/model>', 'model for agents without one')
    .option('--fallback <models>', 'fallback models, comma-separated provider/model')
    .addOption(new Option('--optimize <mode>', 'let the router pick models for agents without one').choices(['cost', 'quality', 'balanced', 'speed']))
    .option('--max-cost <usd>', 'hard budget for the flow in USD: no prompt starts past it')
    .option('-s, --server <url>', 'attach to this OpenCode server (default: $OPENCODE_SERVER_URL, else start one)')
    .option('--timeout <seconds>', 'give up on the flow after this many seconds')
    .option('--stream', 'print agents\' output as it streams, prefixed by agent name')
    .option('--json', 'print exactly one JSON object (the flow report) on stdout')
    .option('--keep-sessions', 'keep OpenCode sessions after the flow (default: delete them)');
}

/** Run a flow from validated options; returns the exit code. */
export async function runFlow(opts: RunOptions): Promise<number> {
  const { OpencodeFlow } = await import('../flow.js');
  const err = (s: string) => process.stderr.write(s);
  const flow = new OpencodeFlow({
    serverUrl: opts.server,
    password: process.env.OPENCODE_SERVER_PASSWORD || undefined,
    username: process.env.OPENCODE_SERVER_USERNAME || undefined,
    model: opts.model,
    fallback: opts.fallback,
    keepSessions: opts.keepSessions,
    promptTimeoutMs: opts.timeout ? Math.round(opts.timeout * 1000) : undefined,
    // A memory URI (file:…, sqlite:…, redis://…); default: .opencode-flow/memory.json.
    memory: process.env.OPENCODE_FLOW_MEMORY || undefined,
  });
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted === 1) {
      err('\nopencode-flow: cancelling (Ctrl-C again to force)…\n');
      flow.cancel(undefined, 'interrupted');
    } else process.exit(ExitCode.Cancelled);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (!opts.json && !opts.server && !process.env.OPENCODE_SERVER_URL) err('Starting OpenCode server…\n');
    await flow.start();
    const printer = new DeltaPrinter((s) => (opts.json ? err(s) : process.stdout.write(s)));
    if (opts.stream) {
      flow.on('agent.delta', (e) => printer.push(e.agent, e.text));
      flow.on('agent.done', (e) => printer.flush(e.agent));
      flow.on('agent.failed', (e) => printer.flush(e.agent));
    }
    flow.on('agent.fallback', (e) => err(`[${e.agent}] ${e.from} failed (${e.reason}); falling back to ${e.to}\n`));
    if (interrupted) flow.cancel(undefined, 'interrupted');
    const report = await flow.execute({
      task: opts.task,
      agents: opts.agents,
      mode: opts.mode,
      timeout: opts.timeout ? Math.round(opts.timeout * 1000) : undefined,
      optimize: opts.optimize,
      maxCost: opts.maxCost,
    });
    printer.flush();
    if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
    else process.stdout.write(formatReport(report, { outputs: !opts.stream }));
    if (report.status === 'cancelled') return ExitCode.Cancelled;
    return report.status === 'completed' ? ExitCode.Ok : ExitCode.Failed;
  } finally {
    await flow.shutdown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
