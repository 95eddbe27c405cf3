import type { Ora } from 'ora';
import type { HostStartPhase } from '../flow/events.js';
import type { FlowReport, OpencodeFlow } from '../flow/index.js';
import { usd } from './output.js';
import type { OutputOptions } from './plan.js';

/** One agent's line of the progress display. */
export interface AgentRow {
  agent: string;
  state: string;
  model: string;
  /** Characters of output streamed so far (tokens are known only at the end of a prompt). */
  chars: number;
  tokens?: { input: number; output: number };
  cost?: number;
  startedAt: number;
  endedAt?: number;
  tool?: string;
  error?: string;
}

const TERMINAL = new Set(['done', 'failed']);

/**
 * The state of every agent of a flow, folded from the flow's events. Both displays (live
 * and line-by-line) render from it.
 *
 * @example
 * ```ts
 * const board = new ProgressBoard();
 * board.onState({ agent: 'coder', state: 'prompting', model: 'anthropic/claude-sonnet-4' });
 * board.rows()[0].state; // 'prompting'
 * ```
 */
export class ProgressBoard {
  private readonly byAgent = new Map<string, AgentRow>();
  startedAt = Date.now();
  flowId = '';
  mode = '';

  constructor(private readonly now: () => number = Date.now) {}

  rows(): AgentRow[] {
    return [...this.byAgent.values()];
  }

  private row(agent: string): AgentRow {
    let r = this.byAgent.get(agent);
    if (!r) {
      r = { agent, state: 'waiting', model: '', chars: 0, startedAt: this.now() };
      this.byAgent.set(agent, r);
    }
    return r;
  }

  onStarted(e: { flowId: string; mode: string; agents: string[] }) {
    this.flowId = e.flowId;
    this.mode = e.mode;
    this.startedAt = this.now();
    for (const a of e.agents) this.row(a);
  }

  /** Returns true when the state changed (a line-by-line display prints then). */
  onState(e: { agent: string; state: string; model: string }): boolean {
    const r = this.row(e.agent);
    if (e.model) r.model = e.model;
    // The outcome comes with agent.done / agent.failed (tokens, cost); after it the machine
    // still walks cleanup → stopped: keep the outcome shown.
    if (TERMINAL.has(r.state) || TERMINAL.has(e.state) || r.state === e.state) return false;
    if (r.state === 'waiting') r.startedAt = this.now();
    r.state = e.state;
    return true;
  }

  onDelta(agent: string, text: string) {
    this.row(agent).chars += text.length;
  }

  onTool(agent: string, tool: string, status: string) {
    this.row(agent).tool = `${tool} ${status}`;
  }

  onResult(
    agent: string,
    state: 'done' | 'failed',
    result: { model: string; tokens: { input: number; output: number }; cost: number },
    error?: string,
  ) {
    const r = this.row(agent);
    r.state = state;
    if (result.model) r.model = result.model;
    r.tokens = result.tokens;
    r.cost = result.cost;
    r.endedAt = this.now();
    if (error) r.error = error;
  }

  /** Total cost of the agents finished so far. */
  cost(): number {
    return this.rows().reduce((s, r) => s + (r.cost ?? 0), 0);
  }

  /** One agent as a line of columns: state, model, tokens, cost, elapsed. */
  line(r: AgentRow, width = { agent: 10, state: 9, model: 14 }): string {
    const elapsed = ((r.endedAt ?? this.now()) - r.startedAt) / 1000;
    const tokens = r.tokens ? `${r.tokens.input}→${r.tokens.output} tok` : r.chars ? `${r.chars} chars` : '';
    return [
      r.agent.padEnd(width.agent),
      r.state.padEnd(width.state),
      (r.model || '…').padEnd(width.model),
      tokens.padEnd(16),
      (r.cost !== undefined ? usd(r.cost) : '').padEnd(10),
      r.state === 'waiting' ? '' : `${elapsed.toFixed(1)}s`,
    ]
      .join('  ')
      .trimEnd();
  }

