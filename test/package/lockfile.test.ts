import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * package-lock.json is complete: `npm ci` on a fresh clone installs from it on any platform,
 * which needs an entry for every optional platform package too (opencode-ai's, esbuild's),
 * even those this machine never installs.
 */
const ROOT = resolve(import.meta.dirname, '../..');

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  optional?: boolean;
  link?: boolean;
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
};
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  optionalDependencies: Record<string, string>;
};

/** Where node would find `name` from the package at `from`: its own node_modules, then each parent's. */
function resolveInLock(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up === -1 ? '' : dir.slice(0, up);
  }
}

describe('package-lock.json', () => {
  it('records every dependency and optional dependency of every package it holds', () => {
    expect(lock.lockfileVersion).toBe(3);
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (entry.link) continue;
      const wanted = {
        ...entry.dependencies,
        ...entry.optionalDependencies,
        ...(path === '' ? entry.devDependencies : {}),
      };
      for (const name of Object.keys(wanted))
        if (!resolveInLock(path, name)) missing.push(`${path || '(root)'} -> ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it("records each of opencode-ai's platform packages, at its version, for the platform it is for", () => {
    const opencode = lock.packages['node_modules/opencode-ai']!;
    expect(opencode.version).toBe(pkg.optionalDependencies['opencode-ai']);
    const platforms = Object.keys(opencode.optionalDependencies ?? {});
    // darwin, linux (glibc and musl) and windows, arm64 and x64: none may be left out.
    expect(platforms.length).toBeGreaterThanOrEqual(12);
    for (const name of platforms) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, name).toBeDefined();
      expect(entry!.version, name).toBe(opencode.optionalDependencies![name]);
      expect(entry!.optional, name).toBe(true);
      const [, os, cpu] = name.split('-');
      expect(entry!.os, name).toEqual([os === 'windows' ? 'win32' : os]);
      expect(entry!.cpu, name).toEqual([cpu]);
    }
  });

  it('`npm ci` accepts it as in sync with package.json (a dry run, offline)', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocf-npm-ci-'));
    try {
      await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
      await copyFile(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
      const run = await promisify(execFile)(
        'npm',
        ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
        { cwd: dir, maxBuffer: 16 << 20 },
      ).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(run.stderr).not.toMatch(/Missing: |in sync/);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`\nadd opencode-ai ${pkg.optionalDependencies['opencode-ai']}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
