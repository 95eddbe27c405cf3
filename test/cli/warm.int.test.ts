import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive } from '../../src/opencode/warm.js';
import {
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startScriptedLLM,
  type ScriptedLLM,
} from '../../src/testing/index.js';
import { childEnv, cli, cliArgv, removeMemoryFiles, tempDir, type Run } from './helpers.js';

/**
 * Warm second runs, end to end: the real CLI, the real `opencode serve` under its detached
 * keeper, a scripted model. Each CLI run here works in one temp project with a fresh HOME,
 * whose plain OpenCode config file (no `$schema`, as a user writes it) names the scripted
 * provider; changing that file changes the server's key, OpenCode adding its `$schema` does
 * not. Nothing here is timed: waits are for events, with generous upper bounds.
 */
interface Status {
  key: string;
  health: string;
  url: string;
  pid: number;
  keeperPid: number;
  readyAt: number;
  users: number[];
  password?: string;
}

let llm: ScriptedLLM;
let project: string;
let cleanup: () => Promise<void>;
let env: Record<string, string | undefined>;
let userConfig: string;
const pids: number[] = [];

const run = (args: string[], extra: Record<string, string | undefined> = {}): Promise<Run> =>
  cli(['-a', 'researcher', '--model', 'scripted/small', '--json', ...args], {
    cwd: project,
    env: { ...env, ...extra },
    timeoutMs: 180_000,
  });
const status = async (): Promise<Status[]> => {
  const r = await cli(['server', 'status', '--json'], { cwd: project, env });
  expect(r.code, r.stderr).toBe(0);
  const list = JSON.parse(r.stdout) as Status[];
  for (const s of list) pids.push(s.pid, s.keeperPid);
  return list;
};
const sawTask = (task: string) => llm.promptRequests().some((r) => JSON.stringify(r.body).includes(task));
async function until(what: string, cond: () => boolean | Promise<boolean>, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'warm answer' } });
  const t = await tempDir('ocf-warm-');
  cleanup = t.cleanup;
  project = join(t.dir, 'project');
  await mkdir(project, { recursive: true });
  env = isolatedOpencodeEnv(join(t.dir, 'home'));
  userConfig = join(env.XDG_CONFIG_HOME!, 'opencode', 'opencode.json');
  await mkdir(dirname(userConfig), { recursive: true });
  await writeFile(userConfig, JSON.stringify(plainConfig()));
});

/** The scripted provider's config as a user writes it: without the `$schema` OpenCode adds. */
function plainConfig(): Record<string, unknown> {
  const { $schema: _, ...plain } = scriptedOpencodeConfig({ baseURL: llm.baseURL });
  return plain;
}

afterAll(async () => {
  await cli(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await llm?.close();
  await cleanup?.();
  await removeMemoryFiles();
});

describe('warm second runs', () => {
  it(
    'in a fresh HOME, a second run in the same project attaches to the server the first one left (one warm server), and the model sees its prompt',
    { timeout: 300_000 },
    async () => {
      const first = await run(['-t', 'WARM-ONE', '--keep-warm', '120']);
      expect(first.code, first.stderr).toBe(0);
      expect(sawTask('WARM-ONE')).toBe(true);
      // OpenCode's first start wrote its "$schema" into the plain user config: the case where a
      // key on the file's bytes started a second server.
      expect(await readFile(userConfig, 'utf8')).toContain('$schema');
      const [warm, ...others] = await status();
      expect(others).toEqual([]);
      expect(warm).toMatchObject({ health: 'ready', users: [] });
      expect(warm!.password).toBeUndefined(); // never printed
      expect(alive(warm!.pid)).toBe(true);
      expect(warm!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // Loopback with its own password: a request without it is refused.
      expect((await fetch(`${warm!.url}/global/health`)).status).toBe(401);

      const second = await run(['-t', 'WARM-TWO', '--keep-warm', '120', '--verbose'], {});
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain(`attached to the warm OpenCode server ${warm!.url} (pid ${warm!.pid})`);
      expect(sawTask('WARM-TWO')).toBe(true);
      expect(await status()).toEqual([
        expect.objectContaining({ key: warm!.key, url: warm!.url, pid: warm!.pid, readyAt: warm!.readyAt }),
      ]);
    },
  );

  it(
    'a changed OpenCode config gets a server of its own; server stop stops them all',
    { timeout: 300_000 },
    async () => {
      const [before] = await status();
      await writeFile(userConfig, JSON.stringify({ ...plainConfig(), instructions: [] }));
      const third = await run(['-t', 'WARM-THREE', '--keep-warm', '120', '--verbose']);
      expect(third.code, third.stderr).toBe(0);
      expect(third.stderr).toContain('started a warm OpenCode server');
      expect(sawTask('WARM-THREE')).toBe(true);
      const both = await status();
      expect(both).toHaveLength(2);
      const fresh = both.find((s) => s.key !== before!.key)!;
      expect(fresh.pid).not.toBe(before!.pid);
      expect(fresh.url).not.toBe(before!.url);

      const stop = await cli(['server', 'stop'], { cwd: project, env });
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toContain('Stopped 2 warm OpenCode server(s)');
      expect(await status()).toEqual([]);
      for (const s of both) {
        expect(alive(s.pid), `opencode ${s.pid}`).toBe(false);
        expect(alive(s.keeperPid), `keeper ${s.keeperPid}`).toBe(false);
      }
    },
  );

  it(
    'a busy warm server is not shared; after the idle period it and its keeper are gone, even when its run was killed with SIGKILL',
    { timeout: 300_000 },
    async () => {
      llm.script({ match: { allText: 'WARM-KILLED' }, reply: { hang: true } });
      const child = spawn(
        process.execPath,
        cliArgv(['-a', 'researcher', '--model', 'scripted/small', '-t', 'WARM-KILLED', '--keep-warm', '3']),
        {
          cwd: project,
          env: childEnv(env),
          stdio: 'ignore',
        },
      );
      const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_code, signal) => res(signal)));
      // Killed once its prompt is at the model (whose reply hangs): mid-run, its lease held.
      await until('the run to reach the model', () => sawTask('WARM-KILLED'), 120_000);
      const [warm] = await status();
      expect(warm).toMatchObject({ health: 'ready' });
      expect(warm!.users).toEqual([child.pid]);
      // While that run holds it, another run does not share it (each run registers its own memory
      // tools on its server): it gets a server of its own, stopped with it.
      const beside = await run(['-t', 'WARM-BESIDE', '--keep-warm', '3', '--verbose']);
      expect(beside.code, beside.stderr).toBe(0);
      // (The start's phase line names the warm server it looks for; it neither attaches nor starts one.)
      expect(beside.stderr).not.toContain('attached to the warm OpenCode server');
      expect(beside.stderr).not.toContain('started a warm OpenCode server');
      expect(sawTask('WARM-BESIDE')).toBe(true);
      expect(await status()).toEqual([expect.objectContaining({ key: warm!.key, pid: warm!.pid })]);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await until('the idle keeper to stop its server', () => !alive(warm!.pid) && !alive(warm!.keeperPid), 60_000);
      expect(await status()).toEqual([]);
    },
  );
});
