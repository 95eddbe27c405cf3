import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { loadFlowConfig, parseFlowConfig } from '../../src/config/flow-config.js';
import { maskPasswords, printable, quoteValue } from '../../src/echo.js';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import { parseMemoryUri } from '../../src/memory/config.js';
import { TERMINAL_CONTROL } from '../helpers/fuzz.js';
import { cli, removeMemoryFiles, STACK, tempDir } from './helpers.js';

/** The FlowError a promise (or function) fails with. */
async function failure(fn: () => unknown): Promise<FlowError> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlowError);
    return e as FlowError;
  }
  throw new Error('expected a FlowError');
}

/** `{"a":{"a":…1…}}`, `depth` objects deep, as text (JSON.stringify itself would overflow). */
const nested = (depth: number, leaf = '1') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);

let dir: string;
let cleanup: () => Promise<void>;
const file = async (name: string, text: string) => {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
};

beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-hostile-')));
afterAll(async () => {
  await cleanup();
  await removeMemoryFiles();
});

describe('passwords in URIs are never echoed', () => {
  it('maskPasswords hides the password of every scheme://user:password@ in a text, even one holding "@"', () => {
    expect(maskPasswords('redis://u:PW@host:6379/abc')).toBe('redis://u:***@host:6379/abc');
    expect(maskPasswords('at http://u:PW@h:1 (fetch http://u:PW@h:1/x) and rediss://:p@ss@h/0')).toBe(
      'at http://u:***@h:1 (fetch http://u:***@h:1/x) and rediss://:***@h/0',
    );
    expect(maskPasswords('redis://127.0.0.1:6379/0 and user@example.com')).toBe(
      'redis://127.0.0.1:6379/0 and user@example.com',
    );
  });

  it('a bad memory URI quotes it masked, in the message and in "found"', async () => {
    expect((await failure(() => parseMemoryUri('redis://u:PW@host:6379/abc'))).message).not.toContain('PW');
    const e = await failure(() => parseFlowConfig({ memory: 'redis://u:PW@host:6379/abc' }));
    expect(e.message).toContain('redis://u:***@host:6379/abc');
    expect(e.message).not.toContain('PW');
  });

  it('CLI: --memory with a password exits 2 without printing it', async () => {
    const r = await cli(['--agents', 'coder', '--task', 'x', '--memory', 'redis://u:PW@host:6379/abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('redis://u:***@host:6379/abc');
    expect(r.stderr + r.stdout).not.toContain('PW');
  });

  it('CLI: --server with a password is a usage error that does not print it (run and serve)', async () => {
    for (const args of [
      ['--agents', 'coder', '--task', 'x', '--server', 'http://u:PW@127.0.0.1:1'],
      ['serve', '--port', '0', '--server', 'http://u:PW@127.0.0.1:1'],
    ]) {
      const r = await cli(args, { timeoutMs: 60_000 });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('http://u:***@127.0.0.1:1');
      expect(r.stderr + r.stdout, args.join(' ')).not.toContain('PW');
    }
  });
});

describe('deeply nested configs', () => {
  it('a config nested 5000 deep is an invalid_config naming where, before any recursive walk', async () => {
    for (const text of [
      `{"memory":${nested(5000)}}`,
      `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
      `{"agents":[{"name":"x","permissions":${nested(5000)}}]}`,
    ]) {
      const e = await failure(() => parseFlowConfig(JSON.parse(text), 'deep.json'));
      expect(e.code).toBe(FlowErrorCode.InvalidConfig);
      expect(e.message).toMatch(/nested deeper than 64 levels/);
      expect(e.message).not.toMatch(/call stack/);
    }
    const e = await failure(() => parseFlowConfig(JSON.parse(`{"memory":${nested(5000)}}`), 'deep.json'));
    expect(e.message).toBe('invalid config deep.json:\n  memory.a.a.a.a.a.a.a…: nested deeper than 64 levels');
  });

  it('a config 64 levels deep is still checked by the schema as usual', async () => {
    const e = await failure(() => parseFlowConfig(JSON.parse(`{"memory":${nested(62)}}`)));
    expect(e.message).not.toMatch(/nested deeper/);
    expect(e.message).toMatch(/^invalid config flow config:\n {2}memory: /);
  });

  it('CLI: exits 2, not 1, with the path and no stack trace', async () => {
    const path = await file('deep.json', `{"agents":["coder"],"task":"x","coordination":${nested(5000)}}`);
    const r = await cli(['--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('coordination.a.a.a.a.a.a.a…: nested deeper than 64 levels');
    expect(r.stderr).not.toMatch(/Maximum call stack/);
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('what errors echo of a config', () => {
  it('a 1 MiB unknown key is cut to 60 characters and "…"', async () => {
    const key = 'k'.repeat(1 << 20);
    const path = await file(
      'big-key.json',
      JSON.stringify({ agents: ['coder'], [key]: 1, coordination: { [key]: 2 } }),
    );
    const e = await failure(() => loadFlowConfig(path));
    expect(e.message.length).toBeLessThan(1000);
    expect(e.message).toContain(`\n  ${'k'.repeat(60)}…: unknown field`);
    expect(e.message).toContain(`\n  coordination.${'k'.repeat(60)}…: unknown field`);
  });

  it('a huge bad value is cut too', async () => {
    const e = await failure(() => parseFlowConfig({ task: 5, agents: 'v'.repeat(1 << 20) }));
    expect(e.message.length).toBeLessThan(500);
    expect(e.message).toContain(`found "${'v'.repeat(59)}…`);
  });

  it('terminal escapes and control characters in keys and values are escaped, not printed', async () => {
    const evil = '\u001b[31mred\u001b]0;title\u0007\u009b2J\u202eevil';
    const path = await file(
      'ansi.json',
      JSON.stringify({ [evil]: 1, coordination: { mode: evil }, agents: [{ name: 'x', permissions: { [evil]: 3 } }] }),
    );
    const e = await failure(() => loadFlowConfig(path));
    expect(e.message).not.toMatch(TERMINAL_CONTROL);
    // The key holds brackets, so the path quotes it.
    expect(e.message).toContain('\n  ["\\u001b[31mred\\u001b]0;title\\u0007\\u009b2J\\u202eevil"]: unknown field');
    expect(e.message).toContain('coordination.mode: expected one of');
    const r = await cli(['--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(TERMINAL_CONTROL);
    expect(r.stderr).toContain('\\u001b[31mred');
  });

  it('a leading BOM does not hide where the real syntax error is', async () => {
    const path = await file('bom.json', '\uFEFF{\n  "agents": ["coder"],\n  "task": oops\n}\n');
    const e = await failure(() => loadFlowConfig(path));
    expect(e.message).toMatch(/is not valid JSON: line 3, column 11: unexpected "o"$/);
    // A valid file with a BOM still loads.
    const ok = await file('bom-ok.json', '\uFEFF{"agents":["coder"]}');
    expect((await loadFlowConfig(ok)).config.agents).toEqual(['coder']);
  });

  it('1e999 (Infinity once parsed) is reported as a number too large, not as null', async () => {
    const path = await file('inf.json', '{"agents":["coder"],"coordination":{"timeout":1e999,"maxConcurrent":-1e999}}');
    const e = await failure(() => loadFlowConfig(path));
    expect(e.message).toContain(
      'coordination.timeout: expected a number of seconds, found a number too large (Infinity)',
    );
    expect(e.message).toContain('coordination.maxConcurrent: expected a number, found a number too large (-Infinity)');
    expect(e.message).not.toContain('found null');
    expect(quoteValue(Number.NaN)).toBe('not a number (NaN)');
  });

  it('printable cuts without splitting a surrogate pair', () => {
    expect(printable(`${'a'.repeat(59)}😀😀`)).toBe(`${'a'.repeat(59)}…`);
  });
});

describe('serve flags in errors', () => {
  it('names the flag (--max-flows), not the field (maxFlows), and quotes what was typed', async () => {
    const e = await failure(() =>
      parseServeOptions({ maxFlows: '0', port: 'eighty', onShutdown: 'later', onPermission: 'maybe' }, {}),
    );
    expect(e.code).toBe(FlowErrorCode.InvalidConfig);
    expect(e.message).toMatch(/^invalid option /);
    expect(e.message).toContain('--max-flows: expected at least 1 flow, found "0"');
    expect(e.message).toContain('--port: expected a port number, found "eighty"');
    expect(e.message).toContain('--on-shutdown: expected "cancel", "wait" or "persist", found "later"');
    expect(e.message).toContain('--on-permission: expected one of "ask", "allow", "reject", found "maybe"');
    expect(e.message).not.toMatch(/maxFlows|onShutdown|inputPolicy/);
  });

  it('names the variable a value came from, and never echoes a token', async () => {
    const e = await failure(() => parseServeOptions({ host: '0.0.0.0' }, { OPENCODE_FLOW_TOKEN: 'tooshort' }));
    expect(e.message).toBe(
      'invalid option OPENCODE_FLOW_TOKEN: expected a token of at least 16 characters (e.g. `openssl rand -hex 24`), found a value not shown (a secret)',
    );
    const flag = await failure(() => parseServeOptions({ token: 'tooshort' }, {}));
    expect(flag.message).toMatch(/^invalid option --token: /);
    expect(flag.message).not.toContain('tooshort');
    const none = await failure(() => parseServeOptions({ host: '0.0.0.0' }, {}));
    expect(none.message).toBe(
      'invalid option --token: binding 0.0.0.0 exposes the API beyond this machine: set a token (--token or OPENCODE_FLOW_TOKEN), or bind 127.0.0.1',
    );
  });

  it('CLI: serve --max-flows 0 exits 2 naming --max-flows', async () => {
    const r = await cli(['serve', '--max-flows', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('opencode-flow: error: invalid option --max-flows: expected at least 1 flow, found "0"\n');
  });
});
