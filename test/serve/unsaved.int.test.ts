import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { call, parseMetrics, readEvents, sample, TOKEN, waitFor } from './helpers.js';

/**
 * A flow store that fails mid-run is visible on every surface of serve: the running view,
 * the SSE stream, the report, the metrics and the dashboard (real Chromium). The store is a
 * real file store whose directory is replaced by a file while the agent prompts.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let browser: Browser;
let dir: string;
let flows: string;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-serve-unsaved-'));
  flows = join(dir, 'flows');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: { model: 'scripted/small', memory: false, flowsDir: flows },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.close();
  await oc?.stop();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a flow store that fails mid-run, in serve', () => {
  it('the running view, the SSE stream, the report, the metrics and the dashboard say the flow is not saved', async () => {
    llm.script({ match: { allText: 'UNSAVED-SERVE' }, reply: { text: 'answer nobody stored', delayMs: 4000 } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${serve.url}/#token=${TOKEN}`);
    const r = await call(serve.url, 'POST', '/flows', { body: { task: 'UNSAVED-SERVE', agents: ['coder'] } });
    expect(r.status).toBe(202);
    const id = r.body.id as string;
    await waitFor(() => llm.promptRequests().some((q) => q.allText.includes('UNSAVED-SERVE')), { what: 'the prompt' });
    await rm(flows, { recursive: true, force: true });
    await writeFile(flows, 'in the way');

    // While it runs: the view says so (the next save, when the answer comes, fails).
    const running = await waitFor(
      async () => {
        const v = (await call(serve.url, 'GET', `/flows/${id}`)).body;
        return v.unsaved ? v : undefined;
      },
      { what: 'the unsaved view' },
    );
    expect(running.unsaved).toMatchObject({
      failures: expect.any(Number),
      error: expect.stringMatching(/EEXIST|ENOTDIR/),
    });

    const { events } = await readEvents(serve.url, id);
    const unsaved = events.filter((e) => e.event === 'flow.persist_error');
    expect(unsaved.length).toBeGreaterThanOrEqual(1);
    expect(unsaved[0]!.data).toMatchObject({ flowId: id, store: flows, failures: 1 });
    const report = (await call(serve.url, 'GET', `/flows/${id}`)).body;
    expect(report.status).toBe('completed');
    expect(report.unsaved).toMatchObject({ reportSaved: false });

    const metrics = parseMetrics((await call(serve.url, 'GET', '/metrics')).body as string);
    expect(sample(metrics, 'opencode_flow_persist_errors_total')).toBeGreaterThanOrEqual(1);

    const alert = page.locator(`section.flow[data-flow-id="${id}"] .unsaved[role="alert"]`);
    await alert.waitFor({ timeout: 20_000 });
    expect(await alert.textContent()).toMatch(
      /^Not saved: \d+ saves? of this flow's state failed \(.*flows\): .*cannot be resumed/,
    );
    expect(errors).toEqual([]);
    await page.close();
  });
});
