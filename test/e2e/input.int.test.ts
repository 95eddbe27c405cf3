import { describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import type { ScriptedRequest } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Human in the loop against real OpenCode: a tool under an `ask` rule, and the model's
 * `question` tool, never stall a flow; policies, library answers and timeouts decide.
 */
const env = useFlowHosts();

const lastToolResult = (r: ScriptedRequest) => r.toolResults[r.toolResults.length - 1]?.content ?? '(none)';

/** The model runs `echo <marker>` with bash, then reports what the tool said. */
function scriptBash(marker: string) {
  env.llm.script([
    {
      match: { allText: marker, hasToolResult: false },
      reply: {
        toolCalls: [{ name: 'bash', arguments: { command: `echo ${marker}-RAN`, description: 'print a marker' } }],
      },
    },
    {
      match: { allText: marker, hasToolResult: true },
      reply: (req) => ({ text: `tool said: ${lastToolResult(req)}` }),
    },
  ]);
}

const asker = (name: string, inputPolicy?: Record<string, unknown>) => ({
  name,
  agent: 'build',
  permissions: { bash: 'ask' as const },
  ...(inputPolicy ? { inputPolicy } : {}),
});

describe('permission requests', () => {
  it('policy reject (the headless default): the flow completes and records the rejection', async () => {
    scriptBash('HITL-REJECT');
    const flow = env.host({ persist: false });
    try {
      await flow.spawn(asker('runner'));
      const t0 = Date.now();
      const report = await flow.execute({ task: 'HITL-REJECT', agents: ['runner'] });
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report.status).toBe('completed');
      const r = report.results[0]! as (typeof report.results)[0] & {
        inputs?: Array<{ request: { permission: string }; answer: { reply: string }; by: string }>;
      };
      expect(r.output).toMatch(/tool said: /);
      expect(r.output).not.toContain('HITL-REJECT-RAN\n');
      expect(r.inputs).toHaveLength(1);
      expect(r.inputs![0]).toMatchObject({
        request: { kind: 'permission', permission: 'bash' },
        answer: { reply: 'reject' },
        by: 'policy',
      });
    } finally {
      await flow.shutdown();
    }
  });

  it('policy allow: the tool runs', async () => {
    scriptBash('HITL-ALLOW');
    const flow = env.host({ persist: false });
    try {
      await flow.spawn(asker('runner', { onPermission: 'allow' }));
      const report = await flow.execute({ task: 'HITL-ALLOW', agents: ['runner'] });
      expect(report.results[0]!.output).toContain('HITL-ALLOW-RAN');
    } finally {
      await flow.shutdown();
    }
  });

  it('policy ask: the library is told, answers, and the tool runs', async () => {
    scriptBash('HITL-ASK');
    const flow = env.host({ persist: false });
    const asked: string[] = [];
    flow.on('agent.input_required', (e) => {
      asked.push(`${e.agent}:${e.request.kind}:${e.request.kind === 'permission' ? e.request.patterns.join(' ') : ''}`);
      expect(flow.pendingRequests().map((p) => p.request.id)).toContain(e.request.id);
      flow.reply(e.request.id, 'once');
    });
    try {
      await flow.spawn(asker('runner', { onPermission: 'ask' }));
      const report = await flow.execute({ task: 'HITL-ASK', agents: ['runner'] });
      expect(asked).toEqual(['runner:permission:echo HITL-ASK-RAN']);
      expect(report.results[0]!.output).toContain('HITL-ASK-RAN');
      expect(flow.pendingRequests()).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });

  it('nobody answers: inputTimeout rejects and the agent goes on, or fails it when configured', async () => {
    scriptBash('HITL-TIMEOUT');
    const flow = env.host({ persist: false });
    try {
      await flow.spawn(asker('patient', { onPermission: 'ask', inputTimeoutMs: 1000 }));
      await flow.spawn(asker('strict', { onPermission: 'ask', inputTimeoutMs: 1000, onInputTimeout: 'fail' }));
      const report = await flow.execute({ task: 'HITL-TIMEOUT', agents: ['patient', 'strict'] });
      const patient = report.results.find((r) => r.agent === 'patient')! as (typeof report.results)[0] & {
        inputs?: Array<{ by: string }>;
      };
      const strict = report.results.find((r) => r.agent === 'strict')!;
      expect(patient.status).toBe('done');
      expect(patient.inputs?.[0]?.by).toBe('timeout');
      expect(strict.status).toBe('failed');
      expect(strict.error).toMatch(/nobody answered permission request .* in time/);
      // Nothing left busy on the server.
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('permission rules', () => {
  it("the flow's rules allow a safe command and reject `rm -rf*`, first match winning", async () => {
    env.llm.script([
      {
        match: { allText: 'RULES-SAFE', hasToolResult: false },
        reply: {
          toolCalls: [{ name: 'bash', arguments: { command: 'echo RULES-SAFE-RAN', description: 'print a marker' } }],
        },
      },
      {
        match: { allText: 'RULES-SAFE', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${lastToolResult(req)}` }),
      },
      {
        match: { allText: 'RULES-RM', hasToolResult: false },
        reply: {
          toolCalls: [
            {
              name: 'bash',
              arguments: { command: 'rm -rf ./rules-victim && echo RULES-RM-RAN', description: 'delete' },
            },
          ],
        },
      },
      {
        match: { allText: 'RULES-RM', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${lastToolResult(req)}` }),
      },
    ]);
    // A flow-level policy: every agent without its own gets it.
    const flow = env.host({
      persist: false,
      inputPolicy: {
        onPermission: [
          { permission: 'bash', pattern: 'rm -rf*', action: 'reject' },
          { permission: 'bash', action: 'allow' },
        ],
      },
    });
    try {
      await flow.spawn(asker('safe'));
      await flow.spawn(asker('reckless'));
      const [safe, reckless] = await Promise.all([
        flow.execute({ task: 'RULES-SAFE', agents: ['safe'] }),
        flow.execute({ task: 'RULES-RM', agents: ['reckless'] }),
      ]);
      type WithInputs = (typeof safe.results)[0] & {
        inputs?: Array<{
          request: { permission: string; patterns: string[] };
          answer: { reply: string; message?: string };
          by: string;
        }>;
      };
      const s = safe.results[0]! as WithInputs;
      const r = reckless.results[0]! as WithInputs;
      expect(s.output).toContain('RULES-SAFE-RAN');
      expect(s.inputs?.[0]).toMatchObject({
        request: { permission: 'bash', patterns: ['echo RULES-SAFE-RAN'] },
        answer: { reply: 'once' },
        by: 'policy',
      });
      expect(r.status).toBe('done');
      expect(r.output).not.toContain('RULES-RM-RAN\n');
      expect(r.inputs?.[0]).toMatchObject({
        request: { permission: 'bash' },
        answer: { reply: 'reject', message: expect.stringMatching(/rule bash rm -rf\* rejects rm -rf/) },
        by: 'policy',
      });
    } finally {
      await flow.shutdown();
    }
  });
});

describe('questions', () => {
  const scriptQuestion = (marker: string) =>
    env.llm.script([
      {
        match: { allText: marker, hasToolResult: false },
        reply: {
          toolCalls: [
            {
              name: 'question',
              arguments: {
                questions: [
                  {
                    question: 'Which database?',
                    header: 'Database',
                    options: [
                      { label: 'Postgres', description: 'relational' },
                      { label: 'Redis', description: 'kv' },
                    ],
                  },
                ],
              },
            },
          ],
        },
      },
      {
        match: { allText: marker, hasToolResult: true },
        reply: (req) => ({ text: `answer was: ${lastToolResult(req)}` }),
      },
    ]);

  it('answered through the API', async () => {
    scriptQuestion('Q-API');
    const flow = env.host({
      persist: false,
      inputPolicy: { onQuestion: 'ask' },
    });
    flow.on('agent.input_required', (e) => {
      if (e.request.kind === 'question') flow.reply(e.request.id, [['Redis']]);
    });
    try {
      const report = await flow.execute({ task: 'Q-API', agents: ['coder'] });
      expect(report.status).toBe('completed');
      expect(report.results[0]!.output).toMatch(/answer was: .*Redis/);
    } finally {
      await flow.shutdown();
    }
  });

  it('rejected under the headless default, and the flow finishes promptly', async () => {
    scriptQuestion('Q-DEFAULT');
    const flow = env.host({ persist: false });
    try {
      const t0 = Date.now();
      const report = await flow.execute({ task: 'Q-DEFAULT', agents: ['coder'] });
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report.status).toBe('completed');
      const r = report.results[0]! as (typeof report.results)[0] & {
        inputs?: Array<{ request: { kind: string }; answer: { reply?: string } }>;
      };
      expect(r.inputs?.[0]).toMatchObject({ request: { kind: 'question' }, answer: { reply: 'reject' } });
      expect(r.output).not.toMatch(/Postgres|Redis/);
    } finally {
      await flow.shutdown();
    }
  });
});
