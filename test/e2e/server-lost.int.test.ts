import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow, type FlowReport } from '../../src/flow/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * The OpenCode server dies mid-flow (kill -9): the run ends within 15 s, failed, with a
 * reason that names the server, and every agent's result is in the report.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
});
afterAll(async () => {
  await oc?.stop();
  await llm?.close();
});

describe('the OpenCode server dies mid-flow', () => {
  it('ends the run within 15 s naming the server, instead of waiting out the prompt timeout', async () => {
    llm.script([{ match: { allText: 'LOST-SERVER' }, reply: { hang: true } }]);
    const flow = new OpencodeFlow({ serverUrl: oc.url, model: 'scripted/small', memory: false, persist: false });
    try {
      let killedAt = 0;
      flow.on('agent.state', (e) => {
        if (e.state === 'streaming' && !killedAt) {
          killedAt = Date.now();
          process.kill(oc.server.pid!, 'SIGKILL');
        }
      });
      const report: FlowReport = await flow.execute({ task: 'LOST-SERVER', agents: ['coder', 'reviewer'] });
      expect(killedAt).toBeGreaterThan(0);
      expect(Date.now() - killedAt).toBeLessThan(15_000);
      expect(report.status).toBe('failed');
      expect(report.reason).toContain(`the OpenCode server at ${oc.url} is gone`);
      expect(report.results.map((r) => r.status)).toEqual(['failed', 'failed']);
    } finally {
      await flow.shutdown();
    }
  });
});
