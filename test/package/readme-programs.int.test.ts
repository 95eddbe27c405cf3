import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The README's runnable programs, run as written against the built package (the scripted
 * model inside each program stands in for a real one; OpenCode is the real binary). The
 * type-check of every block is `readme-typescript.test.ts`; this one runs the ones under
 * the headings below and checks what they print.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/tsx/dist/cli.mjs');

/** The first ```ts block after a README heading. */
export function programUnder(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no heading "${heading}"`);
  const m = /^```ts[ \t]*\n([\s\S]*?)^```[ \t]*$/m.exec(markdown.slice(at));
  if (!m) throw new Error(`README has no ts block under "${heading}"`);
  return m[1]!;
}

let dir: string;
beforeAll(async () => {
  for (const f of ['index', 'testing']) {
    if (!existsSync(join(ROOT, `dist/${f}.js`)))
      throw new Error(`dist/${f}.js is missing: run \`npm run build\` first`);
  }
  // Inside the repository, so `opencode-flow` resolves to this package (its exports, dist/).
  dir = await mkdtemp(join(ROOT, '.readme-run-'));
});
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

async function run(heading: string): Promise<{ stdout: string; stderr: string }> {
  const file = join(dir, `${heading.replace(/\W+/g, '-')}.mts`);
  await writeFile(file, programUnder(readFileSync(join(ROOT, 'README.md'), 'utf8'), heading));
  return promisify(execFile)(process.execPath, [TSX, file], { cwd: ROOT, timeout: 150_000, maxBuffer: 16 << 20 });
}

describe('README programs', () => {
  it('"Structured output" prints the typed review, zod default included', async () => {
    const { stdout } = await run('### Structured output');
    expect(stdout).toContain('reject: src/api.ts:42 no auth check');
    expect(stdout).toContain('tags: []');
  }, 180_000);

  it('"Your own tools" prints what the agent found through the app\'s function', async () => {
    const { stdout } = await run('### Your own tools');
    expect(stdout).toContain('Found {"name":"Ada","plan":"gold"}');
  }, 180_000);

  it('"Your own coordination machine" fans out to two reviewers, joins them and prints the lead\'s merge', async () => {
    const { stdout } = await run('### Your own coordination machine');
    expect(stdout).toContain('completed {"summary":"Two notes merged: escape input, cache the query.","notes":2}');
    expect(stdout).toContain('lead: done, perf: done, security: done');
  }, 180_000);
});
