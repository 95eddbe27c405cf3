import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import { FlowError, FlowErrorCode } from '../errors.js';
import { checkHealth, resolveOpencodeBinary, type ServerEndpoint } from './server.js';

/**
 * Warm servers: an `opencode serve` that outlives the process that started it, so the next
 * process working on the same directory with the same OpenCode config and binary attaches to
 * it instead of paying OpenCode's start-up again. Each lives under a small detached keeper
 * process (warm-keeper.ts) that stops it once no process has used it for the idle period.
 *
 * Files in `stateDir`, per server (`<key>` hashes directory, config, environment, binary):
 * - `<key>.json`: created with O_EXCL by whoever starts it (the lock: one server per key),
 *   then the keeper's state (url, password, pids); mode 0600, it holds the password.
 * - `<key>.<pid>.lease`: a process using it; the keeper ignores (and removes) leases of dead pids.
 * - `<key>.log`: the keeper's and the server's output.
 */

/** Options of {@link acquireWarmServer}. */
export interface WarmServerOptions {
  /** Where the state, lease and log files live (e.g. `<project>/.opencode-flow/warm`). */
  stateDir: string;
  /** The server's working directory (the project). */
  cwd: string;
  /** Inline config (`OPENCODE_CONFIG_CONTENT`), as for `startOpencodeServer`. */
  config?: Record<string, unknown>;
  /** Extra environment, as for `startOpencodeServer`. */
  env?: Record<string, string | undefined>;
  /** The `opencode` binary (default as `startOpencodeServer` finds it). */
  binary?: string;
  /** Stop the server after this long with no live process holding a lease on it. */
  idleMs: number;
  /** Give up when the server is not ready after this long (default 60 s). */
  startTimeoutMs?: number;
  /**
   * Use the server only when no other live process holds a lease on it; else
   * {@link acquireWarmServer} returns null (for clients that change server-wide state, such as
   * the MCP servers registered on it).
   */
  exclusive?: boolean;
}

/** What the state file of a warm server says. */
export interface WarmServerState {
  key: string;
  status: 'starting' | 'ready';
  /** The process that created the state file (the lock). */
  starterPid: number;
  /** The keeper: leader of the process group the server runs in. */
  keeperPid?: number;
  url?: string;
  username?: string;
  password?: string;
  /** The `opencode serve` process. */
  pid?: number;
  cwd: string;
  binary: string;
  idleMs: number;
  createdAt: number;
  readyAt?: number;
}

/** A warm server as {@link listWarmServers} sees it. */
export interface WarmServerInfo extends WarmServerState {
  /** `ready` with a live keeper and server; `starting`; or `stale` (its processes are gone). */
  health: 'ready' | 'starting' | 'stale';
  /** Live processes holding a lease on it. */
  users: number[];
}

/** A warm server in use by this process: release it when done (the keeper then counts idle time). */
export interface WarmServerLease extends ServerEndpoint {
  url: string;
  password: string;
  /** The `opencode serve` pid. */
  pid: number;
  /** True when it was already running; false when this call started it. */
  reused: boolean;
  key: string;
  release(): Promise<void>;
}

const POLL_MS = 100;

/**
 * Attaches to the warm server of this directory + config, or starts one (detached, under its
 * keeper) and attaches to it. Holds a lease until `release()`.
 *
 * @example
 * ```ts
 * const warm = await acquireWarmServer({ stateDir: '.opencode-flow/warm', cwd: process.cwd(), idleMs: 300_000 });
 * const client = new OpencodeClient({ url: warm.url, password: warm.password });
 * // ...
 * await warm.release();
 * ```
 */
