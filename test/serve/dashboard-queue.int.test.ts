import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';
import { call, parseMetrics, sample, tempMemory, TOKEN } from './helpers.js';

/**
 * A prompt held back by the host's concurrency caps shows on the dashboard (real Chromium) as
 * "waiting for a slot", and on /metrics as an agent in state `waitingForSlot`, while the other
 * agent has the provider's only slot.
 */
const env = useScriptedOpencode();
let serve: RunningServe;
let browser: Browser;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  memory = await tempMemory('dash-queue');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: env.oc.url,
    flowOptions: { model: 'scripted/small', memory: memory.uri, modelRouter: { concurrency: { scripted: 1 } } },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.close();
  await memory?.cleanup();
});

describe('dashboard: a prompt waiting for a slot', () => {
  it('shows the waiting agent in words and counts it on /metrics, then both finish', async () => {
    env.llm.script({ match: { allText: 'DASH-QUEUE' }, reply: { text: 'queued answer', delayMs: 2500 } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${serve.url}/#token=${TOKEN}`);
    await page.waitForSelector('#conn.ok');
    const r = await call<{ id: string }>(serve.url, 'POST', '/flows', {
      body: { task: 'DASH-QUEUE', agents: ['researcher', 'reviewer'] },
    });
    expect(r.status).toBe(202);
    const card = page.locator(`section.flow[data-flow-id="${r.body.id}"]`);
    const waiting = card.locator('.agent-state', { hasText: 'waiting for a slot' });
    await waiting.waitFor({ timeout: 60_000 });
    expect(await waiting.getAttribute('title')).toBe('waitingForSlot');
    const metrics = await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(sample(parseMetrics(await metrics.text()), 'opencode_flow_agents', { state: 'waitingForSlot' })).toBe(1);
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    expect(await card.locator('.agent-state', { hasText: 'waiting for a slot' }).count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
