import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reviewLoopMachine } from '../../machines/flows/review-loop.js';
import type { OpencodeFlow } from '../../src/flow/index.js';
import { createServeApp } from '../../src/serve/index.js';
import { structuredReply } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * The report is the bill: for each kind of run, every agent's cost and the total are exactly
 * what OpenCode billed for the sessions' assistant messages (`info.cost`), read from the real
 * server (sessions kept). Other kinds are checked where they are tested: resume after
 * `kill -9` (resume.int), a replica takeover (serve/pool/replicas.int), hierarchical
 * (hierarchical.int), retries (flow.int).
 */
const env = useFlowHosts();
const CODER = 'You are the **coder**';
const REVIEWER = 'You are the **reviewer**';

type Billed = { agent: string; sessionID: string; cost: number };

async function expectBill(flow: OpencodeFlow, report: { results: Billed[]; cost: { total: number } }) {
  let total = 0;
  for (const r of report.results) {
    const billed = (await flow.opencode.messages(r.sessionID)).reduce(
      (n, m) => n + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0),
      0,
    );
    expect(billed, r.agent).toBeGreaterThan(0);
    expect(r.cost, r.agent).toBeCloseTo(billed, 12);
    total += billed;
  }
  expect(report.cost.total).toBeCloseTo(total, 12);
}

const usage = (prompt_tokens: number, completion_tokens: number) => ({ usage: { prompt_tokens, completion_tokens } });

describe('the report is the bill', () => {
  it('sequential: each agent and the total', async () => {
    env.llm.script([
      {
        match: { allText: 'BILL-SEQ', system: 'You are the **researcher**' },
        reply: { text: 'found', ...usage(1200, 300) },
      },
      { match: { allText: 'BILL-SEQ', system: CODER }, reply: { text: 'built', ...usage(2500, 700) } },
    ]);
    const flow = env.host({ keepSessions: true });
    const report = await flow.execute({ task: 'BILL-SEQ', agents: ['researcher', 'coder'], mode: 'sequential' });
    expect(report.status).toBe('completed');
    await expectBill(flow, report);
  });

  it("parallel, with a paid try the schema refused and the fallback's answer: both are in the bill", async () => {
    env.llm.script([
      {
        match: { allText: 'BILL-FALLBACK', model: 'small', tool: 'StructuredOutput' },
        reply: { ...structuredReply({ n: 3 }), ...usage(900, 100) },
      },
      {
        match: { allText: 'BILL-FALLBACK', model: 'medium', tool: 'StructuredOutput' },
        reply: { ...structuredReply({ n: 4 }), ...usage(1500, 200) },
      },
    ]);
    const Even = z.object({ n: z.number().refine((n) => n % 2 === 0) });
    const flow = env.host({ keepSessions: true, fallback: ['scripted/medium'] });
    const report = await flow.execute({
      task: 'BILL-FALLBACK',
      agents: ['coder', 'reviewer'],
      schema: Even,
      retries: 0,
    });
    expect(report.status).toBe('completed');
    for (const r of report.results)
      expect(r.attempts.map((a) => a.model)).toEqual(['scripted/small', 'scripted/medium']);
    await expectBill(flow, report);
  });

  it('a custom machine (the review loop, two rounds)', async () => {
    env.llm.script([
      { match: { allText: 'BILL-LOOP', system: CODER }, reply: [{ text: 'v1', ...usage(800, 90) }, { text: 'v2' }] },
      {
        match: { allText: 'BILL-LOOP', system: REVIEWER },
        reply: [{ text: 'No.\nVERDICT: CHANGES_REQUESTED', ...usage(700, 60) }, { text: 'Yes.\nVERDICT: APPROVE' }],
      },
    ]);
    const flow = env.host({ keepSessions: true });
    const report = await flow.run(reviewLoopMachine, {
      task: 'BILL-LOOP',
      coder: await flow.agentSpec('coder'),
      reviewer: await flow.agentSpec('reviewer'),
      maxRounds: 3,
    });
    expect(report.status).toBe('completed');
    expect(report.results).toHaveLength(4);
    // Each prompt is its own result: group them by session, as OpenCode bills per session.
    const bySession = new Map<string, Billed>();
    for (const r of report.results) {
      const s = bySession.get(r.sessionID);
      bySession.set(r.sessionID, s ? { ...s, cost: s.cost + r.cost } : { ...r });
    }
    await expectBill(flow, { results: [...bySession.values()], cost: report.cost });
  });

  it('a serve flow: the report GET /flows/:id answers', async () => {
    env.llm.script({ match: { allText: 'BILL-SERVE' }, reply: { text: 'served', ...usage(1800, 240) } });
    const flow = env.host({ keepSessions: true });
    const { app, handle } = createServeApp(flow, {});
    try {
      const created = await app.request('/flows', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'BILL-SERVE', agents: ['coder', 'reviewer'] }),
      });
      expect(created.status).toBe(202);
      const { id } = (await created.json()) as { id: string };
      let view: { status: string; results: Billed[]; cost: { total: number } };
      for (let i = 0; ; i++) {
        view = (await (await app.request(`/flows/${id}`)).json()) as typeof view;
        if (view.status !== 'running' || i > 600) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(view.status).toBe('completed');
      await expectBill(flow, view);
    } finally {
      await handle.close();
    }
  });
});