export async function acquireWarmServer(
  options: WarmServerOptions & { exclusive: true },
): Promise<WarmServerLease | null>;
export async function acquireWarmServer(options: WarmServerOptions): Promise<WarmServerLease>;
export async function acquireWarmServer(options: WarmServerOptions): Promise<WarmServerLease | null> {
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const binary = resolveOpencodeBinary(options.binary);
  const cwd = resolve(options.cwd);
  const key = warmServerKey({ ...options, binary, cwd });
  const statePath = join(stateDir, `${key}.json`);
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + startTimeoutMs + 10_000;
  while (Date.now() < deadline) {
    const created = await createExclusive(statePath, {
      key,
      status: 'starting',
      starterPid: process.pid,
      cwd,
      binary,
      idleMs: options.idleMs,
      createdAt: Date.now(),
    } satisfies WarmServerState);
    if (created) return startKeeper({ ...options, binary, cwd, stateDir, key, statePath, startTimeoutMs });
    const text = await readFile(statePath, 'utf8').catch(() => undefined);
    const state = parseState(text);
    if (
      state?.status === 'ready' &&
      state.url &&
      state.password &&
      state.pid &&
      alive(state.keeperPid) &&
      alive(state.pid)
    ) {
      const release = await takeLease(stateDir, key);
      if (options.exclusive && (await otherUsers(stateDir, key)).length > 0) {
        await release();
        return null;
      }
      try {
        await checkHealth(
          { url: state.url, password: state.password, username: state.username },
          { timeoutMs: 2000, attempts: 2 },
        );
        return { url: state.url, password: state.password, pid: state.pid, reused: true, key, release };
      } catch {
        await release();
        await stopStale(statePath, text, state);
        continue;
      }
    }
    if (
      state?.status === 'starting' &&
      (alive(state.starterPid) || alive(state.keeperPid)) &&
      Date.now() - state.createdAt < startTimeoutMs
    ) {
      await sleep(POLL_MS);
      continue;
    }
    // Gone (killed, crashed, timed out) or unreadable: clear it and try again.
    await stopStale(statePath, text, state);
  }
  throw new FlowError(
    FlowErrorCode.ServerUnavailable,
    `no warm OpenCode server became ready for ${cwd} (see ${join(stateDir, `${key}.log`)})`,
  );
}

/**
 * The key of a warm server: a hash of what makes two servers interchangeable — the working
 * directory, the inline config, the OpenCode-relevant environment (`OPENCODE_*` but the
 * password, `HOME`, `XDG_*`), the binary (path, size, mtime) and the OpenCode config files
 * it reads (project, `.opencode/`, the user's, `OPENCODE_CONFIG`).
 *
 * A config file counts by what OpenCode reads from it, not by its bytes: it is parsed as JSONC
 * (as OpenCode parses it), the fields OpenCode writes itself (`$schema`, added to the user's
 * config on its first start) are left out, and keys are sorted. So a server's own first start
 * does not change the key it was started under, and neither do comments or formatting. A file
 * that does not parse counts by its bytes (OpenCode will say what is wrong with it).
 */
