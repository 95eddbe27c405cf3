import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usd } from '../../src/cli/output.js';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { call, tempMemory, TOKEN } from './helpers.js';

/**
 * The dashboard at phone and desktop widths, in real headless Chromium against the real
 * API, real OpenCode and a scripted model: nothing runs out of the page or its cards, a
 * pending agent shows the model it was given, and the money pictures (cost over the run
 * by model, cost by agent, the budget meter) show what the report says.
 * Screenshots go to test-artifacts/dashboard-{390,1280}.png.
 */
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
let browser: Browser;
let memory: Awaited<ReturnType<typeof tempMemory>>;
let flowId: string;

const LONG_AGENT = 'a-rather-long-inline-agent-name-for-narrow-screens';

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  memory = await tempMemory('dashboard-layout');
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

async function openPage(width: number, height: number): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${serve.url}/#token=${TOKEN}`);
  await page.waitForSelector('#conn.ok');
  return { page, errors };
}

/** Elements whose box sticks out of the viewport or out of their flow card (px), with what they are. */
async function overflows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const vw = document.documentElement.clientWidth;
    for (const e of Array.from(document.querySelectorAll('body *'))) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const card = e.closest('section.flow');
      const box = card?.getBoundingClientRect();
      const limit = box ? box.right + 0.5 : vw + 0.5;
      const start = box ? box.left - 0.5 : -0.5;
      if (r.right > limit || r.left < start)
        out.push(
          `${e.tagName.toLowerCase()}.${(e.getAttribute('class') ?? '').replace(/ /g, '.')} right=${Math.round(r.right)} limit=${Math.round(limit)}`,
        );
    }
    return out;
  });
}

