import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { call, tempMemory, TOKEN } from './helpers.js';

/**
 * The dashboard's timeline in real headless Chromium, against the real API, real OpenCode and
 * a scripted model: one bar per agent, its tool calls on it, its fallback marked — the
 * picture the run's trace draws, for a user without a tracing backend. The screenshot goes to
 * test-artifacts/dashboard-timeline.png.
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
  memory = await tempMemory('timeline');
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

describe('dashboard timeline', () => {
  it('one bar per agent, its tool calls on it, its fallback marked', async () => {
    llm.script([
      {
        match: { allText: 'TIMELINE-TASK', system: 'You are the coder.', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo TIMELINE', description: 'marker' } }] },
      },
      {
        match: { allText: 'TIMELINE-TASK', system: 'You are the coder.', hasToolResult: true },
        reply: { text: 'ran it', chunks: 6, chunkDelayMs: 100 },
      },
      { match: { allText: 'TIMELINE-TASK', system: 'You are the reviewer.', model: 'small' }, reply: { status: 429 } },
      {
        match: { allText: 'TIMELINE-TASK', system: 'You are the reviewer.' },
        reply: { text: 'reviewed by the fallback', chunks: 6, chunkDelayMs: 100 },
      },
    ]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${serve.url}/#token=${TOKEN}`);
    await page.waitForSelector('#conn.ok');
    const r = await call(serve.url, 'POST', '/flows', {
      body: {
        task: 'TIMELINE-TASK',
        agents: [
          { name: 'coder', systemPrompt: 'You are the coder.' },
          { name: 'reviewer', systemPrompt: 'You are the reviewer.', fallback: ['scripted/medium'] },
        ],
      },
    });
    expect(r.status, r.text).toBe(202);
    const card = page.locator(`section.flow[data-flow-id="${r.body.id as string}"]`);
    await card.locator('.flow-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    const bars = card.locator('svg.timeline g.agent-span');
    expect(await bars.count()).toBe(2);
    const coder = card.locator('svg.timeline g.agent-span[data-agent="coder"]');
    const reviewer = card.locator('svg.timeline g.agent-span[data-agent="reviewer"]');
    expect(await coder.getAttribute('data-status')).toBe('done');
    expect(await coder.locator('rect.tool[data-tool="bash"]').count()).toBe(1);
    expect(await reviewer.getAttribute('data-fallbacks')).toBe('1');
    expect(await reviewer.locator('path.fallback').count()).toBe(1);
    // Each bar has a width, and the tool call sits inside the coder's bar.
    const box = async (sel: ReturnType<typeof card.locator>) => (await sel.boundingBox())!;
    const coderBar = await box(coder.locator('rect.bar'));
    const tool = await box(coder.locator('rect.tool'));
    expect(coderBar.width).toBeGreaterThan(10);
    expect(tool.x).toBeGreaterThanOrEqual(coderBar.x - 1);
    expect(tool.x + tool.width).toBeLessThanOrEqual(coderBar.x + coderBar.width + 1);
    expect((await box(reviewer.locator('rect.bar'))).width).toBeGreaterThan(10);
    await mkdir(artifacts, { recursive: true });
    await card.locator('svg.timeline').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, 'dashboard-timeline.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
