import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/**
 * The Chromium the browser tests drive, found the way a fresh machine allows:
 * 1. `CHROMIUM_PATH`, when set and not empty;
 * 2. a system Chromium: `chromium` (Debian's package) or `chromium-browser` on PATH, else
 *    /usr/bin/chromium;
 * 3. the build inside the `@sparticuz/chromium` devDependency, unpacked once into the temp
 *    directory (a few seconds), so `npm install && npm test` needs no browser installed by
 *    hand and no download.
 */
export interface ChromiumExecutable {
  path: string;
  source: 'CHROMIUM_PATH' | 'system' | '@sparticuz/chromium';
}

export interface FindChromiumOptions {
  /** Defaults to process.env; tests pass their own to hide what the machine has. */
  env?: NodeJS.ProcessEnv;
  /** Absolute paths tried after PATH; defaults to /usr/bin/chromium. */
  systemPaths?: string[];
}

/** The flags every launch uses: no sandbox (tests run as root), nothing reaching the network. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first system Chromium on `PATH`, then in `systemPaths`. */
export function systemChromium(
  env: NodeJS.ProcessEnv = process.env,
  systemPaths = ['/usr/bin/chromium'],
): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  }
  return systemPaths.find(executable);
}

export async function findChromium(options: FindChromiumOptions = {}): Promise<ChromiumExecutable> {
  const env = options.env ?? process.env;
  if (env.CHROMIUM_PATH) return { path: env.CHROMIUM_PATH, source: 'CHROMIUM_PATH' };
  const system = systemChromium(env, options.systemPaths);
  if (system) return { path: system, source: 'system' };
  return { path: await unpackSparticuz(), source: '@sparticuz/chromium' };
}

/**
 * The `@sparticuz/chromium` binary, unpacked once per version and shared by test files.
 * The package unpacks into `os.tmpdir()` and trusts a file that exists there, so two test
 * files unpacking at once could launch a half-written binary: it unpacks in a child process
 * whose TMPDIR is a private staging folder, which is then renamed into place in one step
 * (a loser of that race drops its copy and uses the winner's).
 */
async function unpackSparticuz(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@sparticuz/chromium/package.json'), 'utf8')) as {
    version: string;
  };
  const dir = join(tmpdir(), `opencode-flow-sparticuz-chromium-${pkg.version}`);
  const binary = join(dir, 'chromium');
  if (executable(binary)) return binary;
  const staging = await mkdtemp(join(tmpdir(), 'opencode-flow-sparticuz-'));
  try {
    const program =
      "const { default: c } = await import('@sparticuz/chromium'); process.stdout.write(await c.executablePath());";
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program], {
      cwd: REPO_ROOT,
      env: { ...process.env, TMPDIR: staging },
    });
    if (dirname(stdout.trim()) !== staging)
      throw new Error(`@sparticuz/chromium unpacked to ${stdout.trim()}, not into ${staging}`);
    await rename(staging, dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!executable(binary)) throw new Error(`no Chromium at ${binary} after unpacking @sparticuz/chromium`);
  return binary;
}

/** A headless Chromium from {@link findChromium}, ready for `browser.newPage()`. */
export async function launchChromium(options: FindChromiumOptions = {}): Promise<Browser> {
  const { path } = await findChromium(options);
  return chromium.launch({ executablePath: path, args: CHROMIUM_ARGS });
}
