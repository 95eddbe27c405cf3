import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServeApp } from '../../src/serve/app.js';
import { OpencodeFlow } from '../../src/flow/index.js';
import { describe, expect, it } from 'vitest';
import {
  CreateFlowBodySchema,
  MAX_INLINE_AGENT_NAME,
  ServeOptionsSchema,
  isLoopbackHost,
} from '../../src/serve/index.js';
import { hostOfHeader, httpUrl } from '../../src/serve/loopback.js';
import { zodIssues } from '../../src/serve/api-error.js';
import { normaliseServeOptions } from '../../src/cli/serve-options.js';
import { FlowError } from '../../src/errors.js';

describe('ServeOptionsSchema', () => {
  it('defaults to 127.0.0.1:5000, 4 flows, cancel on shutdown, 1 MiB bodies, 100 finished flows kept', () => {
    expect(ServeOptionsSchema.parse({})).toMatchObject({
      host: '127.0.0.1',
      port: 5000,
      maxFlows: 4,
      maxBodyBytes: 1024 * 1024,
      keepFinished: 100,
    });
    // Decided by the app: `cancel`, unless it is a replica of a pool (then `persist`: see the replicas test).
    expect(ServeOptionsSchema.parse({}).onShutdown).toBeUndefined();
  });

  it('a single serve cancels its running flows on shutdown unless told otherwise', async () => {
    const flow = new OpencodeFlow({ flowsDir: join(tmpdir(), `ocf-opts-${process.pid}`), memory: false });
    const { handle } = createServeApp(flow, {});
    expect(handle.pool).toBeUndefined();
    expect(handle.onShutdown).toBe('cancel');
    expect(createServeApp(flow, { onShutdown: 'wait' }).handle.onShutdown).toBe('wait');
    await handle.close();
    await flow.shutdown();
  });

  it('refuses a non-loopback bind without a token, naming the token field', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      const r = ServeOptionsSchema.safeParse({ host });
      expect(r.success, host).toBe(false);
      const issues = zodIssues(r.error!);
      expect(issues).toEqual([{ path: 'token', message: expect.stringContaining(`binding ${host} exposes the API`) }]);
    }
    expect(ServeOptionsSchema.safeParse({ host: '0.0.0.0', token: 'x'.repeat(16) }).success).toBe(true);
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.4.5.6'])
      expect(ServeOptionsSchema.safeParse({ host }).success, host).toBe(true);
  });

  it('names every bad field', () => {
    const r = ServeOptionsSchema.safeParse({
      port: 70000,
      maxFlows: 0,
      onShutdown: 'later',
      token: 'short',
      server: 'nope',
      extra: 1,
    });
    expect(r.success).toBe(false);
    expect(
      zodIssues(r.error!)
        .map((i) => i.path)
        .sort(),
    ).toEqual(['(root)', 'maxFlows', 'onShutdown', 'port', 'server', 'token']);
  });
});

describe('serve input policy flags', () => {
  it("--on-permission, --on-question and --input-timeout become the flows' input policy", () => {
    const o = normaliseServeOptions({ onPermission: 'ask', onQuestion: 'first-option', inputTimeout: '30' }, {});
    expect(o.inputPolicy).toEqual({ onPermission: 'ask', onQuestion: 'first-option', inputTimeoutMs: 30_000 });
    expect(ServeOptionsSchema.parse(o).inputPolicy).toEqual(o.inputPolicy);
    expect(normaliseServeOptions({}, {}).inputPolicy).toBeUndefined();
  });

  it('bad values name the field and what was expected', () => {
    const r = ServeOptionsSchema.safeParse(normaliseServeOptions({ onPermission: 'maybe', onQuestion: 'sure' }, {}));
    expect(r.success).toBe(false);
    expect(zodIssues(r.error!)).toEqual([
      {
        path: 'inputPolicy.onPermission',
        message: expect.stringContaining('expected "ask", "allow", "reject" or a list of rules'),
      },
      { path: 'inputPolicy.onQuestion', message: 'expected "ask", "reject" or "first-option"' },
    ]);
    expect(() => normaliseServeOptions({ inputTimeout: 'soon' }, {})).toThrow(FlowError);
    expect(() => normaliseServeOptions({ inputTimeout: '-1' }, {})).toThrow(
      /--input-timeout: expected a positive number of seconds, found "-1"/,
    );
  });
});