  /** Every agent's line, columns aligned. */
  lines(): string[] {
    const rows = this.rows();
    const width = {
      agent: Math.max(5, ...rows.map((r) => r.agent.length)),
      state: 9,
      model: Math.max(5, ...rows.map((r) => (r.model || '…').length)),
    };
    return rows.map((r) => this.line(r, width));
  }
}

/** What a run tells its progress display. */
export interface Progress {
  /** Follow a flow's events. */
  attach(flow: OpencodeFlow): void;
  /** An informational line (hidden by `--quiet`). */
  info(line: string): void;
  /** A line shown only with `--verbose`. */
  debug(line: string): void;
  /**
   * What the start waits on now (a step of OpenCode's start): shown with its elapsed time under a
   * spinner on a terminal, else as a line, with a "still waiting" line every 10 s. `ready` ends it.
   */
  phase(label: string | 'ready'): void;
  /** The flow has ended (or failed to start): stop animating. */
  stop(report?: FlowReport): void;
  /** Stop redrawing while a question is on screen (a permission prompt), then go on. */
  pause?(): void;
  resume?(): void;
}

/** What each step of a host's start is waiting for, as the progress display says it. */
export const START_PHASE_LABELS: Record<Exclude<HostStartPhase, 'ready'>, string> = {
  memory: 'connecting memory',
  'server.spawn': 'starting the OpenCode binary',
  'server.listen': 'waiting for the OpenCode server to listen',
  'server.health': 'waiting for the OpenCode server to answer',
  'server.attach': 'connecting to the OpenCode server',
  project: 'booting the project in OpenCode',
  providers: 'checking providers',
};

/** Show a flow's start (its `host.starting` events) on a progress display; call before `flow.start()`. */
export function followStart(flow: OpencodeFlow, progress: Progress): void {
  flow.on('host.starting', (e) => progress.phase(e.phase === 'ready' ? 'ready' : START_PHASE_LABELS[e.phase]));
}

/** The time and the ticks a progress display uses (injected by tests: no sleeps). */
export interface ProgressClock {
  now(): number;
  /** Calls `fn` every `ms` until the returned stop is called (never keeps the process alive). */
  every(ms: number, fn: () => void): () => void;
}