describe('dashboard layout and money', () => {
  it('a pending agent shows the model it was given, not "default"', async () => {
    llm.script([
      {
        match: { allText: 'LAYOUT-SEQ', model: 'medium' },
        reply: { text: 'medium audit done', usage: { prompt_tokens: 3000, completion_tokens: 400 } },
      },
      {
        match: { allText: 'LAYOUT-SEQ' },
        times: 1,
        reply: {
          text: 'the first agent takes its time over this',
          chunks: 12,
          chunkDelayMs: 300,
          usage: { prompt_tokens: 1500, completion_tokens: 250 },
        },
      },
      {
        match: { allText: 'LAYOUT-SEQ' },
        reply: { text: 'quick small answer', usage: { prompt_tokens: 1200, completion_tokens: 200 } },
      },
    ]);
    const { page, errors } = await openPage(1280, 860);
    const r = await call(serve.url, 'POST', '/flows', {
      body: {
        task: 'LAYOUT-SEQ: review the payment service end to end, with a task text long enough to wrap on a phone screen',
        mode: 'sequential',
        maxCost: 0.05,
        agents: [
          'researcher',
          { name: 'auditor', preset: 'security-auditor', model: 'scripted/medium' },
          { name: LONG_AGENT, preset: 'reviewer' },
        ],
      },
    });
    expect(r.status).toBe(202);
    flowId = r.body.id as string;
    const card = page.locator(`section.flow[data-flow-id="${flowId}"]`);
    await card
      .locator('tr[data-agent="researcher"] .agent-state', { hasText: 'streaming' })
      .waitFor({ timeout: 30_000 });
    // The researcher streams; the others wait, showing their models: given, and the host's default.
    // States read as words, the machine's name in the title.
    expect(await card.locator('tr[data-agent="auditor"] .agent-state').textContent()).toBe('not started');
    expect(await card.locator('tr[data-agent="auditor"] .agent-state').getAttribute('title')).toBe('pending');
    expect(await card.locator('tr[data-agent="auditor"] .agent-model').textContent()).toBe('scripted/medium');
    expect(await card.locator(`tr[data-agent="${LONG_AGENT}"] .agent-model`).textContent()).toBe('scripted/small');
    // The API's running view says the same.
    const view = (await call(serve.url, 'GET', `/flows/${flowId}`)).body as {
      agents: { agent: string; model: string }[];
      maxCost: number;
    };
    expect(view.agents.find((a) => a.agent === 'auditor')?.model).toBe('scripted/medium');
    expect(view.maxCost).toBe(0.05);
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('draws where the money went: by model over the run, by agent, and against the budget', async () => {
    const report = (await call(serve.url, 'GET', `/flows/${flowId}`)).body as {
      status: string;
      cost: { total: number; byModel: Record<string, number> };
      results: { agent: string; cost: number; tokens: { input: number; output: number } }[];
    };
    expect(report.status).toBe('completed');
    expect(Object.keys(report.cost.byModel).sort()).toEqual(['scripted/medium', 'scripted/small']);
    const { page, errors } = await openPage(1280, 860);
    const card = page.locator(`section.flow[data-flow-id="${flowId}"]`);
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor();
    await card.locator('.cost-chart polygon').first().waitFor();

    // Cost over the run: one band per model, each band ending at that model's cost.
    const bands = await card
      .locator('.cost-chart polygon')
      .evaluateAll((ps) => ps.map((p) => [p.getAttribute('data-model'), Number(p.getAttribute('data-cost'))] as const));
    expect(Object.fromEntries(bands)).toEqual(
      Object.fromEntries(Object.entries(report.cost.byModel).map(([m, c]) => [m, expect.closeTo(c, 12)])),
    );
    expect(Number(await card.locator('.cost-chart .chart-total').getAttribute('data-total'))).toBeCloseTo(
      report.cost.total,
      12,
    );
    // Stacked: the top edge of the last band is the total's grid line.
    const totalY = Number(await card.locator('.cost-chart .chart-total').getAttribute('y')) - 4;
    const topY = await card
      .locator('.cost-chart polygon')
      .last()
      .evaluate((p) => Math.min(...(p.getAttribute('points') ?? '').split(' ').map((xy) => Number(xy.split(',')[1]))));
    expect(topY).toBeCloseTo(totalY, 0);
    // The legend names each colour with its model's cost.
    for (const [model, cost] of Object.entries(report.cost.byModel)) {
      expect(await card.locator(`.legend-item[data-model="${model}"] b`).textContent()).toBe(usd(cost));
    }

    // Cost by agent: a bar per agent, longest for the dearest, in its model's colour.
    const bars = await card.locator('.agent-bars .agent-bar').evaluateAll((gs) =>
      gs.map((g) => ({
        agent: g.getAttribute('data-agent'),
        cost: Number(g.getAttribute('data-cost')),
        width: Number(g.querySelectorAll('rect')[1]?.getAttribute('width')),
        fill: g.querySelectorAll('rect')[1]?.getAttribute('fill'),
      })),
    );
    expect(bars.map((b) => b.agent).sort()).toEqual(report.results.map((x) => x.agent).sort());
    for (const res of report.results) expect(bars.find((b) => b.agent === res.agent)?.cost).toBeCloseTo(res.cost, 12);
    expect(bars[0]!.cost).toBe(Math.max(...bars.map((b) => b.cost)));
    expect(bars[0]!.width).toBeGreaterThan(bars[bars.length - 1]!.width);
    const bandFill = await card.locator('.cost-chart polygon[data-model="scripted/medium"]').getAttribute('fill');
    expect(bars.find((b) => b.agent === 'auditor')?.fill).toBe(bandFill);

    // The budget: spent of the cap, as text and as a meter.
    expect(await card.locator('.budget-text').textContent()).toBe(
      `budget ${usd(report.cost.total)} of ${usd(0.05)} (${Math.round((report.cost.total / 0.05) * 100)}%)`,
    );
    expect(Number(await card.locator('meter.budget-meter').getAttribute('value'))).toBeCloseTo(
      Math.min(report.cost.total, 0.05),
      12,
    );

    // Tokens are labelled in and out, in the header too.
    const tin = report.results.reduce((n, x) => n + x.tokens.input, 0);
    const tout = report.results.reduce((n, x) => n + x.tokens.output, 0);
    expect(await page.locator('#total-tokens-in').textContent()).toBe(String(tin));
    expect(await page.locator('#total-tokens-out').textContent()).toBe(String(tout));
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard-1280.png'), fullPage: true });
    expect(await overflows(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it.each([390, 360, 320])('fits a %i px phone: no sideways scrolling, nothing out of its card', async (width) => {
    const { page, errors } = await openPage(width, 844);
    const card = page.locator(`section.flow[data-flow-id="${flowId}"]`);
    await card.locator('.cost-chart polygon').first().waitFor();
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(scrollWidth).toBeLessThanOrEqual(width);
    expect(await overflows(page)).toEqual([]);
    // Each agent is one block that still labels its figures.
    const labels = await card
      .locator('tr[data-agent="auditor"] td[data-label]')
      .evaluateAll((tds) => tds.map((td) => getComputedStyle(td, '::before').content));
    expect(labels).toEqual(['"tokens in"', '"tokens out"', '"cost"']);
    if (width === 390) {
      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'dashboard-390.png'), fullPage: true });
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});
