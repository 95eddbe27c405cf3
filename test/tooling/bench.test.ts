import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The README's `npm run bench`, on its fastest benchmark (the whole set takes about ten
 * minutes and measures, it does not test): the script, its runner and a benchmark's figures
 * beside their baseline. Timings are not asserted; only that the command works.
 */
const root = resolve(import.meta.dirname, '../..');
const npm = (...args: string[]) =>
  spawnSync('npm', ['run', '--silent', 'bench', '--', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('npm run bench', () => {
  it('runs the named benchmark and prints its figures against the baseline', () => {
    const r = npm('router-decision');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('=== bench/router-decision ===');
    expect(r.stdout).toMatch(/ratio select\/sort/);
    expect(r.stdout).toMatch(/goal p99 < 0\.1 ms: (met|NOT met)/);
  });

  it('refuses an unknown benchmark with exit 2, naming the ones there are', () => {
    const r = npm('no-such-bench');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown benchmark\(s\): no-such-bench \(have: .*router-decision.*scale/);
  });
});
