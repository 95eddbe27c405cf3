import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Install hygiene, as npm 11 sees a fresh clone: every dependency install script is declared
 * in package.json's `allowScripts` (approved or denied), every package the lock installs
 * accepts Node 20, and the `prepare` build is quiet so `npm pack --json` prints JSON only.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
};

interface LockEntry {
  version?: string;
  hasInstallScript?: boolean;
  engines?: Record<string, string> | string[];
  link?: boolean;
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};

/** The package name of a lock path: `node_modules/a/node_modules/@s/b` is `@s/b`. */
const nameOf = (path: string): string => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

async function sh(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(file, args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, NODE_OPTIONS: '' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const temps: string[] = [];
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));

describe('installing the project', () => {
  it('declares every dependency install script in allowScripts (approved or denied), as npm 11 asks', async () => {
    const policy = pkg.allowScripts ?? {};
    const uncovered = Object.entries(lock.packages)
      .filter(([path, e]) => path && !e.link && e.hasInstallScript)
      .map(([path, e]) => `${nameOf(path)}@${e.version}`)
      .filter((id) => {
        const name = id.slice(0, id.lastIndexOf('@'));
        return !(name in policy) && !(id in policy);
      });
    expect(uncovered).toEqual([]);
    // The scripts the package needs stay approved: the opencode binary, the native SQLite
    // binding, the PTY of the CLI tests, esbuild's binary check.
    for (const name of ['opencode-ai', 'better-sqlite3', 'node-pty', 'esbuild']) expect(policy[name], name).toBe(true);
    // npm's own view of the installed tree agrees.
    const ls = await sh('npm', ['install-scripts', 'ls'], ROOT);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout + ls.stderr).not.toMatch(/not yet covered/);
  });

  it('installs nothing whose engines refuse Node 20 (npm warns EBADENGINE on none)', async () => {
    // 20.19 is the first Node 20 the dev toolchain (vite, rolldown) runs on; every
    // package the lock holds, dependency or devDependency, must accept it.
    const refusing = Object.entries(lock.packages)
      .filter(([path, e]) => path && !Array.isArray(e.engines) && e.engines?.node)
      .filter(([, e]) => !semver.satisfies('20.19.0', (e.engines as Record<string, string>).node!))
      .map(([path, e]) => `${path} ${(e.engines as Record<string, string>).node}`);
    expect(refusing).toEqual([]);
    expect(semver.satisfies('20.19.0', pkg.engines.node)).toBe(true);
    // npm's own check, on a fresh directory with the manifest and the lock (a dry run, offline).
    const dir = await mkdtemp(join(tmpdir(), 'ocf-engines-'));
    temps.push(dir);
    await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
    await cp(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    const ci = await sh(
      'npm',
      ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--engine-strict=false'],
      dir,
    );
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stderr).not.toMatch(/EBADENGINE/);
  });

  it(
    '`npm pack --json --dry-run` prints JSON only: the prepare build (tsup) is quiet',
    { timeout: 600_000 },
    async () => {
      // A copy of the working tree (its node_modules linked), so the prepare build writes
      // its own dist/ and never the one other test files are reading.
      const dir = await mkdtemp(join(tmpdir(), 'ocf-pack-json-'));
      temps.push(dir);
      const files = (await sh('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], ROOT)).stdout
        .split('\0')
        .filter((f) => f && !f.startsWith('test/'));
      for (const f of files) {
        await mkdir(join(dir, dirname(f)), { recursive: true });
        await cp(join(ROOT, f), join(dir, f)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e; // deleted in the working tree, not yet in git
        });
      }
      await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
      const pack = await sh('npm', ['pack', '--json', '--dry-run'], dir);
      expect(pack.code, pack.stderr).toBe(0);
      let parsed: Array<{ name: string; files: Array<{ path: string }> }> | undefined;
      expect(() => (parsed = JSON.parse(pack.stdout) as typeof parsed), pack.stdout.slice(0, 2000)).not.toThrow();
      expect(parsed![0]!.name).toBe('opencode-flow');
      // The build did run: the packed files include what it wrote.
      expect(parsed![0]!.files.map((f) => f.path)).toEqual(
        expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli.js']),
      );
    },
  );
});
