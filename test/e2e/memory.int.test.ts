import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { type ScriptedRequest } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Agents coordinate through shared memory: OpenCode itself calls our MCP server's
 * `flow_memory_*` tools on the scripted model's behalf; the flow (embedded server) wires
 * the MCP server into OpenCode's config at start.
 */
const env = useFlowHosts({ shared: false });
let flow: OpencodeFlow;

beforeAll(async () => {
  flow = env.host((dir) => ({ memory: { backend: 'file', path: join(dir, 'memory.json') } }));
  await flow.start();
});

const lastToolResult = (r: ScriptedRequest) => r.toolResults[r.toolResults.length - 1]?.content ?? '(none)';

describe('shared memory through the flow_memory_* MCP tools', () => {
  it('agent A sets a key with flow_memory_set; agent B reads it with flow_memory_get', async () => {
    env.llm.script([
      // Agent A: call the tool, then report.
      {
        match: { allText: 'MEM-TASK', system: 'You are the **researcher**', hasToolResult: false },
        reply: {
          toolCalls: [
            { name: 'flow_memory_set', arguments: { key: 'api-design', value: { style: 'REST', version: 7 } } },
          ],
        },
      },
      {
        match: { allText: 'MEM-TASK', system: 'You are the **researcher**', hasToolResult: true },
        reply: { text: 'stored the design' },
      },
      // Agent B: read, then answer with what the tool returned.
      {
        match: { allText: 'MEM-TASK', system: 'You are the **coder**', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_memory_get', arguments: { key: 'api-design' } }] },
      },
      {
        match: { allText: 'MEM-TASK', system: 'You are the **coder**', hasToolResult: true },
        reply: (req) => ({ text: `design from memory: ${lastToolResult(req)}` }),
      },
    ]);
    const changes: string[] = [];
    const stop = flow.memory.watch('api-*', (c) => changes.push(`${c.key}=${JSON.stringify(c.value)}`));
    const tools: string[] = [];
    flow.on('agent.tool', (e) => tools.push(`${e.agent}:${e.tool}:${e.status}`));
    const report = await flow.execute({
      task: 'MEM-TASK: agree on the API',
      agents: ['researcher', 'coder'],
      mode: 'sequential',
    });
    stop();
    expect(report.status).toBe('completed');
    // The tools were offered to the model under OpenCode's server_tool naming.
    const first = env.llm.promptRequests().find((r) => r.allText.includes('MEM-TASK'))!;
    expect(first.tools).toEqual(
      expect.arrayContaining([
        'flow_memory_set',
        'flow_memory_get',
        'flow_memory_list',
        'flow_memory_cas',
        'flow_memory_incr',
        'flow_memory_delete',
      ]),
    );
    expect(tools).toContain('researcher:flow_memory_set:completed');
    expect(tools).toContain('coder:flow_memory_get:completed');
    const b = report.results.find((r) => r.agent === 'coder')!;
    expect(b.output).toContain('design from memory:');
    expect(b.output).toContain('"style":"REST"');
    expect(b.output).toContain('"version":7');
    // The same store, seen from the library API, and the change was observed.
    expect(await flow.memory.get('api-design')).toEqual({ style: 'REST', version: 7 });
    expect(changes).toEqual(['api-design={"style":"REST","version":7}']);
  });

  it('a tool call with bad arguments is an MCP error the model sees, and the store is unchanged', async () => {
    await flow.memory.set('counter', 1);
    env.llm.script([
      {
        match: { allText: 'BAD-ARGS', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_memory_incr', arguments: { key: '../../etc/passwd', amount: 'lots' } }] },
      },
      {
        match: { allText: 'BAD-ARGS', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${lastToolResult(req)}` }),
      },
    ]);
    const report = await flow.execute({ task: 'BAD-ARGS', agents: ['tester'] });
    expect(report.status).toBe('completed');
    const out = report.results[0]!.output;
    expect(out).toMatch(/tool said: .*(invalid|error|expected)/i);
    expect(await flow.memory.get('counter')).toBe(1);
    expect((await flow.memory.list()).map((e) => e.key).sort()).toEqual(['api-design', 'counter']);
  });

  it('a supervisor waiting on a key starts the third agent when an agent writes it', async () => {
    env.llm.script([
      {
        match: { allText: 'TRIGGER-TASK', system: 'You are the **researcher**', hasToolResult: false },
        reply: {
          toolCalls: [
            { name: 'flow_memory_set', arguments: { key: 'spec/api', value: { endpoints: ['GET /todos'] } } },
          ],
        },
      },
      {
        match: { allText: 'TRIGGER-TASK', system: 'You are the **researcher**', hasToolResult: true },
        reply: { text: 'spec written', delayMs: 1500 },
      },
      { match: { allText: 'TRIGGER-TASK' }, reply: { text: 'done my part' } },
    ]);
    const states: string[] = [];
    flow.on('agent.state', (e) => {
      if (e.agent === 'tester' && e.state === 'prompting') states.push('tester:prompting');
    });
    // The write itself (the MCP call reaching the memory actor), not OpenCode's later
    // report that the tool completed: the supervisor reacts to the write.
    // Each run has its own memory (`flow:<flowId>`): watch this run's.
    const stopWatch = flow.memory.watch('spec/*', () => states.push('researcher:set'), { flowId: 'trigger-run' });
    flow.on('agent.done', (e) => states.push(`${e.agent}:done`));
    const report = await flow.execute({
      flowId: 'trigger-run',
      task: 'TRIGGER-TASK',
      agents: ['researcher', 'coder', 'tester'],
      mode: 'parallel',
      waitFor: { tester: 'spec/*' },
    });
    stopWatch();
    expect(report.status).toBe('completed');
    expect(report.results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
    // The tester started only after the write, and before the researcher finished.
    expect(states.indexOf('researcher:set')).toBeGreaterThanOrEqual(0);
    expect(states.indexOf('tester:prompting')).toBeGreaterThan(states.indexOf('researcher:set'));
    expect(states.indexOf('tester:prompting')).toBeLessThan(states.indexOf('researcher:done'));
    const testerReq = env.llm
      .promptRequests()
      .find((r) => r.allText.includes('TRIGGER-TASK') && r.system.includes('You are the **tester**'))!;
    expect(testerReq.lastUser).toContain('Started because shared memory key "spec/api" was written');
    expect(testerReq.lastUser).toContain('GET /todos');
  });

  it('an agent whose key is never written is not started, and the report says why', async () => {
    env.llm.script({ match: { allText: 'NEVER-TASK' }, reply: { text: 'ok' } });
    const report = await flow.execute({
      task: 'NEVER-TASK',
      agents: ['researcher', 'tester'],
      waitFor: { tester: 'never/written' },
    });
    expect(report.status).toBe('completed');
    expect(report.results.map((r) => r.agent)).toEqual(['researcher']);
    expect(report.reason).toMatch(/not started \(memory key never written\): tester ← never\/written/);
  });
});
