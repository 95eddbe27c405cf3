import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/flow/events.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Host-wide concurrency caps (`modelRouter.concurrency`) against real OpenCode: six agents in
 * parallel, each answer held back so their requests would overlap; the scripted LLM counts the
 * requests it is answering at once.
 */
const models = [{ id: 'small' }, { id: 'big' }];
const env = useFlowHosts({ opencode: { models, defaultModel: 'small' } });
const agents = (model: string) =>
  Array.from({ length: 6 }, (_, i) => ({ name: `w${i}`, model, systemPrompt: 'You answer briefly.' }));

describe('concurrency caps in a real flow', () => {
  it('without a cap the six prompts overlap past two (so the capped test can fail)', async () => {
    env.llm.reset();
    env.llm.script({ match: { allText: 'CAP-FREE' }, reply: { text: 'done', delayMs: 600 } });
    const flow = env.host();
    const report = await flow.execute({ task: 'CAP-FREE', agents: agents('scripted/small'), mode: 'parallel' });
    expect(report.status).toBe('completed');
    expect(env.llm.inFlight().max).toBeGreaterThan(2);
  });

  it('a provider cap of 2: never more than 2 requests at once, all six complete, the waits are told', async () => {
    env.llm.reset();
    env.llm.script({ match: { allText: 'CAP-PROVIDER' }, reply: { text: 'done', delayMs: 600 } });
    const flow = env.host({ modelRouter: { concurrency: { scripted: 2 } } });
    const events: RunEvent[] = [];
    for await (const e of flow.stream({ task: 'CAP-PROVIDER', agents: agents('scripted/small'), mode: 'parallel' }))
      events.push(e);
    const done = events.at(-1);
    expect(done?.type === 'flow.done' && done.report.status).toBe('completed');
    expect(done?.type === 'flow.done' && done.report.results.filter((r) => r.status === 'done')).toHaveLength(6);
    expect(env.llm.inFlight().max).toBe(2);
    const queued = events.filter((e) => e.type === 'agent.queued');
    const dequeued = events.filter((e) => e.type === 'agent.dequeued');
    expect(queued.length).toBeGreaterThanOrEqual(4);
    expect(queued[0]).toMatchObject({ key: 'scripted', model: 'scripted/small', position: 1 });
    expect(dequeued.map((e) => e.type === 'agent.dequeued' && e.agent).sort()).toEqual(
      queued.map((e) => e.type === 'agent.queued' && e.agent).sort(),
    );
  });

  it('a model cap holds that model only', async () => {
    env.llm.reset();
    env.llm.script({ match: { allText: 'CAP-MODEL' }, reply: { text: 'done', delayMs: 600 } });
    const flow = env.host({ modelRouter: { concurrency: { 'scripted/big': 1 } } });
    const report = await flow.execute({
      task: 'CAP-MODEL',
      agents: [...agents('scripted/big').slice(0, 3), ...agents('scripted/small').slice(3)],
      mode: 'parallel',
    });
    expect(report.status).toBe('completed');
    expect(env.llm.inFlight('big').max).toBe(1);
    expect(env.llm.inFlight('small').max).toBeGreaterThan(1);
  });

  it('a cancel while prompts are queued holds no slot: the next flow runs at the full cap', async () => {
    env.llm.reset();
    env.llm.script({ match: { allText: 'CAP-CANCEL' }, reply: { hang: true } });
    env.llm.script({ match: { allText: 'CAP-AFTER' }, reply: { text: 'done', delayMs: 600 } });
    const flow = env.host({ modelRouter: { concurrency: { scripted: 2 } } });
    let queued = 0;
    flow.on('agent.queued', () => queued++);
    const run = flow.execute({ task: 'CAP-CANCEL', agents: agents('scripted/small'), mode: 'parallel' });
    await expect.poll(() => queued, { timeout: 20_000 }).toBe(4);
    await expect.poll(() => env.llm.inFlight().now, { timeout: 20_000 }).toBe(2);
    flow.cancel();
    expect((await run).status).toBe('cancelled');
    await expect.poll(() => env.llm.inFlight().now, { timeout: 20_000 }).toBe(0);
    const busy = Object.values(await flow.opencode.status()).filter((s) => (s as { type?: string }).type === 'busy');
    expect(busy).toHaveLength(0);
    env.llm.reset();
    env.llm.script({ match: { allText: 'CAP-AFTER' }, reply: { text: 'done', delayMs: 600 } });
    const after = await flow.execute({ task: 'CAP-AFTER', agents: agents('scripted/small'), mode: 'parallel' });
    expect(after.status).toBe('completed');
    expect(env.llm.inFlight().max).toBe(2);
  });

  it("a provider's rate limit holds the host's other prompts to it until OpenCode's next try (retry-after)", async () => {
    env.llm.reset();
    env.llm.script([
      { match: { allText: 'RATE-FIRST' }, times: 1, reply: { status: 429, retryAfter: 5 } },
      { match: { allText: 'RATE-' }, reply: { text: 'done' } },
    ]);
    const flow = env.host({ modelRouter: { concurrency: { scripted: 10 } } });
    const first = flow.execute({ task: 'RATE-FIRST', agents: [{ name: 'a', model: 'scripted/small' }] });
    const limited = () => env.llm.promptRequests().find((q) => q.allText.includes('RATE-FIRST'));
    await expect.poll(limited, { timeout: 30_000 }).toBeDefined();
    // OpenCode reports the retry (with its next try, 5 s on) a moment after the 429.
    await new Promise((r) => setTimeout(r, 1000));
    const events: RunEvent[] = [];
    for await (const e of flow.stream({ task: 'RATE-SECOND', agents: [{ name: 'b', model: 'scripted/big' }] }))
      events.push(e);
    expect((await first).status).toBe('completed');
    const second = env.llm.promptRequests().find((q) => q.allText.includes('RATE-SECOND'))!;
    // Without the host-wide cooldown b's prompt went out at once, ~1 s after the 429.
    expect(second.at - limited()!.at).toBeGreaterThan(4000);
    const queued = events.find((e) => e.type === 'agent.queued');
    expect(queued).toMatchObject({ agent: 'b', key: 'scripted' });
    expect(queued?.type === 'agent.queued' && queued.until).toBeGreaterThan(limited()!.at + 4000);
  });
});