export function warmServerKey(options: Pick<WarmServerOptions, 'cwd' | 'config' | 'env' | 'binary'>): string {
  const binary = resolveOpencodeBinary(options.binary);
  const cwd = resolve(options.cwd);
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  const relevant = Object.keys(env)
    .filter(
      (k) =>
        (/^(OPENCODE_|XDG_)/.test(k) || k === 'HOME') && !/^OPENCODE_(SERVER_PASSWORD|SERVER_USERNAME|FLOW_)/.test(k),
    )
    .sort()
    .map((k) => [k, env[k]]);
  const home = env.HOME ?? homedir();
  const configHome = env.XDG_CONFIG_HOME ?? join(home, '.config');
  const files = [
    join(cwd, 'opencode.json'),
    join(cwd, 'opencode.jsonc'),
    join(cwd, '.opencode', 'opencode.json'),
    join(cwd, '.opencode', 'opencode.jsonc'),
    join(configHome, 'opencode', 'opencode.json'),
    join(configHome, 'opencode', 'opencode.jsonc'),
    join(configHome, 'opencode', 'config.json'),
    ...(env.OPENCODE_CONFIG ? [resolve(cwd, env.OPENCODE_CONFIG)] : []),
  ].map((f) => [f, configAsRead(readOrNull(f))]);
  let bin: unknown = binary;
  try {
    const st = statSync(binary);
    bin = [binary, st.size, st.mtimeMs];
  } catch {
    /* a name on PATH: the name is all we know */
  }
  const material = stableJson({ v: 2, cwd, config: options.config ?? null, env: relevant, files, bin });
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

/**
 * The warm servers recorded in `stateDir`, with whether their processes live and who uses them.
 *
 * @example
 * ```ts
 * for (const s of await listWarmServers('.opencode-flow/warm')) console.log(s.url, s.health);
 * ```
 */
export async function listWarmServers(stateDir: string): Promise<WarmServerInfo[]> {
  const names = await readdir(stateDir).catch(() => [] as string[]);
  const out: WarmServerInfo[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{16}\.json$/.test(name)) continue;
    const state = parseState(await readFile(join(stateDir, name), 'utf8').catch(() => undefined));
    if (!state) continue;
    const users = names
      .map((n) => new RegExp(`^${state.key}\\.(\\d+)\\.lease$`).exec(n)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number)
      .filter((p) => alive(p));
    const health =
      state.status === 'ready'
        ? alive(state.keeperPid) && alive(state.pid)
          ? 'ready'
          : 'stale'
        : alive(state.starterPid) || alive(state.keeperPid)
          ? 'starting'
          : 'stale';
    out.push({ ...state, health, users });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * Stops the warm servers recorded in `stateDir` (all, or the one with `key`): SIGTERM to the
 * keeper's process group (the keeper stops the server and removes its state), SIGKILL after
 * a grace period. Returns how many were running.
 */
export async function stopWarmServers(
  stateDir: string,
  { key, graceMs = 5000 }: { key?: string; graceMs?: number } = {},
): Promise<number> {
  let stopped = 0;
  for (const s of await listWarmServers(stateDir)) {
    if (key && s.key !== key) continue;
    const statePath = join(stateDir, `${s.key}.json`);
    if (s.health !== 'stale') stopped++;
    await killGroup(s, graceMs);
    await unlink(statePath).catch(() => undefined);
    await unlink(join(stateDir, `${s.key}.log`)).catch(() => undefined);
    for (const u of s.users) await unlink(join(stateDir, `${s.key}.${u}.lease`)).catch(() => undefined);
  }
  return stopped;
}

/** What a keeper is handed: the server to start and how long it may idle. */
export interface KeeperJob {
  stateDir: string;
  statePath: string;
  key: string;
  cwd: string;
  binary: string;
  config?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  password: string;
  idleMs: number;
  startTimeoutMs: number;
  starterPid: number;
  createdAt: number;
}

/** The env var that hands a keeper its job (not argv: the password would show in `ps`). */
export const WARM_KEEPER_JOB_ENV = 'OPENCODE_FLOW_WARM_JOB';

async function startKeeper(
  o: WarmServerOptions & {
    binary: string;
    cwd: string;
    stateDir: string;
    key: string;
    statePath: string;
    startTimeoutMs: number;
  },
): Promise<WarmServerLease> {
  const job: KeeperJob = {
    stateDir: o.stateDir,
    statePath: o.statePath,
    key: o.key,
    cwd: o.cwd,
    binary: o.binary,
    ...(o.config ? { config: o.config } : {}),
    ...(o.env ? { env: o.env } : {}),
    password: randomBytes(24).toString('hex'),
    idleMs: o.idleMs,
    startTimeoutMs: o.startTimeoutMs,
    starterPid: process.pid,
    createdAt: Date.now(),
  };
  const release = await takeLease(o.stateDir, o.key);
  const log = openSync(join(o.stateDir, `${o.key}.log`), 'w', 0o600);
  let keeperPid: number | undefined;
  try {
    const keeper = spawn(process.execPath, [...keeperExecArgv(), keeperScript()], {
      cwd: o.cwd,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, [WARM_KEEPER_JOB_ENV]: JSON.stringify(job) },
    });
    keeper.unref();
    keeperPid = keeper.pid;
    if (!keeperPid) throw new Error('the keeper process did not start');
    let exited = false;
    keeper.once('exit', () => (exited = true));
    const deadline = Date.now() + o.startTimeoutMs + 5000;
    while (Date.now() < deadline) {
      const state = parseState(await readFile(o.statePath, 'utf8').catch(() => undefined));
      if (state?.status === 'ready' && state.keeperPid === keeperPid && state.url && state.pid) {
        return { url: state.url, password: job.password, pid: state.pid, reused: false, key: o.key, release };
      }
      if (exited || !alive(keeperPid)) break;
      await sleep(POLL_MS);
    }
    const tail = readOrNull(join(o.stateDir, `${o.key}.log`))
      ?.trim()
      .split('\n')
      .slice(-10)
      .join('\n');
    throw new FlowError(
      FlowErrorCode.ServerUnavailable,
      `the warm OpenCode server did not start${tail ? `:\n${tail}` : ''}`,
    );
  } catch (e) {
    await release();
    if (keeperPid) killQuietly(-keeperPid, 'SIGKILL');
    await unlink(o.statePath).catch(() => undefined);
    throw e;
  } finally {
    closeSync(log);
  }
}

/** The keeper's entry: `dist/warm-keeper.js` when bundled, the `.ts` source under tsx. */
function keeperScript(): string {
  const js = fileURLToPath(new URL('./warm-keeper.js', import.meta.url));
  if (existsSync(js)) return js;
  const ts = fileURLToPath(new URL('./warm-keeper.ts', import.meta.url));
  if (existsSync(ts)) return ts;
  throw new FlowError(FlowErrorCode.Internal, `the warm server keeper is missing (${js})`);
}

/** Loader flags (tsx) when running from source, so the keeper runs the same way. */
function keeperExecArgv(): string[] {
  return keeperScript().endsWith('.ts')
    ? process.execArgv.filter((a, i, all) => a.startsWith('--import') || all[i - 1] === '--import')
    : [];
}

/** Live processes other than this one holding a lease on `key`. */
async function otherUsers(stateDir: string, key: string): Promise<number[]> {
  const names = await readdir(stateDir).catch(() => [] as string[]);
  return names
    .map((n) => new RegExp(`^${key}\\.(\\d+)\\.lease$`).exec(n)?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number)
    .filter((p) => p !== process.pid && alive(p));
}

async function takeLease(stateDir: string, key: string): Promise<() => Promise<void>> {
  const path = join(stateDir, `${key}.${process.pid}.lease`);
  await writeFile(path, String(Date.now()), { mode: 0o600 });
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await unlink(path).catch(() => undefined);
  };
}

