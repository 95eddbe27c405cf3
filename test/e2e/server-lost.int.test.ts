import { describe, expect, it } from 'vitest';
import { type FlowReport } from '../../src/flow/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * The OpenCode server dies mid-flow (kill -9): the run ends within 15 s, failed, with a
 * reason that names the server, and every agent's result is in the report.
 */
const env = useFlowHosts();

describe('the OpenCode server dies mid-flow', () => {
  it('ends the run within 15 s naming the server, instead of waiting out the prompt timeout', async () => {
    env.llm.script([{ match: { allText: 'LOST-SERVER' }, reply: { hang: true } }]);
    const flow = env.host({ persist: false });
    try {
      let killedAt = 0;
      flow.on('agent.state', (e) => {
        if (e.state === 'streaming' && !killedAt) {
          killedAt = Date.now();
          process.kill(env.oc.server.pid!, 'SIGKILL');
        }
      });
      const report: FlowReport = await flow.execute({ task: 'LOST-SERVER', agents: ['coder', 'reviewer'] });
      expect(killedAt).toBeGreaterThan(0);
      expect(Date.now() - killedAt).toBeLessThan(15_000);
      expect(report.status).toBe('failed');
      expect(report.reason).toContain(`the OpenCode server at ${env.oc.url} is gone`);
      expect(report.results.map((r) => r.status)).toEqual(['failed', 'failed']);
    } finally {
      await flow.shutdown();
    }
  });
});
