import { Command } from 'commander';
import { optionsFromEnv } from '../flow/env.js';
import { zodToFlowError } from '../config/errors.js';
import { formatPath } from '../config/errors.js';
import { describeIssues } from '../config/flow-config.js';
import { maskPasswords, SECRET } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { ServeOptionsSchema, type ResolvedServeOptions, type ServeOptions } from '../serve/options.js';

/** Raw commander options (and env) → the shape of {@link ServeOptionsSchema}. */
export function normaliseServeOptions(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ServeOptions {
  const num = (v: unknown) =>
    v === undefined ? undefined : typeof v === 'number' ? v : /^\s*$/.test(String(v)) ? Number.NaN : Number(v);
  const { memory, password, username, token, serverUrl } = optionsFromEnv(env);
  const model = typeof raw.model === 'string' ? raw.model : undefined;
  const flowOptions: Record<string, unknown> = {
    ...(memory ? { memory } : {}),
    ...(password ? { password } : {}),
    ...(username ? { username } : {}),
    ...(model ? { model } : {}),
    ...(raw.keepSessions ? { keepSessions: true } : {}),
  };
  const timeout = raw.inputTimeout === undefined ? undefined : num(raw.inputTimeout)!;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `invalid option --input-timeout: expected a positive number of seconds, found "${String(raw.inputTimeout)}"`,
    );
  }
  const inputPolicy = {
    ...(raw.onPermission !== undefined ? { onPermission: raw.onPermission } : {}),
    ...(raw.onQuestion !== undefined ? { onQuestion: raw.onQuestion } : {}),
    ...(timeout !== undefined ? { inputTimeoutMs: Math.max(1, Math.round(timeout * 1000)) } : {}),
  } as ServeOptions['inputPolicy'];
  return {
    port: num(raw.port),
    host: raw.host as string | undefined,
    token: (raw.token as string | undefined) ?? token,
    server: (raw.server as string | undefined) ?? serverUrl,
    maxFlows: num(raw.maxFlows),
    onShutdown: raw.onShutdown as ServeOptions['onShutdown'],
    ...(Object.keys(flowOptions).length ? { flowOptions } : {}),
    ...(Object.keys(inputPolicy ?? {}).length ? { inputPolicy } : {}),
  };
}

/** A field of {@link ServeOptionsSchema} → the flag that sets it, and the variable it may come from. */
const SERVE_FLAGS: Record<string, { flag: string; raw: string; env?: string }> = {
  port: { flag: '--port', raw: 'port' },
  host: { flag: '--host', raw: 'host' },
  token: { flag: '--token', raw: 'token', env: 'OPENCODE_FLOW_TOKEN' },
  server: { flag: '--server', raw: 'server', env: 'OPENCODE_SERVER_URL' },
  maxFlows: { flag: '--max-flows', raw: 'maxFlows' },
  onShutdown: { flag: '--on-shutdown', raw: 'onShutdown' },
  'inputPolicy.onPermission': { flag: '--on-permission', raw: 'onPermission' },
  'inputPolicy.onQuestion': { flag: '--on-question', raw: 'onQuestion' },
  'inputPolicy.inputTimeoutMs': { flag: '--input-timeout', raw: 'inputTimeout' },
};

/**
 * Validates `serve`'s options; a bad value is a `FlowError` (`invalid_config`, exit 2) naming
 * the flag a user typed (`--max-flows`, or the variable it came from), what it expects and
 * what was typed. A token is never echoed.
 *
 * @example
 * ```ts
 * parseServeOptions({ maxFlows: '0' }, {}); // throws: invalid option --max-flows: expected at least 1 flow, found "0"
 * ```
 */
