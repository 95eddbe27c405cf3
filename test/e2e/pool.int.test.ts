import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeClient } from '../../src/opencode/client.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * A pool of two real OpenCode servers behind one scripted model: agents are spread over both
 * by load; one server is killed (SIGKILL) while its agents wait on the model, and their tasks
 * start again in new sessions on the live server. Every agent finishes.
 */
let llm: ScriptedLLM;
let a: TestOpencode;
let b: TestOpencode;
beforeAll(async () => {
  llm = await startScriptedLLM();
  [a, b] = await Promise.all([
    startTestOpencode({ baseURL: llm.baseURL }),
    startTestOpencode({ baseURL: llm.baseURL }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await llm?.close();
});
// Hosts on the pool of both servers.
const env = useFlowHosts({ server: () => ({ url: `${a.url},${b.url}`, llm }) });

const AGENTS = ['w1', 'w2', 'w3', 'w4'];

describe('a pool of OpenCode servers', () => {
  it('spreads agents over the servers, and moves the agents of a killed server to the live one', async () => {
    // Every prompt takes a while, so both servers have agents waiting when one is killed.
    llm.script({ match: { allText: 'POOL-TASK' }, reply: { text: 'POOL-DONE', delayMs: 2500 } });
    const flow = env.host({
      persist: false,
      keepSessions: true,
    });
    const sessionsOf = async (oc: TestOpencode) =>
      new Set(((await new OpencodeClient({ url: oc.url }).sdk.session.list({})).data ?? []).map((s) => s.id));
    try {
      const streaming = new Set<string>();
      let killed = false;
      let killedAt = 0;
      const firstSessions: Record<string, string> = {};
      let onA = new Set<string>();
      flow.on('agent.state', (e) => {
        if (e.sessionID && !firstSessions[e.agent]) firstSessions[e.agent] = e.sessionID;
        if (e.state === 'streaming') streaming.add(e.agent);
        if (streaming.size === AGENTS.length && !killed) {
          killed = true;
          void sessionsOf(a).then((ids) => {
            onA = ids;
            killedAt = Date.now();
            process.kill(a.server.pid!, 'SIGKILL');
          });
        }
      });
      const report = await flow.execute({
        task: 'POOL-TASK',
        agents: AGENTS.map((name) => ({ name, systemPrompt: `You are ${name}.` })),
        retries: 0,
      });
      expect(killed).toBe(true);
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual(
        AGENTS.map((n) => [n, 'done', 'POOL-DONE']),
      );
      // Spread by load: two agents on each server.
      const movedAgents = AGENTS.filter((n) => onA.has(firstSessions[n]!));
      expect(movedAgents).toHaveLength(2);
      const onB = await sessionsOf(b);
      for (const r of report.results) {
        // Every final session lives on the server still alive.
        expect(onB.has(r.sessionID)).toBe(true);
        const moved = movedAgents.includes(r.agent);
        expect(r.attempts.map((t) => t.errorKind ?? 'ok')).toEqual(moved ? ['server', 'ok'] : ['ok']);
        if (moved) expect(r.attempts[0]!.error).toContain(`the OpenCode server at ${a.url} is gone`);
        // An agent that stayed was asked once; a moved one again, after the kill, by the live server
        // (the killed server may or may not have passed its first prompt on before it died).
        const asked = llm.promptRequests().filter((q) => q.system.includes(`You are ${r.agent}.`));
        if (moved) expect(asked.filter((q) => q.at >= killedAt).length).toBe(1);
        else expect(asked).toHaveLength(1);
      }
    } finally {
      await flow.shutdown();
    }
  });
});
