import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * .ci/summary.mjs, the end of .ci/run: the plain closing line, and failure on a skipped test
 * that .ci/expected-skips does not list (CI starts Redis and PostgreSQL and installs zsh
 * and Chromium, so a skip there means something is missing).
 */
const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocf-ci-summary-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

type Status = 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
/** A vitest JSON report of one file, with tests given as [describe title, test title, status]. */
function report(tests: Array<[string, string, Status]>, file = { status: 'passed', message: '' }) {
  const count = (s: Status[]) => tests.filter((t) => s.includes(t[2])).length;
  return {
    numPassedTests: count(['passed']),
    numFailedTests: count(['failed']),
    numPendingTests: count(['skipped', 'pending']),
    numTodoTests: count(['todo']),
    testResults: [
      {
        name: join(ROOT, 'test/memory/backends.test.ts'),
        status: file.status,
        message: file.message,
        assertionResults: tests.map(([d, title, status]) => ({
          ancestorTitles: [d],
          title,
          fullName: `${d} ${title}`,
          status,
        })),
      },
    ],
  };
}

let seq = 0;
async function summary(r: object | undefined, expectedSkips = ''): Promise<{ code: number; lines: string[] }> {
  const reportPath = join(dir, `report-${++seq}.json`);
  const expectedPath = join(dir, `expected-${seq}`);
  if (r) await writeFile(reportPath, JSON.stringify(r));
  await writeFile(expectedPath, expectedSkips);
  const out = await promisify(execFile)(process.execPath, [join(ROOT, '.ci/summary.mjs'), reportPath, expectedPath], {
    cwd: ROOT,
  }).then(
    (x) => ({ code: 0, stdout: x.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  return { code: out.code, lines: out.stdout.trimEnd().split('\n') };
}

describe('.ci/summary.mjs', () => {
  it('passes a run without skips and ends with the plain line', async () => {
    const r = await summary(
      report([
        ['redis backend', 'get', 'passed'],
        ['redis backend', 'set', 'passed'],
      ]),
    );
    expect(r.code).toBe(0);
    expect(r.lines).toEqual(['tests: 2 passed, 0 failed, 0 skipped']);
  });

  it('fails a run with a skip it was not told to expect, naming the test, the plain line still last', async () => {
    const r = await summary(
      report([
        ['redis backend', 'get', 'skipped'],
        ['file backend', 'get', 'passed'],
      ]),
    );
    expect(r.code).toBe(1);
    expect(r.lines).toContain('  test/memory/backends.test.ts: redis backend > get');
    expect(r.lines.at(-1)).toBe('tests: 1 passed, 0 failed, 1 skipped');
  });

  it('passes a skip listed in the expected-skips file (by file and the start of the name), ignoring comments', async () => {
    const expected = '# why\ntest/memory/backends.test.ts: redis backend > g\n';
    const r = await summary(
      report([
        ['redis backend', 'get', 'skipped'],
        ['redis backend', 'set', 'passed'],
      ]),
      expected,
    );
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toBe('tests: 1 passed, 0 failed, 1 skipped');
    const other = await summary(report([['redis backend', 'set', 'skipped']]), expected);
    expect(other.code).toBe(1);
  });

  it('counts todo tests as skips too', async () => {
    const r = await summary(report([['file backend', 'later', 'todo']]));
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toBe('tests: 0 passed, 0 failed, 1 skipped');
  });

  it('fails a file that failed outside its tests (a throwing hook or import), counted as a failure', async () => {
    const r = await summary(report([], { status: 'failed', message: 'Error: connect ECONNREFUSED\n    at x' }));
    expect(r.code).toBe(1);
    expect(r.lines).toContain(
      '.ci/run: test/memory/backends.test.ts failed outside its tests: Error: connect ECONNREFUSED',
    );
    expect(r.lines.at(-1)).toBe('tests: 0 passed, 1 failed, 0 skipped');
  });

  it('fails with a zero line when there is no report', async () => {
    const r = await summary(undefined);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toBe('tests: 0 passed, 0 failed, 0 skipped');
  });

  it('the repository lists only what it must: each expected skip names a test file that exists', () => {
    const lines = readFileSync(join(ROOT, '.ci/expected-skips'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(lines.length).toBeLessThanOrEqual(3);
    for (const l of lines) expect(existsSync(join(ROOT, l.slice(0, l.indexOf(': '))))).toBe(true);
  });
});
