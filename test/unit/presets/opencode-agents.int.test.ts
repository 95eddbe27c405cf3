/**
 * The presets as a real `opencode serve` (the pinned 1.18.33 binary) sees them: the server
 * accepts the generated `agent` config, resolves our permissions, and enforces them on
 * tool calls. Only the LLM is scripted.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPresets, toOpencodeAgentConfig, type PresetAgent } from '../../../src/presets/index.js';
import {
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type TestOpencode,
} from '../../../src/testing/index.js';

let presets: Map<string, PresetAgent>;
let llm: ScriptedLLM;
let oc: TestOpencode;

beforeAll(async () => {
  presets = await loadPresets({ cwd: '/' });
  llm = await startScriptedLLM({
    rules: [
      { match: { hasToolResult: true }, reply: { text: 'done' } },
      {
        match: { lastUser: 'RM' },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'rm -rf build', description: 'clean' } }] },
      },
      {
        match: { lastUser: 'WRITE-SRC' },
        reply: { toolCalls: [{ name: 'write', arguments: { filePath: 'src/x.ts', content: 'x\n' } }] },
      },
      {
        match: { lastUser: 'WRITE-TEST' },
        reply: { toolCalls: [{ name: 'write', arguments: { filePath: 'test/x.test.ts', content: 'x\n' } }] },
      },
    ],
  });
  const agent = Object.fromEntries([...presets].map(([name, p]) => [name, toOpencodeAgentConfig(p)]));
  oc = await startTestOpencode({ baseURL: llm.baseURL, config: { agent } });
  await mkdir(join(oc.project, 'build'), { recursive: true });
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
});

async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(oc.url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(45_000),
  });
  expect(res.ok, `${path}: HTTP ${res.status}`).toBe(true);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

interface ToolPart {
  type: string;
  tool?: string;
  state?: { status: string; error?: string };
}

/** Prompts a fresh session run as `agent`; returns the tool parts of its reply. */
async function run(agent: string, text: string): Promise<ToolPart[]> {
  const session = await api<{ id: string }>('/session', {});
  await api(`/session/${session.id}/message`, {
    agent,
    model: { providerID: 'scripted', modelID: 'small' },
    parts: [{ type: 'text', text }],
  });
  const messages = await api<Array<{ parts: ToolPart[] }>>(`/session/${session.id}/message`);
  return messages.flatMap((m) => m.parts).filter((p) => p.type === 'tool');
}

describe('presets on a real OpenCode server', () => {
  it('registers every preset with its prompt, mode and permission rules', async () => {
    const agents = await api<
      Array<{
        name: string;
        mode: string;
        prompt?: string;
        permission: Array<{ permission: string; pattern: string; action: string }>;
      }>
    >('/agent');
    for (const [name, preset] of presets) {
      const a = agents.find((x) => x.name === name);
      expect(a, name).toBeDefined();
      expect(a?.mode).toBe('subagent');
      expect(a?.prompt).toBe(preset.systemPrompt);
    }
    const reviewerEdit = agents.find((a) => a.name === 'reviewer')?.permission.filter((r) => r.permission === 'edit');
    expect(reviewerEdit?.at(-1)).toEqual({ permission: 'edit', pattern: '*', action: 'deny' });
  });

  it('coder: a denied rm -rf fails the tool call and the directory survives', async () => {
    const tools = await run('coder', 'RM');
    expect(tools.map((t) => [t.tool, t.state?.status])).toEqual([['bash', 'error']]);
    expect(existsSync(join(oc.project, 'build'))).toBe(true);
  });

  it('reviewer: the model is not even offered edit tools', async () => {
    const before = llm.promptRequests().length;
    const tools = await run('reviewer', 'WRITE-SRC');
    const offered = llm.promptRequests()[before]?.tools ?? [];
    expect(offered).toContain('read');
    expect(offered).not.toContain('write');
    expect(offered).not.toContain('edit');
    expect(llm.promptRequests()[before]?.system).toContain('You are the **reviewer**');
    // OpenCode answers a call to an unoffered tool through its `invalid` tool.
    expect(tools.map((t) => t.tool)).toEqual(['invalid']);
    expect(existsSync(join(oc.project, 'src/x.ts'))).toBe(false);
  });

  it('tester: writing a source file is refused, writing a test file works', async () => {
    const src = await run('tester', 'WRITE-SRC');
    expect(src.map((t) => [t.tool, t.state?.status])).toEqual([['write', 'error']]);
    expect(existsSync(join(oc.project, 'src/x.ts'))).toBe(false);

    const test = await run('tester', 'WRITE-TEST');
    expect(test.map((t) => [t.tool, t.state?.status])).toEqual([['write', 'completed']]);
    expect(existsSync(join(oc.project, 'test/x.test.ts'))).toBe(true);
  });
});
