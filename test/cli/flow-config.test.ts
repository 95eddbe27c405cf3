import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAgentNames,
  closest,
  findFlowConfig,
  flowConfigJsonSchema,
  FlowConfigSchema,
  loadFlowConfig,
  MEMORY_URI_PATTERN,
  parseFlowConfig,
} from '../../src/config/flow-config.js';
import { parseMemoryUri } from '../../src/memory/config.js';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import { configReference, currentConfigReference } from '../../src/cli/config-reference.js';
import { schemaFilePath, schemaFileText } from '../../src/cli/gen-schema.js';
import { root, tempDir } from './helpers.js';

/** The message of the FlowError `fn` throws. */
function errorOf(fn: () => unknown): FlowError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlowError);
    return e as FlowError;
  }
  throw new Error('expected a FlowError');
}

describe('FlowConfigSchema', () => {
  it('accepts the spec shape: preset names and agent objects, router, memory, coordination', () => {
    const config = parseFlowConfig({
      task: 'Review src/',
      agents: [
        'researcher',
        { name: 'strict', preset: 'reviewer', model: 'anthropic/claude-sonnet-4', temperature: 0 },
      ],
      modelRouter: { mode: 'cost', maxCost: 0.5, fallbackChain: ['openai/gpt-5-mini'] },
      memory: 'sqlite:./flow.db',
      coordination: { mode: 'sequential', timeout: 60, maxConcurrent: 2, onAgentFailure: 'fail' },
    });
    expect(config.agents?.[1]).toMatchObject({ name: 'strict', preset: 'reviewer' });
    // The router's defaults are applied by its own schema.
    expect(config.modelRouter).toMatchObject({ mode: 'cost', cooldownMs: 30_000 });
  });

  it.each([
    ['memory object', { memory: { backend: 'redis', url: 'redis://127.0.0.1:6379/0' } }],
    ['memory off', { memory: false }],
    ['a bare model with its provider', { agents: [{ name: 'x', model: 'claude-sonnet-4', provider: 'anthropic' }] }],
    ['an empty config', {}],
  ])('accepts %s', (_what, config) => {
    expect(FlowConfigSchema.safeParse(config).success).toBe(true);
  });

  it('names each bad field with what was expected and what was found', () => {
    const e = errorOf(() =>
      parseFlowConfig(
        {
          agents: ['reviewer', { name: 'coder', model: 'gpt4' }, 3],
          coordination: { mode: 'paralel', maxConcurrent: 1.5, timout: 3 },
          modelRouter: { mode: 'cheap' },
          server: 'ftp://example.com',
          agnets: [],
        },
        'flow.config.json',
      ),
    );
    expect(e.code).toBe(FlowErrorCode.InvalidConfig);
    const lines = e.message.split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('invalid config flow.config.json:');
    expect(lines).toContain('agents[1].model: expected "provider/model" (or a bare model with "provider"), got "gpt4"');
    expect(lines).toContain('agents[2]: expected a string or an object, found 3');
    expect(lines).toContain(
      'coordination.mode: expected one of "parallel", "sequential", "hierarchical", found "paralel"',
    );
    expect(lines).toContain('coordination.maxConcurrent: expected an integer, found 1.5');
    expect(lines).toContain('coordination.timout: unknown field; did you mean "timeout"?');
    expect(lines).toContain('modelRouter.mode: expected one of "cost", "quality", "balanced", "speed", found "cheap"');
    expect(lines).toContain('server: expected an http(s) URL such as http://127.0.0.1:4096, found "ftp://example.com"');
    expect(lines).toContain('agnets: unknown field; did you mean "agents"?');
    expect(lines).toHaveLength(9);
  });

  it('lists the allowed fields when an unknown one is not close to any', () => {
    const e = errorOf(() => parseFlowConfig({ coordination: { retries: 3 } }));
    expect(e.message).toContain(
      'coordination.retries: unknown field (expected one of: mode, maxConcurrent, timeout, promptTimeout, onAgentFailure)',
    );
  });

  it("reports a missing required field as found nothing, and bad memory URIs with the parser's reason", () => {
    const e = errorOf(() => parseFlowConfig({ agents: [{ model: 'a/b' }], memory: 'nope' }));
    expect(e.message).toContain('agents[0].name: expected a string, found nothing');
    expect(e.message).toMatch(/memory: memory URI "nope" has no scheme; use file:PATH/);
  });

  it('rejects two agents with one name', () => {
    const e = errorOf(() => parseFlowConfig({ agents: ['reviewer', { name: 'reviewer', model: 'a/b' }] }));
    expect(e.message).toContain('agents[1]: the agent name "reviewer" is already used by agents[0]');
  });

  it('closest() suggests near names only', () => {
    expect(closest('agnets', ['agents', 'task'])).toBe('agents');
    expect(closest('TASK', ['agents', 'task'])).toBe('task');
    expect(closest('banana', ['agents', 'task'])).toBeUndefined();
  });
});

