import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';
import { call, tempMemory, TOKEN, waitFor } from './helpers.js';

/** The dashboard shows what agents wait on, with buttons; a click answers (real Chromium). */
const env = useScriptedOpencode();
let serve: RunningServe;
let browser: Browser;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  memory = await tempMemory('dash-requests');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: env.oc.url,
    flowOptions: { model: 'scripted/small', memory: memory.uri, inputPolicy: { onPermission: 'ask' } },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.close();
  await memory?.cleanup();
});

describe('dashboard: human in the loop', () => {
  it('shows a pending permission with buttons; "Allow once" answers it and the tool runs', async () => {
    env.llm.script([
      {
        match: { allText: 'DASH-ASK', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo DASH-ASK-RAN', description: 'marker' } }] },
      },
      {
        match: { allText: 'DASH-ASK', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${req.toolResults.at(-1)?.content ?? ''}` }),
      },
    ]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${serve.url}/#token=${TOKEN}`);
    await page.waitForSelector('#conn.ok');
    const r = await call<{ id: string }>(serve.url, 'POST', '/flows', {
      body: { task: 'DASH-ASK', agents: [{ name: 'runner', agent: 'build', permissions: { bash: 'ask' } }] },
    });
    expect(r.status).toBe(202);
    const card = page.locator(`section.flow[data-flow-id="${r.body.id}"]`);
    const request = card.locator('.request');
    await request.waitFor({ timeout: 60_000 });
    expect(await request.locator('.request-text').textContent()).toContain(
      'runner asks to use bash: echo DASH-ASK-RAN',
    );
    expect(await request.locator('button').allTextContents()).toEqual(['Allow once', 'Allow always', 'Reject']);
    // The agent's state in words, not the machine's `awaitingInput`.
    const state = card.locator('tr[data-agent="runner"] .agent-state');
    await state.filter({ hasText: 'waiting for input' }).waitFor({ timeout: 10_000 });
    expect(await state.getAttribute('title')).toBe('awaitingInput');
    await request.locator('button', { hasText: 'Allow once' }).click();
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    expect(await card.locator('.request').count()).toBe(0);
    const report = await waitFor(
      async () => {
        const x = await call(serve.url, 'GET', `/flows/${r.body.id}`);
        return x.body.status !== 'running' ? x.body : undefined;
      },
      { what: 'the report', timeoutMs: 30_000 },
    );
    expect(report.results[0].output).toContain('DASH-ASK-RAN');
    expect(report.results[0].inputs[0].by).toBe('user');
    expect(errors).toEqual([]);
  });
});
