import type { FlowOptions, FlowReport } from '../flow/index.js';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { optionsFromEnv } from '../flow/env.js';
import { secondsToMs } from '../config/timeouts.js';
import { ExitCode } from './handle-error.js';
import { askOnTerminal } from './input-prompt.js';
import { DeltaPrinter, formatReport } from './output.js';
import type { RunPlan } from './plan.js';
import { createProgress, followStart } from './progress.js';

/** What a caller adds to a run beyond its plan (the demo: an embedded scripted server). */
export interface RunExtras {
  /** Options merged over those the plan gives `OpencodeFlow`. */
  flowOptions?: Partial<FlowOptions>;
  /** Printed on stdout before the report, e.g. a label. */
  banner?: string;
  /** Shown while the server starts (default "Starting OpenCode server…"). */
  starting?: string;
  /** false: never use or leave a warm server (the demo's server serves an in-process model). */
  warm?: false;
}

/**
 * Runs a planned flow through the library and prints it: progress on stderr, then the
 * report (outputs and cost table, or one JSON object with `--json`) on stdout. Ctrl-C
 * cancels the flow (busy sessions are aborted) and exits 130; a second Ctrl-C exits at once.
 *
 * @returns the exit code: 0 completed with every agent done, 1 failed (or an agent failed), 130 cancelled.
 *
 * @example
 * ```ts
 * process.exitCode = await runFlow(await planRun(parseRunOptions(raw)));
 * ```
 */
export async function runFlow(plan: RunPlan, extras: RunExtras = {}): Promise<number> {
  const { OpencodeFlow } = await import('../flow/index.js');
  const out = plan.output;
  const progress = await createProgress(out);
  const askPerson =
    process.stdin.isTTY === true && process.stderr.isTTY === true && !out.json && process.env.CI === undefined;
  // --- warm server hook (warm-run.ts): attach to this project's warm OpenCode server, or start
  // one that outlives this run; the flow then sees an attached server and leaves it running.
  if (!plan.server && extras.warm !== false) progress.info(extras.starting ?? 'Starting OpenCode server…');
  // The keeper starts the warm server in its own process: one phase for all of it.
  if (!plan.server && extras.warm !== false && (plan.keepWarm ?? 1) > 0)
    progress.phase('attaching to or starting the warm OpenCode server');
  const warm =
    extras.warm === false
      ? undefined
      : await (await import('./warm-run.js')).useWarmServer(plan, extras.flowOptions).catch((e: unknown) => {
          progress.info(`No warm OpenCode server (${(e as Error).message}); starting one for this run…`);
          return undefined;
        });
  if (warm)
    progress.debug(
      `${warm.lease.reused ? 'attached to the warm' : 'started a warm'} OpenCode server ${warm.lease.url} (pid ${warm.lease.pid})`,
    );
  // --- end of the warm server hook
  const flow = new OpencodeFlow({
    serverUrl: plan.server,
    password: optionsFromEnv().password,
    username: optionsFromEnv().username,
    model: plan.model,
    fallback: plan.fallback,
    keepSessions: plan.keepSessions,
    promptTimeoutMs: secondsToMs(plan.promptTimeout),
    maxConcurrent: plan.maxConcurrent,
    ...(plan.memory !== undefined ? { memory: plan.memory as FlowOptions['memory'] } : {}),
    ...(plan.store !== undefined ? { store: plan.store } : {}),
    ...(plan.modelRouter ? { modelRouter: plan.modelRouter as Record<string, unknown> } : {}),
    ...(plan.inspect ? { inspect: true } : {}),
    // A person at a terminal is asked about permissions and questions; otherwise the
    // agents' policy (default: reject) answers, so a flow never waits on nobody. What the
    // config's inputPolicy sets wins over both.
    ...(askPerson || plan.inputPolicy
      ? {
          inputPolicy: {
            ...(askPerson ? { onPermission: 'ask' as const, onQuestion: 'ask' as const } : {}),
            ...plan.inputPolicy,
          },
        }
      : {}),
    ...extras.flowOptions,
    ...warm?.flowOptions,
  });
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted === 1) {
      process.stderr.write('\nopencode-flow: cancelling (Ctrl-C again to force)…\n');
      flow.cancel(undefined, 'interrupted');
    } else process.exit(ExitCode.Cancelled);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: FlowReport | undefined;
  let noProvider = false;
  try {
    if (plan.configPath) progress.debug(`config: ${plan.configPath}`);
    if (!plan.server && extras.warm === false) progress.info(extras.starting ?? 'Starting OpenCode server…');
    // The start of a server of this run's own (embedded, or the warm one): its phases and their
    // times, since a first start can take minutes. Attaching to --server says nothing.
    if (!plan.server) followStart(flow, progress);
    await flow.start().catch((e: unknown) => {
      noProvider = e instanceof FlowError && e.code === FlowErrorCode.NoProvider;
      throw e;
    });
    progress.debug(`OpenCode server: ${maskPasswords(flow.serverUrl ?? '')}`);
    progress.debug(`flow store: ${flow.store.location}`);
    if (flow.inspectorUrl)
      process.stderr.write(
        `Inspector: open ${flow.inspectorUrl} to watch this flow live (WebSocket ${flow.inspectorWsUrl})\n`,
      );
    if (askPerson) askOnTerminal(flow, progress);
    if (interrupted) return ExitCode.Cancelled;
    progress.attach(flow);
    const printer = new DeltaPrinter((s) => (out.json ? process.stderr.write(s) : process.stdout.write(s)));
    if (out.stream) {
      flow.on('agent.delta', (e) => printer.push(e.agent, e.text));
      flow.on('agent.done', (e) => printer.flush(e.agent));
      flow.on('agent.failed', (e) => printer.flush(e.agent));
    }
    // A Ctrl-C while the server started: no flow is running yet to cancel, so stop here.
    // (No signal can land between this check and execute() registering the flow: both
    // happen in one turn of the event loop.)
    if (interrupted) return ExitCode.Cancelled;
    report = await flow.execute({
      task: plan.task,
      // The config's own agents are the run's: passed inline, they live and die with it.
      agents: plan.run.map(
        (name) =>
          plan.agents.find((a): a is Exclude<typeof a, string> => typeof a === 'object' && a.name === name) ?? name,
      ),
      mode: plan.mode,
      timeoutMs: secondsToMs(plan.timeout),
      maxConcurrent: plan.maxConcurrent,
      onAgentFailure: plan.onAgentFailure,
      optimize: plan.optimize,
      maxCost: plan.maxCost,
    });
    progress.stop(report);
    printer.flush();
    if (out.json) process.stdout.write(JSON.stringify(report) + '\n');
    else
      process.stdout.write(
        (extras.banner ? `${extras.banner}\n\n` : '') + formatReport(report, { outputs: !out.stream }),
      );
    if (report.status === 'cancelled') return ExitCode.Cancelled;
    // Completed with every agent done is 0; an agent that failed (the flow went on) is 1.
    return report.status === 'completed' && report.results.every((r) => r.status === 'done')
      ? ExitCode.Ok
      : ExitCode.Failed;
  } finally {
    if (!report) progress.stop();
    await flow.shutdown();
    // A failed pre-flight keeps nothing warm (warm-run.ts).
    if (warm && noProvider)
      await (
        await import('./warm-run.js')
      ).keepNothingWarm(warm, extras.flowOptions?.directory ?? process.cwd(), (l) => process.stderr.write(`${l}\n`));
    else await warm?.lease.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