async function createExclusive(path: string, state: WarmServerState): Promise<boolean> {
  try {
    await writeFile(path, JSON.stringify(state), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new FlowError(FlowErrorCode.ServerUnavailable, `cannot create the warm server lock ${path}`, { cause: e });
  }
}

/** Removes a state file that is stale, unless someone replaced it meanwhile; kills what is left of it. */
async function stopStale(
  statePath: string,
  seenText: string | undefined,
  state: WarmServerState | undefined,
): Promise<void> {
  if (state) await killGroup(state, 1000);
  const now = await readFile(statePath, 'utf8').catch(() => undefined);
  if (now === undefined || now !== seenText) return;
  // Move it aside first: of two processes clearing the same stale file, one wins the rename.
  const aside = `${statePath}.${process.pid}.stale`;
  if (
    await rename(statePath, aside).then(
      () => true,
      () => false,
    )
  )
    await unlink(aside).catch(() => undefined);
}

async function killGroup(state: Pick<WarmServerState, 'keeperPid' | 'pid'>, graceMs: number): Promise<void> {
  const group = state.keeperPid;
  if (group && alive(group)) killQuietly(-group, 'SIGTERM');
  else if (state.pid && alive(state.pid)) killQuietly(state.pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until && (alive(group) || alive(state.pid))) await sleep(POLL_MS);
  if (group) killQuietly(-group, 'SIGKILL');
  if (state.pid && alive(state.pid)) killQuietly(state.pid, 'SIGKILL');
}

/** Whether a process lives (a zombie or EPERM counts as alive: it exists). */
export function alive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

function parseState(text: string | undefined): WarmServerState | undefined {
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as WarmServerState;
    return typeof s.key === 'string' && (s.status === 'starting' || s.status === 'ready') ? s : undefined;
  } catch {
    return undefined;
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Fields OpenCode writes into a config file itself (so they say nothing of the user's config). */
const OPENCODE_OWN_FIELDS = ['$schema'];

/** A config file as OpenCode reads it: parsed JSONC without the fields it adds itself; else its text. */
function configAsRead(text: string | null): unknown {
  if (text === null) return null;
  const errors: ParseError[] = [];
  const parsed: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length > 0 || !parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { text };
  const fields = { ...(parsed as Record<string, unknown>) };
  for (const f of OPENCODE_OWN_FIELDS) delete fields[f];
  return { parsed: fields };
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