describe('loopback addresses', () => {
  it('knows loopback hosts', () => {
    for (const h of [
      '127.0.0.1',
      '127.255.0.9',
      'localhost',
      'LOCALHOST',
      'app.localhost',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example.com', 'example.com', ''])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('reads the host of a Host header and writes URLs', () => {
    expect(hostOfHeader('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(hostOfHeader('[::1]:5000')).toBe('::1');
    expect(hostOfHeader('localhost')).toBe('localhost');
    expect(hostOfHeader('evil.example:80')).toBe('evil.example');
    expect(httpUrl('::1', 5000)).toBe('http://[::1]:5000');
    expect(httpUrl('127.0.0.1', 80)).toBe('http://127.0.0.1:80');
  });
});

describe('CreateFlowBodySchema', () => {
  it('takes preset names and inline agents, defaults the mode', () => {
    const body = CreateFlowBodySchema.parse({
      task: '  Review  ',
      agents: ['reviewer', { name: 'scout', model: 'a/b' }],
    });
    expect(body).toMatchObject({
      task: 'Review',
      mode: 'parallel',
      agents: ['reviewer', { name: 'scout', model: 'a/b' }],
    });
  });

  it('leaves room for the per-flow suffix of inline agent names', () => {
    const ok = CreateFlowBodySchema.safeParse({ task: 't', agents: [{ name: 'a'.repeat(MAX_INLINE_AGENT_NAME) }] });
    expect(ok.success).toBe(true);
    const long = CreateFlowBodySchema.safeParse({
      task: 't',
      agents: [{ name: 'a'.repeat(MAX_INLINE_AGENT_NAME + 1) }],
    });
    expect(zodIssues(long.error!)).toEqual([
      { path: 'agents[0].name', message: expect.stringContaining(`at most ${MAX_INLINE_AGENT_NAME}`) },
    ]);
    // A preset name may use the full 64 characters.
    expect(CreateFlowBodySchema.safeParse({ task: 't', agents: ['a'.repeat(64)] }).success).toBe(true);
  });

  it('refuses an inline agent named like a listed preset in the same flow', () => {
    const r = CreateFlowBodySchema.safeParse({ task: 't', agents: ['coder', { name: 'coder', systemPrompt: 'x' }] });
    expect(zodIssues(r.error!)).toEqual([{ path: 'agents[1]', message: 'agent "coder" is listed twice' }]);
  });
});

describe('serve --store', () => {
  it('--store, else OPENCODE_FLOW_STORE, becomes the flows’ store', () => {
    expect(normaliseServeOptions({ store: 'sqlite:./flows.db' }, {}).flowOptions).toEqual({
      store: 'sqlite:./flows.db',
    });
    expect(normaliseServeOptions({}, { OPENCODE_FLOW_STORE: 'postgres://f@db/flows' }).flowOptions).toEqual({
      store: 'postgres://f@db/flows',
    });
    expect(
      normaliseServeOptions({ store: 'file:/srv/flows' }, { OPENCODE_FLOW_STORE: 'sqlite:x.db' }).flowOptions,
    ).toEqual({ store: 'file:/srv/flows' });
    expect(normaliseServeOptions({}, {}).flowOptions).toBeUndefined();
  });

  it('a bad store names --store or the variable it came from, never its password', () => {
    expect(() => normaliseServeOptions({ store: 'mysql://x' }, {})).toThrow(
      /^invalid option --store: unknown flow store URI scheme "mysql:"/,
    );
    let e: unknown;
    try {
      normaliseServeOptions({}, { OPENCODE_FLOW_STORE: 'postgres://u:hunter2@/db' });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).message).toMatch(/^invalid OPENCODE_FLOW_STORE: .*postgres:\/\/u:\*\*\*@/);
    expect((e as FlowError).message).not.toContain('hunter2');
  });
});