const realClock: ProgressClock = {
  now: Date.now,
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** A line-by-line display says it still waits after this long without a line. */
export const STILL_WAITING_MS = 10_000;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** The start's phases, folded: which one runs, since when, and since when the start began. */
class StartPhases {
  startedAt?: number;
  label?: string;
  since = 0;
  constructor(private readonly clock: ProgressClock) {}
  enter(label: string): { total: number } {
    const now = this.clock.now();
    this.startedAt ??= now;
    this.label = label;
    this.since = now;
    return { total: now - this.startedAt };
  }
  /** Elapsed in this phase and in all. */
  elapsed(): { inPhase: number; total: number } {
    const now = this.clock.now();
    return { inPhase: now - this.since, total: now - (this.startedAt ?? now) };
  }
}

/** States worth a line of their own without --verbose. */
const LINE_STATES = new Set(['prompting', 'fallback', 'done', 'failed']);

const SYMBOL: Record<string, string> = { done: '✔', failed: '✖', waiting: '·' };

/**
 * The progress display for a run: on a terminal, one line per agent (state, model, tokens,
 * cost, elapsed) redrawn in place under a spinner (ora); otherwise, or with `--stream`, one
 * plain line per state change; with `--quiet`, nothing. Always on stderr, so stdout holds
 * only the report.
 *
 * @example
 * ```ts
 * const progress = await createProgress({ json: false, stream: false, quiet: false, verbose: false });
 * progress.attach(flow);
 * const report = await flow.execute({ task, agents });
 * progress.stop(report);
 * ```
 */
export async function createProgress(
  output: OutputOptions,
  stream: NodeJS.WriteStream = process.stderr,
  clock: ProgressClock = realClock,
): Promise<Progress> {
  const write = (s: string) => stream.write(s);
  if (output.quiet) {
    return { attach() {}, info() {}, debug() {}, phase() {}, stop() {} };
  }
  if (output.logFormat === 'json') {
    // The lines as JSON log records, through the logger `serve` uses (pino, loaded only here).
    const { createServeLogger } = await import('./serve-logger.js');
    const logger = createServeLogger({ level: output.verbose ? 'debug' : 'info', format: 'json', out: stream });
    return createLineProgress(output, write, clock, { info: (s) => logger.info(s), debug: (s) => logger.debug(s) });
  }
  const live = stream.isTTY === true && !output.stream && process.env.TERM !== 'dumb';
  return live ? createLiveProgress(output, stream, clock) : createLineProgress(output, write, clock);
}

function subscribe(
  flow: OpencodeFlow,
  board: ProgressBoard,
  h: { state?: (agent: string) => void; line: (s: string) => void; verbose: boolean },
) {
  flow.on('flow.started', (e) => {
    board.onStarted(e);
    if (h.verbose) h.line(`flow ${e.flowId} started: ${e.agents.join(', ')} (${e.mode})`);
  });
  flow.on('agent.state', (e) => {
    if (board.onState(e)) h.state?.(e.agent);
  });
  flow.on('agent.delta', (e) => board.onDelta(e.agent, e.text));
  flow.on('agent.tool', (e) => {
    board.onTool(e.agent, e.tool, e.status);
    if (h.verbose) h.line(`[${e.agent}] tool ${e.tool} ${e.status}`);
  });
  flow.on('agent.fallback', (e) => h.line(`[${e.agent}] ${e.from} failed (${e.reason}); falling back to ${e.to}`));
  // A prompt held back by the host's concurrency caps (modelRouter.concurrency) or a provider's cooldown.
  flow.on('agent.queued', (e) =>
    h.line(
      e.until !== undefined
        ? `[${e.agent}] waiting for ${e.key}'s rate limit (until ${new Date(e.until).toLocaleTimeString()})`
        : `[${e.agent}] waiting for a slot of ${e.key} (${e.position === 1 ? 'next' : `${e.position} in line`})`,
    ),
  );
  // The first failed save is said at once (the run goes on, unsaved); later ones with -v.
  flow.on('flow.persist_error', (e) => {
    if (e.failures === 1 || h.verbose)
      h.line(`warning: flow ${e.flowId}: its state could not be saved to ${e.store}: ${e.error} (the run goes on)`);
  });
  flow.on('agent.done', (e) => {
    board.onResult(e.agent, 'done', e.result);
    h.state?.(e.agent);
  });
  flow.on('agent.failed', (e) => {
    board.onResult(e.agent, 'failed', e.result, e.error);
    h.state?.(e.agent);
  });
}

function createLineProgress(
  output: OutputOptions,
  write: (s: string) => void,
  clock: ProgressClock,
  log?: { info(s: string): void; debug(s: string): void },
): Progress {
  const board = new ProgressBoard();
  const line = log ? log.info : (s: string) => write(`${s}\n`);
  // The start: a line per phase, then one every STILL_WAITING_MS while a phase lasts.
  const start = new StartPhases(clock);
  let lastLineAt = 0;
  let stopTicks: (() => void) | undefined;
  const endStart = () => {
    stopTicks?.();
    stopTicks = undefined;
  };
  return {
    phase(label) {
      if (label === 'ready') {
        if (start.label) line(`OpenCode is ready (${secs(start.elapsed().total)})`);
        start.label = undefined;
        return endStart();
      }
      const { total } = start.enter(label);
      line(`${label}… (${secs(total)})`);
      lastLineAt = clock.now();
      stopTicks ??= clock.every(1000, () => {
        if (!start.label || clock.now() - lastLineAt < STILL_WAITING_MS) return;
        line(`still waiting: ${start.label} (${Math.floor(start.elapsed().inPhase / 1000)}s)`);
        lastLineAt = clock.now();
      });
    },
    attach(flow) {
      subscribe(flow, board, {
        verbose: output.verbose,
        line,
        state: (agent) => {
          const r = board.rows().find((x) => x.agent === agent)!;
          if (!output.verbose && !LINE_STATES.has(r.state)) return;
          const parts = [r.state, r.model || 'default model'];
          if (r.tokens)
            parts.push(
              `${r.tokens.input}→${r.tokens.output} tokens`,
              usd(r.cost ?? 0),
              `${(((r.endedAt ?? Date.now()) - r.startedAt) / 1000).toFixed(1)}s`,
            );
          if (r.error) parts.push(r.error);
          line(`[${agent}] ${parts.join(' · ')}`);
        },
      });
    },
    info: line,
    debug: (s) => (log ? log.debug(s) : output.verbose && line(s)),
    stop: endStart,
  };
}

async function createLiveProgress(
  output: OutputOptions,
  stream: NodeJS.WriteStream,
  clock: ProgressClock,
): Promise<Progress> {
  const { default: ora } = await import('ora');
  const board = new ProgressBoard();
  let spinner: Ora | undefined;
  let timer: NodeJS.Timeout | undefined;
  // The start's own spinner: the phase and its elapsed time, redrawn until `ready`.
  const start = new StartPhases(clock);
  let starting: { spinner: Ora; stopTicks: () => void } | undefined;
  const startText = () => {
    const { inPhase, total } = start.elapsed();
    return `${start.label ?? 'starting'}… ${secs(inPhase)} (starting OpenCode: ${secs(total)})`;
  };
  const endStart = (ok: boolean) => {
    if (!starting) return;
    starting.stopTicks();
    starting.spinner.stopAndPersist({
      symbol: ok ? '✔' : '✖',
      text: ok ? `OpenCode is ready (${secs(start.elapsed().total)})` : startText(),
    });
    starting = undefined;
  };
  const text = () => {
    const rows = board.rows();
    const done = rows.filter((r) => TERMINAL.has(r.state)).length;
    const elapsed = ((Date.now() - board.startedAt) / 1000).toFixed(1);
    const head = `flow ${board.flowId} · ${board.mode} · ${done}/${rows.length} finished · ${usd(board.cost())} · ${elapsed}s`;
    return [head, ...board.lines().map((l, i) => `  ${SYMBOL[rows[i]!.state] ?? '›'} ${l}`)].join('\n');
  };
  const redraw = () => {
    if (spinner) spinner.text = text();
  };
  // Lines written while the spinner runs go above it (ora re-renders below them).
  const line = (s: string) => stream.write(`${s}\n`);
  return {
    phase(label) {
      if (label === 'ready') return endStart(true);
      start.enter(label);
      if (!starting) {
        const s = ora({ stream, discardStdin: false, text: startText() }).start();
        starting = { spinner: s, stopTicks: clock.every(200, () => (s.text = startText())) };
      } else starting.spinner.text = startText();
    },
    attach(flow) {
      flow.on('flow.started', () => {
        spinner = ora({ stream, discardStdin: false, text: '' }).start();
        timer = setInterval(redraw, 200);
        timer.unref();
      });
      subscribe(flow, board, { verbose: output.verbose, line, state: redraw });
    },
    info: line,
    debug: (s) => output.verbose && line(s),
    pause() {
      spinner?.stop();
    },
    resume() {
      spinner?.start();
    },
    stop(report) {
      endStart(false);
      if (timer) clearInterval(timer);
      if (!spinner) return;
      const ok = report?.status === 'completed';
      spinner.stopAndPersist({ symbol: ok ? '✔' : '✖', text: text() });
      spinner = undefined;
    },
  };
}