describe('checkAgentNames', () => {
  const presets = ['researcher', 'reviewer', 'coder'];
  it('accepts presets and agents defined in the same list', () => {
    expect(() =>
      checkAgentNames(
        parseFlowConfig({ agents: ['reviewer', { name: 'mine', model: 'a/b' }, 'mine'.replace('mine', 'coder')] }),
        presets,
      ),
    ).not.toThrow();
  });
  it('names the field of an unknown preset', () => {
    const e = errorOf(() =>
      checkAgentNames(parseFlowConfig({ agents: ['reviewer', 'wizard'] }), presets, 'flow.config.json'),
    );
    expect(e.code).toBe(FlowErrorCode.UnknownAgent);
    expect(e.message).toBe(
      'invalid config flow.config.json: agents[1]: unknown preset "wizard" (presets: coder, researcher, reviewer)',
    );
    const e2 = errorOf(() => checkAgentNames(parseFlowConfig({ agents: [{ name: 'x', preset: 'revewer' }] }), presets));
    expect(e2.message).toContain('agents[0].preset: unknown preset "revewer"');
  });
});

describe('loadFlowConfig / findFlowConfig', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-config-')));
  afterAll(() => cleanup());

  it('finds flow.config.json in a directory, or nothing', async () => {
    expect(findFlowConfig(dir)).toBeUndefined();
    await writeFile(join(dir, 'flow.config.json'), '{ "agents": ["reviewer"] }');
    expect(findFlowConfig(dir)).toBe(join(dir, 'flow.config.json'));
    const loaded = await loadFlowConfig('flow.config.json', dir);
    expect(loaded).toEqual({
      path: join(dir, 'flow.config.json'),
      config: { agents: ['reviewer'] },
      modelRouterKeys: [],
    });
  });

  it('a missing file and bad JSON are invalid_config with the place', async () => {
    await expect(loadFlowConfig('nope.json', dir)).rejects.toThrow('cannot read config nope.json: no such file');
    await writeFile(join(dir, 'bad.json'), '{\n  "agents": ["reviewer"],\n  "task": oops\n}');
    const e = await loadFlowConfig('bad.json', dir).catch((x: unknown) => x as FlowError);
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((e as FlowError).message).toBe('config bad.json is not valid JSON: line 3, column 11: unexpected "o"');
    await writeFile(join(dir, 'comma.json'), '{ "agents": ["reviewer",] }');
    await expect(loadFlowConfig('comma.json', dir)).rejects.toThrow('line 1, column 25: a trailing comma before "]"');
  });
});

