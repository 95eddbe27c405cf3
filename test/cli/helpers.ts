import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The repository root and the CLI's source entry point. */
export const root = resolve(import.meta.dirname, '../..');
export const cliSource = join(root, 'src/cli/index.ts');
/** tsx's loader by absolute URL, so a child can run the CLI source from any working directory. */
export const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

/** `node --import tsx src/cli/index.ts`: the argv that runs the CLI as a user would. */
export const cliArgv = (args: string[]) => ['--import', tsxLoader, cliSource, ...args];

let memSeq = 0;
const memoryDir = join(tmpdir(), `ocf-cli-mem-${process.pid}`);
/** A memory file of its own for one CLI process: the file backend is single-process. */
export function memoryEnv(): Record<string, string> {
  return { OPENCODE_FLOW_MEMORY: `file:${join(memoryDir, `${++memSeq}.json`)}` };
}
/** Removes the memory files {@link memoryEnv} handed out (call in `afterAll`). */
export async function removeMemoryFiles(): Promise<void> {
  await rm(memoryDir, { recursive: true, force: true });
}

/**
 * The environment of a CLI child: ours without a server URL (tests name their server), no
 * colour, no warm server, its own memory file, then `extra` (an `undefined` value removes a
 * variable).
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  // No warm OpenCode server outlives a test's CLI run unless the test asks (--keep-warm).
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', OPENCODE_FLOW_KEEP_WARM: '0', ...memoryEnv() };
  delete env.OPENCODE_SERVER_URL;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Called with everything printed so far on either stream. */
  onOutput?: (all: string, kill: (sig: NodeJS.Signals) => void) => void;
  timeoutMs?: number;
}

/**
 * Runs the CLI in a child process with a clean environment for it: no server URL from the
 * outer environment, no colour, its own memory file.
 */
export function cli(args: string[], opts: CliOptions = {}): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, cliArgv(args), {
      cwd: opts.cwd ?? root,
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    const on = () => opts.onOutput?.(stdout + stderr, (sig) => child.kill(sig));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      on();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      on();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** A temp directory, removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** No stack trace in a user-facing error output. */
export const STACK = /\n\s+at .+:\d+:\d+/;
