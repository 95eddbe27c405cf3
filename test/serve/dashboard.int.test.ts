import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usd } from '../../src/cli/output.js';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { call, tempMemory, TOKEN, waitFor } from './helpers.js';

/**
 * The dashboard in real headless Chromium against the real API, real OpenCode and a
 * scripted model. A screenshot goes to test-artifacts/dashboard.png.
 */
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let browser: Browser;
let memory: Awaited<ReturnType<typeof tempMemory>>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  memory = await tempMemory('dashboard');
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: { model: 'scripted/small', memory: memory.uri },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.close();
  await oc?.stop();
  await llm?.close();
  await memory?.cleanup();
});

async function openPage(hash = `#token=${TOKEN}`): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${serve.url}/${hash}`);
  return { page, errors, requests };
}

const flowCard = (page: Page, id: string) => page.locator(`section.flow[data-flow-id="${id}"]`);

describe('dashboard', () => {
  it('shows every agent reaching done, with models, tokens and costs per agent, per model and in total', async () => {
    llm.script([
      {
        match: { allText: 'DASH-TASK', model: 'medium' },
        reply: {
          text: 'the medium model reviewed it all',
          chunks: 10,
          chunkDelayMs: 150,
          usage: { prompt_tokens: 3000, completion_tokens: 400 },
        },
      },
      {
        match: { allText: 'DASH-TASK' },
        reply: {
          text: 'small model answer, streamed slowly',
          chunks: 10,
          chunkDelayMs: 150,
          usage: { prompt_tokens: 1500, completion_tokens: 250 },
        },
      },
    ]);
    const { page, errors, requests } = await openPage();
    // The token moved from the fragment into session storage and out of the address bar.
    expect(page.url()).toBe(`${serve.url}/`);
    await page.waitForSelector('#conn.ok');

    const agents = ['researcher', 'coder', 'auditor'];
    const r = await call(serve.url, 'POST', '/flows', {
      body: {
        task: 'DASH-TASK: audit the API',
        agents: ['researcher', 'coder', { name: 'auditor', preset: 'security-auditor', model: 'scripted/medium' }],
      },
    });
    expect(r.status).toBe(202);
    const id = r.body.id as string;
    const card = flowCard(page, id);

    // Live: the flow shows up running, with agents streaming, before it finishes.
    await card.locator('.flow-status', { hasText: 'running' }).waitFor({ timeout: 20_000 });
    await card.locator('.agent-state', { hasText: 'streaming' }).first().waitFor({ timeout: 20_000 });
    expect(await card.locator('button.cancel').count()).toBe(1);
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard-running.png'), fullPage: true });

    for (const a of agents) {
      await card.locator(`tr[data-agent="${a}"] .agent-state`, { hasText: /^done$/ }).waitFor({ timeout: 30_000 });
    }
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor({ timeout: 20_000 });
    const report = (await call(serve.url, 'GET', `/flows/${id}`)).body;
    expect(report.status).toBe('completed');

    for (const res of report.results) {
      const row = card.locator(`tr[data-agent="${res.agent}"]`);
      expect(await row.locator('.agent-model').textContent()).toBe(res.model);
      expect(await row.locator('.agent-cost').textContent()).toBe(usd(res.cost));
      const cells = await row.locator('td').allTextContents();
      expect(cells.slice(3, 5)).toEqual([String(res.tokens.input), String(res.tokens.output)]);
    }
    expect(report.results.find((x: { agent: string }) => x.agent === 'auditor').model).toBe('scripted/medium');
    for (const [model, cost] of Object.entries(report.cost.byModel as Record<string, number>)) {
      expect(await card.locator(`tr[data-model="${model}"] .model-cost`).textContent()).toBe(usd(cost));
    }
    expect(await card.locator('.flow-cost').textContent()).toBe(usd(report.cost.total));
    expect(await card.locator('button.cancel').count()).toBe(0);
    expect(await page.locator('#total-cost').textContent()).toBe(usd(report.cost.total));
    expect(report.cost.total).toBeGreaterThan(0);

    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
    // Self-contained: the page only ever talks to its own origin, never with the token in a URL.
    expect(requests.filter((u) => !u.startsWith(serve.url))).toEqual([]);
    expect(requests.filter((u) => u.includes(TOKEN))).toEqual([]);
    await page.close();
  });

  it('asks for the token when it has none, then shows the flows', async () => {
    const { page, errors } = await openPage('');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#conn').textContent()).toBe('not signed in');
    expect(await page.locator('section.flow').count()).toBe(0);
    await page.fill('#token', 'a-wrong-token-of-enough-length');
    await page.click('#login button');
    await page.locator('#login-msg', { hasText: 'valid token' }).waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#login button');
    await page.locator('#login').waitFor({ state: 'hidden' });
    await page.locator('section.flow').first().waitFor();
    expect(await page.locator('section.flow').count()).toBeGreaterThan(0);
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    await page.close();
  });

  it('cancels a running flow with its button', async () => {
    llm.script({ match: { allText: 'DASH-HANG' }, reply: { hang: true } });
    const { page } = await openPage();
    const r = await call(serve.url, 'POST', '/flows', {
      body: { task: 'DASH-HANG', agents: ['researcher', 'reviewer'] },
    });
    expect(r.status).toBe(202);
    const card = flowCard(page, r.body.id);
    for (const a of ['researcher', 'reviewer'])
      await card.locator(`tr[data-agent="${a}"] .agent-state`, { hasText: 'streaming' }).waitFor({ timeout: 20_000 });
    await card.locator('button.cancel').click();
    await card.locator('.flow-status', { hasText: 'cancelled' }).waitFor({ timeout: 20_000 });
    const status = await waitFor(async () => {
      const v = (await call(serve.url, 'GET', `/flows/${r.body.id}`)).body;
      return v.status !== 'running' ? v.status : undefined;
    });
    expect(status).toBe('cancelled');
    expect(Object.keys(await serve.flow.opencode.status())).toEqual([]);
    await page.close();
  });
});