export function parseServeOptions(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedServeOptions {
  const parsed = ServeOptionsSchema.safeParse(normaliseServeOptions(raw, env));
  if (parsed.success) return parsed.data;
  const typed: Record<string, unknown> = {};
  const issues = parsed.error.issues.map((issue) => {
    const segments = issue.path.map(String);
    const n = [2, 1].find((k) => segments.length >= k && SERVE_FLAGS[segments.slice(0, k).join('.')]);
    const known = n === undefined ? undefined : SERVE_FLAGS[segments.slice(0, n).join('.')];
    if (!known || n === undefined) return issue;
    const fromEnv = known.env !== undefined && raw[known.raw] === undefined && Boolean(env[known.env]);
    const name = fromEnv ? known.env! : known.flag;
    const value = fromEnv ? env[known.env!] : raw[known.raw];
    typed[name] = value !== undefined && known.flag === '--token' ? SECRET : value;
    return { ...issue, path: [name, ...issue.path.slice(n)] };
  });
  // A rule about a flag not given (a token for a public bind) has nothing to quote.
  const lines = (issues as typeof parsed.error.issues).flatMap((i) =>
    i.code === 'custom' && valueAt(typed, i.path) === undefined
      ? [`${formatPath(i.path)}: ${i.message}`]
      : describeIssues([i], typed),
  );
  throw new FlowError(FlowErrorCode.InvalidConfig, `invalid option ${lines.join('; ')}`, {
    cause: parsed.error,
    details: lines,
  });
}

const valueAt = (o: Record<string, unknown>, path: readonly PropertyKey[]) =>
  path.length === 1 ? o[String(path[0])] : undefined;

const describePolicy = (p: unknown) => (p === undefined ? 'reject' : typeof p === 'string' ? p : 'rules');

/**
 * `opencode-flow serve`: the HTTP API, live dashboard and `/metrics` over one OpenCode
 * server (attached with `--server`/`OPENCODE_SERVER_URL`, else embedded). Runs until
 * SIGTERM/SIGINT, then shuts down gracefully and exits 0. Bad options exit 2.
 *
 * @example
 * ```ts
 * program.addCommand(serveCommand());
 * // $ opencode-flow serve --port 5000 --token "$(openssl rand -hex 24)" --max-flows 8
 * ```
 */
export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('Serve the HTTP API, live dashboard and Prometheus /metrics for flows on one OpenCode server')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', '5000')
    .option('--host <host>', 'address to bind; anything but loopback requires a token', '127.0.0.1')
    .option('--token <token>', 'bearer token the API requires (default: $OPENCODE_FLOW_TOKEN)')
    .option('-s, --server <url>', 'attach to this OpenCode server (default: $OPENCODE_SERVER_URL, else start one)')
    .option('--max-flows <n>', 'flows running at once; more get HTTP 429', '4')
    .option(
      '--on-shutdown <mode>',
      'on SIGTERM/SIGINT: "cancel" running flows, "wait" for them, or "persist" them for opencode-flow resume',
      'cancel',
    )
    .option('--model <provider/model>', 'model for agents of flows that name none')
    .option('--keep-sessions', 'keep OpenCode sessions after flows (default: delete them)')
    .option(
      '--on-permission <policy>',
      'agents\' permission requests: "ask" (answer on the dashboard or POST /flows/:id/requests/:rid), "allow" or "reject" (default: reject)',
    )
    .option('--on-question <policy>', 'agents\' questions: "ask", "reject" or "first-option" (default: reject)')
    .option('--input-timeout <seconds>', 'how long an "ask" waits for a person before rejecting (default: 300)')
    .exitOverride()
    .showHelpAfterError('(run opencode-flow serve --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s.replace(/^error: /, 'error: ')}`) })
    .addHelpText(
      'after',
      `
Routes: POST/GET /flows, GET/DELETE /flows/:id, GET /flows/:id/events (SSE), GET /flows/:id/cost,
        GET /flows/:id/requests, POST /flows/:id/requests/:rid (permission requests, questions),
        GET /metrics (all with "Authorization: Bearer <token>" when a token is set),
        GET /healthz, GET /readyz, GET / (dashboard; open /#token=<token> or paste it there).

Examples:
  $ opencode-flow serve
  $ OPENCODE_FLOW_TOKEN=$(openssl rand -hex 24) opencode-flow serve --host 0.0.0.0 --port 5000 --max-flows 8
  $ opencode-flow serve --server http://127.0.0.1:4096 --on-shutdown wait
  $ opencode-flow serve --on-permission ask --on-question ask     # a person answers on the dashboard`,
    )
    .action(async (_raw: Record<string, unknown>, self: Command) => {
      // Flags such as --server and --model also exist on the root command, which may parse
      // them first: read ours merged with the globals.
      const raw = self.optsWithGlobals();
      const o = parseServeOptions(raw);
      const { startServe } = await import('../serve/start.js');
      const err = (s: string) => process.stderr.write(s);
      if (!o.server) err('Starting OpenCode server…\n');
      const serve = await startServe(o, { handleSignals: true, log: (line) => err(`opencode-flow serve: ${line}\n`) });
      const out = [
        `opencode-flow serve listening on ${serve.url}`,
        `  dashboard  ${serve.url}/`,
        `  metrics    ${serve.url}/metrics`,
        `  OpenCode   ${maskPasswords(serve.flow.serverUrl ?? '?')} (${o.server ? 'attached' : 'embedded'})`,
        `  auth       ${o.token ? 'bearer token required' : 'none (loopback only)'}`,
        `  flows      at most ${o.maxFlows} at once; on shutdown: ${o.onShutdown}`,
        `  input      permissions: ${describePolicy(o.inputPolicy?.onPermission)}; questions: ${o.inputPolicy?.onQuestion ?? 'reject'}`,
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
  return cmd;
}
