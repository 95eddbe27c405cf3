import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { DATABASE_URL, needPostgres } from '../helpers/services.js';
import { cli, STACK, tempDir } from './helpers.js';

/**
 * No silent loss: a flow store that cannot be used fails the run before anything is sent,
 * and one that fails mid-run is said on stderr and in the report (a real file store whose
 * directory is taken away while an agent prompts; real PostgreSQL without the database).
 */

const postgres = await needPostgres();
let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'store loss answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  ({ dir, cleanup } = await tempDir('ocf-store-loss-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await cleanup?.();
});

const sent = (marker: string) => llm.promptRequests().filter((q) => q.allText.includes(marker)).length;
const run = (marker: string, store: string, extra: string[] = []) =>
  cli([
    '--agents',
    'coder',
    '--task',
    `${marker} task`,
    '--server',
    oc.url,
    '--model',
    'scripted/small',
    '--store',
    store,
    ...extra,
  ]);

describe('a flow store that cannot be used', () => {
  it('a file store under a file: exit 1 naming it, before any prompt is sent', async () => {
    await writeFile(join(dir, 'not-a-dir'), 'x');
    const store = join(dir, 'not-a-dir', 'flows');
    const r = await run('STORE-FILE', `file:${store}`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`cannot write the flow store ${store}`);
    expect(r.stderr).not.toMatch(STACK);
    expect(sent('STORE-FILE')).toBe(0);
  });

  it.skipIf(!postgres.up)(
    'PostgreSQL without the database: exit 1 naming the store, its password masked, nothing sent',
    async () => {
      const url = new URL(DATABASE_URL);
      url.password = 'hunter2';
      url.pathname = '/ocf_no_such_database';
      const r = await run('STORE-PG', url.toString());
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/cannot open the flow store postgres:\/\/.*ocf_no_such_database/);
      expect(r.stderr).toContain('ocf_no_such_database');
      expect(r.stderr).not.toContain('hunter2');
      expect(r.stderr).not.toMatch(STACK);
      expect(sent('STORE-PG')).toBe(0);
    },
  );
});

describe('a flow store that fails mid-run', () => {
  it('says so once on stderr while the run goes on, and the report says it is not saved', async () => {
    llm.script({ match: { allText: 'STORE-MID' }, reply: { text: 'answered while unsaved', delayMs: 1500 } });
    const store = join(dir, 'mid-flows');
    const running = run('STORE-MID', `file:${store}`, ['--json']);
    // Once the prompt is out (its state saved before it was sent), the store's directory is
    // replaced by a file: every later save fails.
    for (let i = 0; sent('STORE-MID') === 0; i++) {
      if (i > 600) throw new Error('the prompt never reached the model');
      await new Promise((r) => setTimeout(r, 50));
    }
    await rm(store, { recursive: true, force: true });
    await writeFile(store, 'in the way');
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      status: string;
      results: Array<{ output: string }>;
      unsaved?: { failures: number; error: string; reportSaved: boolean };
    };
    expect(report.status).toBe('completed');
    expect(report.results[0]!.output).toBe('answered while unsaved');
    expect(report.unsaved).toMatchObject({ reportSaved: false, error: expect.stringMatching(/EEXIST|ENOTDIR/) });
    expect(report.unsaved!.failures).toBeGreaterThanOrEqual(1);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: flow '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`its state could not be saved to ${store}`);
    expect(r.stderr).not.toMatch(STACK);
  });
});
