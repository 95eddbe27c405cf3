/**
 * The keeper of one warm OpenCode server (see warm.ts): a small detached process, leader of
 * the process group the server runs in. It starts `opencode serve`, records it in the state
 * file, and stops it (and exits) once the idle period has passed with no live lease (a
 * process using it), when the server dies, when its state file is no longer its own, or on
 * SIGTERM/SIGINT/SIGHUP (`opencode-flow server stop`). It outlives the process that started
 * it, so a `kill -9` of that process changes nothing: its lease dies with it and the idle
 * clock runs. Busy sessions do not keep it alive: a prompt orphaned by a killed run (or one
 * stuck on its model) must not keep a server running forever; stopping the server ends it.
 */
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startOpencodeServer, type OpencodeServer } from './server.js';
import { alive, WARM_KEEPER_JOB_ENV, type KeeperJob, type WarmServerState } from './warm.js';

const log = (line: string) =>
  process.stderr.write(`[warm-keeper ${process.pid}] ${new Date().toISOString()} ${line}\n`);

async function main(): Promise<void> {
  const raw = process.env[WARM_KEEPER_JOB_ENV];
  if (!raw) throw new Error(`${WARM_KEEPER_JOB_ENV} is not set`);
  delete process.env[WARM_KEEPER_JOB_ENV];
  const job = JSON.parse(raw) as KeeperJob;

  let server: OpencodeServer | undefined;
  let stopping = false;
  const stop = async (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    // Only our own state: a newer server may have taken the key meanwhile.
    const state = await readState(job.statePath);
    if (!state || state.keeperPid === process.pid || state.starterPid === job.starterPid)
      await unlink(job.statePath).catch(() => undefined);
    await server?.stop().catch(() => undefined);
    process.exit(code);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));

  server = await startOpencodeServer({
    binary: job.binary,
    cwd: job.cwd,
    ...(job.config ? { config: job.config } : {}),
    ...(job.env ? { env: job.env } : {}),
    password: job.password,
    startTimeoutMs: job.startTimeoutMs,
    log: (line) => process.stderr.write(`[opencode] ${line}\n`),
  });
  const state: WarmServerState = {
    key: job.key,
    status: 'ready',
    starterPid: job.starterPid,
    keeperPid: process.pid,
    url: server.url,
    username: 'opencode',
    password: job.password,
    pid: server.pid!,
    cwd: job.cwd,
    binary: job.binary,
    idleMs: job.idleMs,
    createdAt: job.createdAt,
    readyAt: Date.now(),
  };
  const tmp = `${job.statePath}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await rename(tmp, job.statePath);
  log(`ready: ${server.url} (opencode pid ${server.pid}), idle period ${job.idleMs} ms`);

  let lastActive = Date.now();
  const tickMs = Math.max(100, Math.min(1000, Math.floor(job.idleMs / 3)));
  const tick = async () => {
    if (stopping) return;
    if (!alive(server!.pid)) return stop('the server exited', 1);
    const current = await readState(job.statePath);
    if (current?.keeperPid !== process.pid) return stop('the state file is no longer ours');
    if ((await liveLeases(job.stateDir, job.key)) > 0) lastActive = Date.now();
    if (Date.now() - lastActive >= job.idleMs) return stop(`idle for ${job.idleMs} ms`);
  };
  const loop = async () => {
    try {
      await tick();
    } catch (e) {
      log(`tick failed: ${(e as Error).message}`);
    }
    if (!stopping) setTimeout(() => void loop(), tickMs);
  };
  void loop();
}

async function readState(path: string): Promise<WarmServerState | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as WarmServerState;
  } catch {
    return undefined;
  }
}

/** Leases of live processes; those of dead ones (a killed CLI) are removed. */
async function liveLeases(stateDir: string, key: string): Promise<number> {
  let live = 0;
  for (const name of await readdir(stateDir).catch(() => [] as string[])) {
    const m = new RegExp(`^${key}\\.(\\d+)\\.lease$`).exec(name);
    if (!m) continue;
    if (alive(Number(m[1]))) live++;
    else await unlink(join(stateDir, name)).catch(() => undefined);
  }
  return live;
}

main().catch((e: unknown) => {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
