import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
} from '@opentelemetry/semantic-conventions/incubating';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startScriptedLLM,
  startTestOpencode,
  structuredReply,
  type ScriptedLLM,
  type TestOpencode,
} from '../../src/testing/index.js';
import { cli, cliArgv, childEnv, removeMemoryFiles, root, type Run } from '../cli/helpers.js';
import { printTree, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';

/** The runs' store: a temp dir, never the working tree. */
const STORE_DIR = join(tmpdir(), `ocf-trace-store-${process.pid}`);
const STORE = { OPENCODE_FLOW_STORE: `file:${STORE_DIR}` };
/**
 * The CLI as a process exporting its traces over OTLP/HTTP to a receiver of the test's own on
 * loopback, with a real `opencode serve` and the scripted LLM behind it: the whole tree of one
 * run, protobuf by default and JSON when asked, and nothing lost on a failed flow or Ctrl-C.
 */

let llm: ScriptedLLM;
let oc: TestOpencode;
let otlp: OtlpReceiver;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  otlp = await startOtlpReceiver();
});
afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await otlp?.close();
  await removeMemoryFiles();
  await rm(STORE_DIR, { recursive: true, force: true });
});
beforeEach(() => {
  otlp.spans.length = 0;
  otlp.contentTypes.length = 0;
});

const otelEnv = (extra: Record<string, string> = {}) => ({
  ...STORE,
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  // Every span leaves at once: the test checks nothing waits for the batch timer.
  OTEL_BSP_SCHEDULE_DELAY: '60000',
  OTEL_METRIC_EXPORT_INTERVAL: '600000',
  ...extra,
});

const PLAN = {
  subtasks: [
    { id: 's1', title: 'read', description: 'read the notes', agent: 'coder', dependsOn: [] },
    { id: 's2', title: 'review', description: 'review and note it', agent: 'reviewer', dependsOn: ['s1'] },
  ],
};

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReceivedSpan[], name: string) => {
  const found = byName(spans, name);
  expect(
    found.map((s) => s.name),
    `one span "${name}" in:\n${printTree(spans)}`,
  ).toEqual([name]);
  return found[0]!;
};

