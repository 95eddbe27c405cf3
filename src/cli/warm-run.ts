import { join, resolve } from 'node:path';
import type { FlowOptions } from '../flow/index.js';
import type { WarmServerLease } from '../opencode/warm.js';
import type { RunPlan } from './plan.js';

/** How long a warm server waits for the next run when neither flag nor env says (seconds). */
export const DEFAULT_KEEP_WARM_SECONDS = 300;

/** Where a project's warm servers are recorded. */
export const warmStateDir = (cwd: string) => join(resolve(cwd), '.opencode-flow', 'warm');

/** A CLI run's use of a warm server: options that attach the flow to it, and the lease to give back. */
export interface WarmRun {
  flowOptions: Partial<FlowOptions>;
  lease: WarmServerLease;
}

/**
 * For a run that would start its own OpenCode server: attach to this project's warm server
 * with the same OpenCode config and binary, or start one that outlives the run (stopped by its
 * keeper after `keepWarm` idle seconds, or by `opencode-flow server stop`). Returns undefined
 * when the run names a server, keeps nothing warm (`--no-keep-warm`, `--keep-warm 0`), or the
 * warm server is in use by another run right now (the run then starts a server of its own).
 * The flow then treats the server as attached: it registers its memory tools live and leaves
 * the server running at shutdown.
 */
export async function useWarmServer(
  plan: Pick<RunPlan, 'server' | 'keepWarm'>,
  flowOptions: Partial<FlowOptions> = {},
): Promise<WarmRun | undefined> {
  const seconds = plan.keepWarm ?? DEFAULT_KEEP_WARM_SECONDS;
  if (plan.server || flowOptions.serverUrl || seconds <= 0) return undefined;
  const { acquireWarmServer } = await import('../opencode/warm.js');
  const cwd = flowOptions.directory ?? process.cwd();
  const lease = await acquireWarmServer({
    stateDir: warmStateDir(cwd),
    cwd,
    ...(flowOptions.opencodeConfig ? { config: flowOptions.opencodeConfig } : {}),
    ...(flowOptions.serverEnv ? { env: flowOptions.serverEnv } : {}),
    idleMs: Math.round(seconds * 1000),
    // A run registers its own memory tools on the server (a server-wide "flow" MCP entry): two
    // runs at once on one server would take each other's. The second starts a server of its own.
    exclusive: true,
  });
  if (!lease) return undefined;
  return { lease, flowOptions: { serverUrl: lease.url, password: lease.password, username: 'opencode' } };
}

/**
 * After a run whose pre-flight failed (no model provider): keep nothing warm. A warm server this
 * run started is stopped — it is of no use to a next run until a provider is configured, and a
 * new provider's key or login does not change the server's key, so it would be attached to and
 * fail again. One that was warm before this run is left (another run may use it) and `say` gets
 * one line naming it and how to stop it.
 */
export async function keepNothingWarm(warm: WarmRun, cwd: string, say: (line: string) => void): Promise<void> {
  await warm.lease.release();
  if (!warm.lease.reused) {
    const { stopWarmServers } = await import('../opencode/warm.js');
    await stopWarmServers(warmStateDir(cwd), { key: warm.lease.key });
    return;
  }
  say(
    `A warm OpenCode server from an earlier run is still running (${warm.lease.url}, pid ${warm.lease.pid}); ` +
      'it serves no provider either: stop it with `opencode-flow server stop` once you have configured one',
  );
}
