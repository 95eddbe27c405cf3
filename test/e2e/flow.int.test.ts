import { createServer, Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { OpencodeClient } from '../../src/opencode/client.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * The foundation end to end: real `opencode serve` (pinned binary), scripted LLM behind
 * OpenCode's custom provider, our flow on top.
 */
const env = useFlowHosts();

async function sessionCost(client: OpencodeClient, sessionID: string): Promise<number> {
  const msgs = await client.messages(sessionID);
  return msgs.reduce((s, m) => s + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0), 0);
}

describe('OpencodeFlow against a real OpenCode server', () => {
  it('runs three agents in parallel, overlapping in time', async () => {
    env.llm.script({
      match: { allText: 'PARALLEL-TASK' },
      reply: { text: 'parallel answer from the scripted model', chunks: 10, chunkDelayMs: 150 },
    });
    const flow = env.host({ keepSessions: true });
    const deltas: Record<string, string> = {};
    flow.on('agent.delta', (e) => (deltas[e.agent] = (deltas[e.agent] ?? '') + e.text));
    try {
      const report = await flow.execute({
        task: 'PARALLEL-TASK: list three ideas',
        agents: ['researcher', 'coder', 'reviewer'],
        mode: 'parallel',
      });
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => r.agent)).toEqual(['researcher', 'coder', 'reviewer']);
      for (const r of report.results) {
        expect(r.status).toBe('done');
        expect(r.output).toBe('parallel answer from the scripted model');
        expect(r.model).toBe('scripted/small');
        expect(r.sessionID).toMatch(/^ses_/);
      }
      // Each answer streams for about 1.5 s; all three must be in flight together.
      const reqs = env.llm.promptRequests().filter((r) => r.allText.includes('PARALLEL-TASK'));
      expect(reqs).toHaveLength(3);
      const raw = await Promise.all(report.results.map((r) => flow.opencode.messages(r.sessionID)));
      const spans = raw.map((msgs) => {
        const a = msgs.find((m) => m.info.role === 'assistant')!.info as {
          time: { created: number; completed?: number };
        };
        return [a.time.created, a.time.completed!] as const;
      });
      const lastStart = Math.max(...spans.map((s) => s[0]));
      const firstEnd = Math.min(...spans.map((s) => s[1]));
      expect(lastStart).toBeLessThan(firstEnd);
      // Deltas streamed through the event hub, per agent.
      for (const name of ['researcher', 'coder', 'reviewer']) expect(deltas[name]).toContain('parallel answer');
      // Cost in the report is what OpenCode itself says the sessions cost.
      for (const r of report.results) expect(r.cost).toBeCloseTo(await sessionCost(flow.opencode, r.sessionID), 12);
      expect(report.cost.total).toBeCloseTo(
        report.results.reduce((s, r) => s + r.cost, 0),
        12,
      );
      expect(report.cost.total).toBeGreaterThan(0);
    } finally {
      await flow.shutdown();
    }
  });

  it('gathers token deltas that come close together into fewer agent.delta events, in order and whole', async () => {
    // 60 pieces at once (one per token, as a fast model streams), then 3 pieces 300 ms apart.
    const burst = Array.from({ length: 60 }, (_, i) => `t${i} `).join('');
    env.llm.script([
      { match: { allText: 'DELTA-TASK', system: 'You are the **researcher**' }, reply: { text: burst, chunks: 60 } },
      {
        match: { allText: 'DELTA-TASK', system: 'You are the **coder**' },
        reply: { text: 'one two three', chunks: 3, chunkDelayMs: 300 },
      },
    ]);
    const flow = env.host();
    const texts: Record<string, string[]> = {};
    flow.on('agent.delta', (e) => (texts[e.agent] ??= []).push(e.text));
    try {
      const report = await flow.execute({ task: 'DELTA-TASK', agents: ['researcher', 'coder'], mode: 'parallel' });
      expect(report.status).toBe('completed');
      // Every delta arrives, in order: they add up to the answer.
      expect(texts.researcher!.join('')).toBe(burst);
      expect(texts.coder!.join('')).toBe('one two three');
      // The burst came as far fewer events than tokens; pieces 300 ms apart each came alone.
      expect(texts.researcher!.length).toBeLessThan(20);
      expect(texts.coder).toHaveLength(3);
    } finally {
      await flow.shutdown();
    }
  });

  it("passes each agent's output to the next in sequential mode", async () => {
    env.llm.script([
      {
        match: { allText: 'SEQ-TASK', system: 'You are the **researcher**' },
        reply: { text: 'FINDING-7f3a: use cursor pagination' },
      },
      { match: { allText: 'SEQ-TASK', system: 'You are the **coder**' }, reply: { text: 'implemented' } },
    ]);
    const flow = env.host();
    try {
      const report = await flow.execute({
        task: 'SEQ-TASK: build a list endpoint',
        agents: ['researcher', 'coder'],
        mode: 'sequential',
      });
      expect(report.status).toBe('completed');
      const reqs = env.llm.promptRequests().filter((r) => r.lastUser.includes('SEQ-TASK'));
      expect(reqs).toHaveLength(2);
      expect(reqs[0]!.lastUser).not.toContain('FINDING-7f3a');
      expect(reqs[1]!.lastUser).toContain('FINDING-7f3a');
      // Sequential: the second started after the first finished.
      expect(reqs[1]!.at).toBeGreaterThanOrEqual(report.results.length === 2 ? reqs[0]!.at : 0);
    } finally {
      await flow.shutdown();
    }
  });

  it('falls back to the next model when the primary answers 429, and says so', async () => {
    env.llm.script([
      { match: { allText: 'FALLBACK-TASK', model: 'medium' }, reply: { status: 429 } },
      { match: { allText: 'FALLBACK-TASK', model: 'small' }, reply: { text: 'answered by the fallback' } },
    ]);
    const flow = env.host({ model: 'scripted/medium', fallback: ['scripted/small'] });
    const fallbacks: string[] = [];
    flow.on('agent.fallback', (e) => fallbacks.push(`${e.from}->${e.to}`));
    try {
      const report = await flow.execute({ task: 'FALLBACK-TASK', agents: ['coder'] });
      expect(report.status).toBe('completed');
      const r = report.results[0]!;
      expect(r.output).toBe('answered by the fallback');
      expect(r.model).toBe('scripted/small');
      expect(r.attempts.map((a) => a.model)).toEqual(['scripted/medium', 'scripted/small']);
      expect(r.attempts[0]!.error).toMatch(/rate|429/i);
      expect(r.attempts[1]!.error).toBeUndefined();
      expect(fallbacks).toEqual(['scripted/medium->scripted/small']);
    } finally {
      await flow.shutdown();
    }
  });

  it('fails the agent clearly when the whole chain fails', async () => {
    env.llm.script({ match: { allText: 'CHAIN-FAIL' }, reply: { status: 500, errorMessage: 'upstream exploded' } });
    const flow = env.host({ model: 'scripted/medium', fallback: ['scripted/small'], promptTimeoutMs: 20_000 });
    try {
      const report = await flow.execute({ task: 'CHAIN-FAIL', agents: ['tester'], retries: 0 });
      expect(report.status).toBe('failed');
      const r = report.results[0]!;
      expect(r.status).toBe('failed');
      expect(r.attempts.map((a) => a.model)).toEqual(['scripted/medium', 'scripted/small']);
      expect(r.error).toBeTruthy();
    } finally {
      await flow.shutdown();
    }
  });

  it('re-runs a failed agent (retries) and keeps the cost of every run', async () => {
    env.llm.script([
      { match: { allText: 'RETRY-TASK' }, reply: { status: 429 }, times: 2 },
      { match: { allText: 'RETRY-TASK' }, reply: { text: 'worked on retry' } },
    ]);
    const flow = env.host({ keepSessions: true });
    try {
      const report = await flow.execute({ task: 'RETRY-TASK', agents: ['coder'], retries: 2 });
      expect(report.status).toBe('completed');
      const r = report.results[0]!;
      expect(r.output).toBe('worked on retry');
      expect(r.retries).toBe(1);
      expect(r.cost).toBeCloseTo(await sessionCost(flow.opencode, r.sessionID), 12);
    } finally {
      await flow.shutdown();
    }
  });

  it('cancels a flow: sessions are aborted and none stays busy', async () => {
    env.llm.script({ match: { allText: 'HANG-TASK' }, reply: { hang: true } });
    const flow = env.host({ keepSessions: true });
    try {
      const busy = new Set<string>();
      flow.on('agent.state', (e) => {
        if (e.state === 'streaming') busy.add(e.agent);
        if (busy.size === 2) flow.cancel();
      });
      const report = await flow.execute({ task: 'HANG-TASK', agents: ['researcher', 'coder'] });
      expect(report.status).toBe('cancelled');
      const status = await flow.opencode.status();
      const ours = Object.keys(status).filter((id) => report.results.some((r) => r.sessionID === id));
      expect(ours).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });

  it('recovers when the event stream is cut: completion is reconciled from the session', async () => {
    // A TCP proxy in front of OpenCode that we can cut, and keep cut.
    const target = new URL(env.oc.url);
    const sockets = new Set<Socket>();
    let refuse = false;
    const proxy = createServer((client) => {
      if (refuse) {
        client.destroy();
        return;
      }
      const upstream = new Socket();
      upstream.connect(Number(target.port), target.hostname);
      client.pipe(upstream).pipe(client);
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as { port: number }).port;
    env.llm.script({
      match: { allText: 'CUT-TASK' },
      reply: { text: 'finished while nobody listened', delayMs: 1500 },
    });
    const flow = env.host({ serverUrl: `http://127.0.0.1:${port}` });
    try {
      flow.on('agent.state', (e) => {
        if (e.state !== 'streaming') return;
        // Cut every connection (the SSE stream included) and refuse new ones until the
        // answer has landed (the server, asked directly, has the session idle): we were blind.
        refuse = true;
        for (const s of sockets) s.destroy();
        const direct = new OpencodeClient({ url: env.oc.url });
        void vi
          .waitFor(
            async () => {
              expect(env.llm.promptRequests().some((r) => r.allText.includes('CUT-TASK'))).toBe(true);
              expect(e.sessionID! in (await direct.status())).toBe(false);
            },
            { timeout: 60_000, interval: 20 },
          )
          .finally(() => (refuse = false));
      });
      const t0 = Date.now();
      const report = await flow.execute({ task: 'CUT-TASK', agents: ['researcher'] });
      expect(report.status).toBe('completed');
      expect(report.results[0]!.output).toBe('finished while nobody listened');
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      await flow.shutdown();
      proxy.close();
    }
  });
});
