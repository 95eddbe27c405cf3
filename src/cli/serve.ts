import { Command } from 'commander';
import { maskPasswords } from '../echo.js';
import { LOG_FORMATS, LOG_LEVELS } from './log-options.js';

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
    .option(
      '-s, --server <urls>',
      'attach to this OpenCode server, or a pool: url1,url2 (default: $OPENCODE_SERVER_URL, else start one)',
    )
    .option('--max-flows <n>', 'flows running at once; more get HTTP 429', '4')
    .option(
      '--on-shutdown <mode>',
      'on SIGTERM/SIGINT: "cancel" running flows, "wait" for them, or "persist" them for opencode-flow resume (a replica: for the other replicas) (default: cancel; persist for a replica on a PostgreSQL store)',
    )
    .option('--model <provider/model>', 'model for agents of flows that name none')
    .option('--keep-sessions', 'keep OpenCode sessions after flows (default: delete them)')
    .option(
      '--store <uri>',
      'where flows are stored: file:DIR, sqlite:PATH or postgres://USER@HOST:PORT/DB (default: $OPENCODE_FLOW_STORE, else file:.opencode-flow/flows)',
    )
    .option(
      '--lease <seconds>',
      'with a postgres:// store this server is one replica of a pool: how long its hold on a run lasts without a heartbeat (default 10; heartbeats every fifth of it)',
    )
    .option(
      '--on-permission <policy>',
      'agents\' permission requests: "ask" (answer on the dashboard or POST /flows/:id/requests/:rid), "allow" or "reject" (default: reject)',
    )
    .option('--on-question <policy>', 'agents\' questions: "ask", "reject" or "first-option" (default: reject)')
    .option('--input-timeout <seconds>', 'how long an "ask" waits for a person before rejecting (default: 300)')
    .option(
      '--log-level <level>',
      `log lines at this level and above: ${LOG_LEVELS.join('|')} (default: $OPENCODE_FLOW_LOG_LEVEL, else info)`,
    )
    .option(
      '--log-format <format>',
      `${LOG_FORMATS.join('|')}: JSON lines, or one readable line each (default: $OPENCODE_FLOW_LOG_FORMAT, else pretty on a terminal, json otherwise)`,
    )
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
      const { parseServeOptions } = await import('./serve-options.js');
      const { logging, ...o } = parseServeOptions(raw);
      const { startServe } = await import('../serve/start.js');
      const { createServeLogger } = await import('./serve-logger.js');
      const err = (s: string) => process.stderr.write(s);
      if (!o.server) err('Starting OpenCode server…\n');
      // The lines go to stdout after the banner; a password of the store is masked anyway.
      const logger = createServeLogger({
        level: logging.logLevel,
        format: logging.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json'),
        secrets: [o.token, o.flowOptions?.password].filter((s): s is string => typeof s === 'string' && s !== ''),
      });
      const serve = await startServe(
        { ...o, logger },
        { handleSignals: true, log: (line) => err(`opencode-flow serve: ${line}\n`) },
      );
      const out = [
        `opencode-flow serve listening on ${serve.url}`,
        `  dashboard  ${serve.url}/`,
        `  metrics    ${serve.url}/metrics`,
        `  OpenCode   ${maskPasswords(serve.flow.serverUrl ?? '?')} (${o.server ? 'attached' : 'embedded'})`,
        `  auth       ${o.token ? 'bearer token required' : 'none (loopback only)'}`,
        `  flows      at most ${o.maxFlows} at once; on shutdown: ${serve.handle.onShutdown}; stored in ${serve.flow.store.location}`,
        ...(serve.handle.pool
          ? [
              `  pool       replica ${serve.handle.pool.id}: runs flows queued in ${serve.flow.store.location} (lease ${serve.handle.pool.timing.leaseMs / 1000} s)`,
            ]
          : []),
        `  input      permissions: ${describePolicy(o.inputPolicy?.onPermission)}; questions: ${o.inputPolicy?.onQuestion ?? 'reject'}`,
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
  return cmd;
}