describe('published schema and README reference', () => {
  it('schema/flow.config.schema.json is what the zod schema generates (run `npx tsx src/cli/gen-schema.ts` after changing it)', () => {
    expect(readFileSync(schemaFilePath(), 'utf8')).toBe(schemaFileText());
  });

  it('the README config reference is generated from the schema', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(currentConfigReference(readme)).toBe(configReference(flowConfigJsonSchema()));
  });

  it('the schema describes every top-level field and forbids unknown ones', () => {
    const schema = flowConfigJsonSchema() as {
      properties: Record<string, { description?: string }>;
      additionalProperties: boolean;
    };
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(FlowConfigSchema.shape).sort());
    for (const [k, p] of Object.entries(schema.properties)) expect(p.description, k).toBeTruthy();
    expect(schema.additionalProperties).toBe(false);
  });

  it('describes every property at every depth, so editors show help for each key', () => {
    // Read from the checked-in file: that is what editors load (and it equals the generated one, above).
    const schema = JSON.parse(readFileSync(schemaFilePath(), 'utf8')) as unknown;
    const missing: string[] = [];
    let count = 0;
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      for (const [k, v] of Object.entries((n.properties ?? {}) as Record<string, { description?: string }>)) {
        count++;
        if (!v.description?.trim()) missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
      for (const key of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties', '$defs'])
        if (n[key]) walk(n[key], `${path}/${key}`);
    };
    walk(schema, '');
    expect(count).toBeGreaterThanOrEqual(75); // the walk reaches agents, modelRouter, memory and inputPolicy
    expect(missing).toEqual([]);
  });

  it('constrains memory URIs with a pattern that agrees with the parser', () => {
    const memory = (
      flowConfigJsonSchema() as { properties: { memory: { anyOf: { type?: string; pattern?: string }[] } } }
    ).properties.memory;
    const uri = memory.anyOf.find((s) => s.type === 'string');
    expect(uri?.pattern).toBe(MEMORY_URI_PATTERN);
    const re = new RegExp(uri!.pattern!); // JSON Schema patterns are ECMA-262, unanchored
    const parses = (u: string) => {
      try {
        parseMemoryUri(u);
        return true;
      } catch {
        return false;
      }
    };
    const good = [
      'file:.opencode-flow/memory.json',
      'file:///var/lib/flow/m.json',
      'FILE:m.json',
      'sqlite:./flow.db',
      'sqlite::memory:',
      'sqlite:///var/flow.db',
      ' sqlite:x.db ',
      'redis://127.0.0.1:6379/0',
      'redis://u:pw@host:6379/2?prefix=ci:',
      'rediss://cache.example:6380',
      'Redis://h',
    ];
    const bad = [
      '',
      'file:',
      'memory.json',
      './flow.db',
      'C:\\flow.db',
      'sqlite:',
      'sqlite:   ',
      'redis://',
      'redis:///0',
      'rediss:/h',
      'postgres://h/db',
      'http://h',
      'mem:x',
    ];
    for (const u of good) expect([u, re.test(u), parses(u)]).toEqual([u, true, true]);
    for (const u of bad) expect([u, re.test(u), parses(u)]).toEqual([u, false, false]);
    // The object forms are constrained too: a backend from the list, a redis URL.
    const forms = (
      memory.anyOf.find((s) => !s.type) as unknown as {
        oneOf: { properties: { backend: { const: string }; url?: { pattern?: string } } }[];
      }
    ).oneOf;
    expect(forms.map((f) => f.properties.backend.const)).toEqual(['file', 'sqlite', 'redis']);
    expect(forms[2]!.properties.url?.pattern).toBeTruthy();
  });

  it("the README's config example is valid", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Config file'));
    const json = /```json\n([\s\S]*?)```/.exec(section)![1]!;
    expect(() => parseFlowConfig(JSON.parse(json))).not.toThrow();
  });
});

describe('flow-level inputPolicy', () => {
  it('is accepted for every agent without its own, and reaches the run plan', async () => {
    const { planRun } = await import('../../src/cli/plan.js');
    const { parseRunOptions } = await import('../../src/cli/run-options.js');
    const { dir, cleanup } = await tempDir('ocf-policy-');
    try {
      const inputPolicy = {
        onPermission: [
          { permission: 'bash', pattern: 'rm -rf*', action: 'reject' },
          { permission: 'bash', action: 'allow' },
        ],
        onQuestion: 'first-option',
      };
      await writeFile(join(dir, 'flow.config.json'), JSON.stringify({ task: 't', agents: ['reviewer'], inputPolicy }));
      const plan = await planRun(parseRunOptions({}), { cwd: dir, presets: ['reviewer'] });
      expect(plan.inputPolicy).toEqual(inputPolicy);
    } finally {
      await cleanup();
    }
  });

  it('a bad policy names the field and what was expected', () => {
    const e = errorOf(() =>
      parseFlowConfig(
        { agents: ['reviewer'], inputPolicy: { onPermission: 'maybe', onQuestoin: 'ask' } },
        'flow.config.json',
      ),
    );
    const lines = e.message.split('\n').map((l) => l.trim());
    expect(lines.some((l) => l.startsWith('inputPolicy.onPermission: '))).toBe(true);
    expect(lines).toContain('inputPolicy.onQuestoin: unknown field; did you mean "onQuestion"?');
  });
});
