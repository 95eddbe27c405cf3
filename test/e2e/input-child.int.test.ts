import { describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * A subagent (OpenCode's task tool, a child session) asks for a permission: the flow's
 * agent answers it too, so the parent never waits on it. The server asks for every bash.
 */
const env = useFlowHosts({ opencode: { config: { permission: { bash: 'ask' } } } });

describe('requests from child sessions', () => {
  it('are seen and answered by the agent whose subagent asked', async () => {
    env.llm.script([
      {
        match: { allText: 'CHILD-SUB', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo CHILD-RAN', description: 'marker' } }] },
      },
      {
        match: { allText: 'CHILD-SUB', hasToolResult: true },
        reply: (req) => ({ text: `child saw: ${req.toolResults.at(-1)?.content ?? ''}` }),
      },
      {
        match: { allText: 'CHILD-ASK', hasToolResult: false, tool: 'task' },
        reply: {
          toolCalls: [
            {
              name: 'task',
              arguments: { description: 'run it', prompt: 'CHILD-SUB run the marker', subagent_type: 'general' },
            },
          ],
        },
      },
      {
        match: { allText: 'CHILD-ASK', hasToolResult: true },
        reply: (req) => ({ text: `parent got: ${req.toolResults.at(-1)?.content ?? ''}` }),
      },
    ]);
    const flow = env.host({
      persist: false,
      inputPolicy: { onPermission: 'ask' },
    });
    const asked: string[] = [];
    flow.on('agent.input_required', (e) => {
      asked.push(
        `${e.agent}:${e.request.kind === 'permission' ? e.request.patterns.join(' ') : ''}:${e.request.sessionID === e.sessionID ? 'own' : 'child'}`,
      );
      flow.reply(e.request.id, 'once');
    });
    try {
      await flow.spawn({ name: 'lead', agent: 'build' });
      const t0 = Date.now();
      const report = await flow.execute({ task: 'CHILD-ASK', agents: ['lead'], retries: 0 });
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(report.status).toBe('completed');
      expect(asked).toEqual(['lead:echo CHILD-RAN:child']);
      expect(report.results[0]!.output).toContain('CHILD-RAN');
    } finally {
      await flow.shutdown();
    }
  });
});