describe('the CLI exports one trace per run', () => {
  it('a three-agent hierarchical flow: workflow, agents under their parent agent, tool calls (protobuf)', async () => {
    await writeFile(join(oc.project, 'trace-notes.txt'), 'notes for the trace test\n');
    llm.script([
      { match: { allText: 'TRACE-H', lastUser: '# Plan this task for the team' }, reply: structuredReply(PLAN) },
      {
        match: { allText: 'TRACE-H', lastUser: 'All subtasks of your plan have finished' },
        reply: { text: 'TRACE-H final answer' },
      },
      {
        match: { allText: 'TRACE-H', lastUser: '# Your subtask (s1)', hasToolResult: false },
        reply: { toolCalls: [{ name: 'read', arguments: { filePath: join(oc.project, 'trace-notes.txt') } }] },
      },
      {
        match: { allText: 'TRACE-H', lastUser: '# Your subtask (s1)', hasToolResult: true },
        reply: { text: 'read it' },
      },
      {
        match: { allText: 'TRACE-H', lastUser: '# Your subtask (s2)', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_memory_set', arguments: { key: 'review/verdict', value: 'ok' } }] },
      },
      {
        match: { allText: 'TRACE-H', lastUser: '# Your subtask (s2)', hasToolResult: true },
        reply: { text: 'reviewed' },
      },
    ]);
    const r = await cli(
      [
        '-a',
        'coder,reviewer',
        '-m',
        'hierarchical',
        '-t',
        'TRACE-H task',
        '-s',
        oc.url,
        '--model',
        'scripted/small',
        '--json',
      ],
      { env: otelEnv() },
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { flowId: string; results: Array<{ agent: string; sessionID: string }> };
    const spans = otlp.spans;
    console.log(printTree(spans, { attributes: true })); // the spans as the receiver got them
    expect(otlp.contentTypes.every((t) => t === 'application/x-protobuf')).toBe(true);
    expect(new Set(spans.map((s) => s.traceId)).size, printTree(spans)).toBe(1);

    const wf = one(spans, 'invoke_workflow hierarchical');
    expect(wf.parentSpanId).toBe('');
    expect(wf.attributes).toMatchObject({
      [ATTR_GEN_AI_OPERATION_NAME]: 'invoke_workflow',
      [ATTR_GEN_AI_WORKFLOW_NAME]: 'hierarchical',
      'opencode_flow.flow.id': report.flowId,
      'opencode_flow.status': 'completed',
    });
    expect(wf.attributes['opencode_flow.cost.usd']).toBeGreaterThan(0);

    // The planner twice (plan, then the final answer), each a child of the run.
    const planners = byName(spans, 'invoke_agent planner');
    expect(planners).toHaveLength(2);
    for (const p of planners) expect(p.parentSpanId).toBe(wf.spanId);
    const coder = spans.find((s) => s.name.startsWith('invoke_agent coder'))!;
    const reviewer = spans.find((s) => s.name.startsWith('invoke_agent reviewer'))!;
    expect(coder, printTree(spans)).toBeDefined();
    expect(reviewer, printTree(spans)).toBeDefined();
    // Workers run in child sessions of the planner's: their spans hang under the planner's.
    expect(planners.map((p) => p.spanId)).toContain(coder.parentSpanId);
    expect(planners.map((p) => p.spanId)).toContain(reviewer.parentSpanId);

    for (const a of [...planners, coder, reviewer]) {
      const name = a.attributes[ATTR_GEN_AI_AGENT_NAME] as string;
      const result = report.results.find((x) => x.agent === name);
      expect(a.kind).toBe(3);
      expect(a.attributes).toMatchObject({
        [ATTR_GEN_AI_OPERATION_NAME]: 'invoke_agent',
        [ATTR_GEN_AI_CONVERSATION_ID]: result?.sessionID,
        [ATTR_GEN_AI_PROVIDER_NAME]: 'scripted',
        [ATTR_GEN_AI_REQUEST_MODEL]: 'small',
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(oc.url).port),
      });
      expect(a.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBeGreaterThan(0);
      expect(a.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]).toBeGreaterThan(0);
    }
    expect(reviewer.attributes[ATTR_GEN_AI_RESPONSE_MODEL]).toBe('small');

    // OpenCode's own tool (from the session's parts) and the flow's MCP tool.
    const read = one(spans, 'execute_tool read');
    expect(read.parentSpanId).toBe(coder.spanId);
    expect(read.attributes).toMatchObject({ [ATTR_GEN_AI_TOOL_NAME]: 'read', [ATTR_GEN_AI_TOOL_TYPE]: 'function' });
    expect(read.attributes[ATTR_GEN_AI_TOOL_CALL_ID]).toBeTruthy();
    expect(read.attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    const part = one(spans, 'execute_tool flow_memory_set');
    expect(part.parentSpanId).toBe(reviewer.spanId);
    expect(part.attributes[ATTR_GEN_AI_TOOL_TYPE]).toBe('extension');
    const mcp = one(spans, 'execute_tool memory_set');
    expect([part.spanId, reviewer.spanId]).toContain(mcp.parentSpanId);
    expect(mcp.attributes['opencode_flow.tool.side']).toBe('mcp_server');
    // The GenAI client metrics, through the metrics API, exported beside the spans.
    expect([...otlp.metrics]).toEqual(
      expect.arrayContaining(['gen_ai.client.token.usage', 'gen_ai.client.operation.duration']),
    );
  });

  it('http/json when OTEL_EXPORTER_OTLP_PROTOCOL asks; a failed flow is exported whole, its fallback an event', async () => {
    // The first model is rate limited (a fallback), the second refuses the key (final): the flow fails.
    llm.script([
      { match: { allText: 'TRACE-FAIL', model: 'small' }, reply: { status: 429 } },
      { match: { allText: 'TRACE-FAIL' }, reply: { status: 401, errorMessage: 'invalid api key' } },
    ]);
    const args = [
      '-a',
      'coder',
      '-t',
      'TRACE-FAIL',
      '-s',
      oc.url,
      '--model',
      'scripted/small',
      '--fallback',
      'scripted/medium',
    ];
    const r = await cli([...args, '--json'], {
      env: otelEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'trace-test' }),
    });
    expect(r.code).toBe(1);
    expect(otlp.contentTypes.length).toBeGreaterThan(0);
    expect(otlp.contentTypes.every((t) => t === 'application/json')).toBe(true);
    const wf = one(otlp.spans, 'invoke_workflow parallel');
    expect(wf.resource['service.name']).toBe('trace-test');
    expect(wf.status.code).toBe(2);
    expect(wf.attributes['error.type']).toBe('failed');
    const coder = one(otlp.spans, 'invoke_agent coder');
    expect(coder.parentSpanId).toBe(wf.spanId);
    expect(coder.status.code).toBe(2);
    expect(coder.attributes['error.type']).toBe('auth');
    expect(coder.attributes[ATTR_GEN_AI_RESPONSE_MODEL]).toBe('medium');
    expect(coder.events.find((e) => e.name === 'opencode_flow.fallback')?.attributes).toMatchObject({
      'opencode_flow.from': 'scripted/small',
      'opencode_flow.to': 'scripted/medium',
    });
  });

  it('Ctrl-C: the cancelled run and its agents are exported before the CLI exits 130', async () => {
    llm.script({ match: { allText: 'TRACE-SIGINT' }, reply: { hang: true } });
    const r = await new Promise<Run>((resolveRun) => {
      const child = spawn(
        process.execPath,
        cliArgv(['-a', 'coder,tester', '-t', 'TRACE-SIGINT', '-s', oc.url, '--model', 'scripted/small', '--json']),
        { cwd: root, env: childEnv(otelEnv()), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const poll = setInterval(() => {
        if (llm.promptRequests().filter((q) => q.allText.includes('TRACE-SIGINT')).length >= 2) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 25);
      child.on('close', (code) => {
        clearInterval(poll);
        resolveRun({ code, stdout, stderr });
      });
    });
    expect(r.code, r.stderr).toBe(130);
    const wf = one(otlp.spans, 'invoke_workflow parallel');
    expect(wf.attributes['opencode_flow.status']).toBe('cancelled');
    expect(wf.events.map((e) => e.name)).toContain('opencode_flow.stop');
    for (const name of ['invoke_agent coder', 'invoke_agent tester']) {
      const a = one(otlp.spans, name);
      expect(a.parentSpanId).toBe(wf.spanId);
      expect(a.status.code).toBe(2);
    }
  });
});
