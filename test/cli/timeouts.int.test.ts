import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { cli, removeMemoryFiles, STACK, tempDir } from './helpers.js';

/**
 * Timeouts from the CLI (issue 11, problem 8): the flow timeout (`--timeout`) and the
 * per-prompt timeout (`--prompt-timeout`) are apart, so a prompt that times out falls back;
 * both are seconds, checked up front against what a timer can hold.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
let cwd: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({
    baseURL: llm.baseURL,
    models: [
      { id: 'fast', cost: { input: 0.1, output: 0.4 } },
      { id: 'slow', cost: { input: 0.1, output: 0.4 } },
    ],
    defaultModel: 'fast',
  });
  // The CLI persists its flows under its working directory: keep them out of the repository.
  ({ dir: cwd, cleanup } = await tempDir('ocf-timeouts-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await removeMemoryFiles();
  await cleanup?.();
});

const requestsWith = (marker: string) => llm.promptRequests().filter((q) => q.allText.includes(marker));

describe('--prompt-timeout', () => {
  it('a prompt the slow model never answers times out and falls back to the fast one; the flow completes', async () => {
    llm.script([
      { match: { allText: 'T8-FALLBACK', model: 'slow' }, reply: { hang: true } },
      { match: { allText: 'T8-FALLBACK', model: 'fast' }, reply: { text: 'fast answer' } },
    ]);
    // OpenCode boots a directory on its first prompt there (seconds on a busy machine): do
    // that first, so the 2-second prompt timeout measures the model, not the boot.
    const warm = await cli(
      ['--agents', 'coder', '--task', 'T8-WARMUP task', '--server', oc.url, '--model', 'scripted/fast'],
      { cwd },
    );
    expect(warm.code, warm.stderr).toBe(0);
    const t0 = Date.now();
    const r = await cli(
      [
        '--agents',
        'coder',
        '--task',
        'T8-FALLBACK task',
        '--server',
        oc.url,
        '--model',
        'scripted/slow',
        '--fallback',
        'scripted/fast',
        '--prompt-timeout',
        '2',
        '--json',
      ],
      { cwd },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(90_000);
    const report = JSON.parse(r.stdout.trim());
    expect(report.status).toBe('completed');
    expect(report.results).toHaveLength(1);
    expect(report.results[0]).toMatchObject({
      agent: 'coder',
      status: 'done',
      output: 'fast answer',
      model: 'scripted/fast',
    });
    expect(report.results[0].attempts, JSON.stringify(report)).toHaveLength(2);
    expect(report.results[0].attempts[0].model).toBe('scripted/slow');
    expect(report.results[0].attempts[0].error).toMatch(/no answer within 2000 ms|timed? ?out/i);
    expect(report.results[0].attempts[1]).toEqual({ model: 'scripted/fast' });
    const asked = requestsWith('T8-FALLBACK');
    expect(asked.filter((q) => q.model === 'slow').length).toBeGreaterThanOrEqual(1);
    expect(asked.filter((q) => q.model === 'fast').length).toBeGreaterThanOrEqual(1);
  });
});

describe('a timeout past what timers hold', () => {
  it('--timeout 3000000 exits 2 naming --timeout and the limit, no stack trace, no prompt sent', async () => {
    const r = await cli(
      [
        '--agents',
        'coder',
        '--task',
        'T8-HUGE-FLOW task',
        '--server',
        oc.url,
        '--model',
        'scripted/fast',
        '--timeout',
        '3000000',
      ],
      { cwd },
    );
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--timeout/);
    expect(r.stderr).toMatch(/2147483/);
    expect(r.stderr).not.toMatch(STACK);
    expect(r.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(requestsWith('T8-HUGE-FLOW')).toHaveLength(0);
  });

  it('--prompt-timeout 3000000 exits 2 naming --prompt-timeout and the limit', async () => {
    const r = await cli(
      [
        '--agents',
        'coder',
        '--task',
        'T8-HUGE-PROMPT task',
        '--server',
        oc.url,
        '--model',
        'scripted/fast',
        '--prompt-timeout',
        '3000000',
      ],
      { cwd },
    );
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--prompt-timeout/);
    expect(r.stderr).toMatch(/2147483/);
    expect(r.stderr).not.toMatch(STACK);
    expect(requestsWith('T8-HUGE-PROMPT')).toHaveLength(0);
  });
});
