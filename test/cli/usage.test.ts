import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeMemoryFiles, STACK, tempDir } from './helpers.js';

/**
 * The CLI's usage surface, as a user meets it: child processes, no OpenCode needed. Every
 * error exits 2 with one message naming the flag or field, what was expected and what was
 * found, and never a stack trace.
 */

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-usage-')));
afterAll(async () => {
  await cleanup();
  await removeMemoryFiles();
});

/** A project directory holding `flow.config.json` with these contents. */
async function project(name: string, config: unknown, extra: Record<string, string> = {}): Promise<string> {
  const p = join(dir, name);
  await mkdir(p, { recursive: true });
  await writeFile(join(p, 'flow.config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  for (const [f, text] of Object.entries(extra)) {
    await mkdir(join(p, f, '..'), { recursive: true });
    await writeFile(join(p, f), text);
  }
  return p;
}

function expectUsageError(r: { code: number | null; stdout: string; stderr: string }) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(STACK);
  expect(r.stdout).toBe('');
}

describe('config file errors', () => {
  it('an invalid field of a discovered flow.config.json → exit 2 naming agents[1].model, expected and found', async () => {
    const cwd = await project('bad-model', { agents: ['researcher', { name: 'coder', model: 'gpt4' }], task: 'x' });
    const r = await cli([], { cwd, env: {} });
    // No flags at all: a discovered config alone does not start a (paid) run, help is shown.
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: opencode-flow/);
    expect(r.stdout).toContain('Found flow.config.json here: run it with opencode-flow --config flow.config.json');
    const run = await cli(['--task', 'Review src/'], { cwd });
    expectUsageError(run);
    expect(run.stderr).toContain('opencode-flow: error: invalid config flow.config.json:');
    expect(run.stderr).toContain(
      'agents[1].model: expected "provider/model" (or a bare model with "provider"), got "gpt4"',
    );
  });

  it('every bad field is listed, each with path, expectation and what was found', async () => {
    const cwd = await project('many', {
      agents: ['reviewer'],
      coordination: { mode: 'paralel', timeout: -5, timout: 3 },
      memory: 'nope',
    });
    const r = await cli(['--task', 'x'], { cwd });
    expectUsageError(r);
    expect(r.stderr).toContain(
      'coordination.mode: expected one of "parallel", "sequential", "hierarchical", found "paralel"',
    );
    expect(r.stderr).toContain('coordination.timeout: expected a positive number of seconds, found -5');
    expect(r.stderr).toContain('coordination.timout: unknown field; did you mean "timeout"?');
    expect(r.stderr).toMatch(/memory: memory URI "nope" has no scheme/);
  });

  it('an unknown preset in the config names its index', async () => {
    const cwd = await project('unknown-preset', { agents: ['researcher', 'wizard'], task: 'x' });
    const r = await cli(['--config', 'flow.config.json'], { cwd });
    expectUsageError(r);
    expect(r.stderr).toMatch(/agents\[1\]: unknown preset "wizard" \(presets: architect, coder, .*tester\)/);
  });

  it('--config of a missing file, and a file that is not JSON, say where', async () => {
    const missing = await cli(['--config', 'nowhere.json', '--task', 'x'], { cwd: dir });
    expectUsageError(missing);
    expect(missing.stderr).toContain('cannot read config nowhere.json: no such file');
    const cwd = await project('not-json', '{\n  "agents": ["reviewer"],\n}\n');
    const bad = await cli(['--config', 'flow.config.json', '--task', 'x'], { cwd });
    expectUsageError(bad);
    expect(bad.stderr).toContain(
      'config flow.config.json is not valid JSON: line 3, column 1: a trailing comma before "}"',
    );
  });

  it('no task anywhere → exit 2 saying where to give one', async () => {
    const cwd = await project('no-task', { agents: ['reviewer'] });
    const r = await cli(['--agents', 'reviewer'], { cwd });
    expectUsageError(r);
    expect(r.stderr).toContain('no task: pass --task "…" or set "task" in flow.config.json');
  });

  it('an agent a flag names must be a preset or defined in the config', async () => {
    const cwd = await project('agents-flag', { agents: [{ name: 'mine', preset: 'reviewer' }], task: 'x' });
    const r = await cli(['--agents', 'mine,ghost'], { cwd });
    expectUsageError(r);
    expect(r.stderr).toMatch(/unknown agent "ghost" \(known: .*mine.*reviewer/);
  });
});

describe('flag errors', () => {
  it.each([
    [['--agents', 'researcher'], /no task: pass --task/],
    [['--task', 'x'], /no agents: pass --agents researcher,coder/],
    [['--agents', 'researcher', '--task', 'x', '--mode', 'bogus'], /--mode.*bogus.*parallel, sequential/],
    [
      ['--agents', 'researcher', '--task', 'x', '--model', 'no-slash'],
      /--model: expected "provider\/model".*found "no-slash"/,
    ],
    [
      ['--agents', 'researcher', '--task', 'x', '--timeout', 'soon'],
      /--timeout: expected a positive number of seconds.*found "soon"/,
    ],
    [['--agents', 'researcher', '--task', 'x', '--server', 'not a url'], /--server: expected a URL.*found "not a url"/],
    [
      ['--agents', 'researcher', '--task', 'x', '--server', 'http://opencode:s3cret@127.0.0.1:1'],
      /--server: expected a URL.*no user or password in it \(set OPENCODE_SERVER_PASSWORD/,
    ],
    [['--agents', 'researcher', '--task', 'x', '--memory', 'file:'], /memory URI "file:" has no file path/],
    [['--agents', 'researcher', '--task', 'x', '--bogus-flag'], /unknown option '--bogus-flag'/],
    [
      ['--agents', 'researcher', '--task', 'x', '--log-format', 'xml'],
      /--log-format: expected one of "json", "pretty", found "xml"/,
    ],
    [['--agents', 'researcher,wizard', '--task', 'x'], /unknown agent "wizard" \(known: .*researcher/],
  ])('%j → exit 2, one clear message, no stack trace', async (args, pattern) => {
    const r = await cli(args, { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toMatch(pattern);
  });

  it.each([
    [
      ['--agents', 'reviewer', '--task', 'x', '--max-cost', 'lots'],
      '--max-cost: expected a positive amount in USD, e.g. 0.50, found "lots"',
    ],
    [
      ['--agents', 'reviewer', '--task', 'x', '--max-cost', '0'],
      '--max-cost: expected a positive amount in USD, e.g. 0.50, found "0"',
    ],
    [
      ['--agents', 'reviewer', '--task', 'x', '--max-concurrent', '1.5'],
      '--max-concurrent: expected a whole number of agents ≥ 1, found "1.5"',
    ],
    [['--agents', 'reviewer', '--task', 'x', '--memory', 'mongo://x'], 'unknown memory URI scheme "mongo:"'],
    [
      ['--agents', 'reviewer', '--task', 'x', '--optimize', 'cheap'],
      "argument 'cheap' is invalid. Allowed choices are cost, quality, balanced, speed",
    ],
    [['--agents', 'reviewer', '--task', 'x', '--fallback', 'gpt4'], '--fallback[0]: expected "provider/model"'],
    [
      ['--agents', 'reviewer', '--task', 'x', '--quiet', '--verbose'],
      "option '-q, --quiet' cannot be used with option '-v, --verbose'",
    ],
    [['--agents', 'reviewer,reviewer', '--task', 'x'], '--agents: "reviewer" is listed twice'],
  ])('%j → exit 2: %s', async (args, message) => {
    const r = await cli(args, { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toContain(message);
  });

  it('--interactive without a terminal → exit 2, says why', async () => {
    const r = await cli(['--interactive'], { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toContain('--interactive needs a terminal: stdin is not a TTY');
  });

  it('a mistyped command → exit 2 with a suggestion and the command list', async () => {
    const r = await cli(['agnets'], { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toContain("unknown command 'agnets' (Did you mean agents?)");
    expect(r.stderr).toMatch(/commands: run, agents, demo, mcp, .*completion, serve\n/);
  });

  it('run: an unknown flow lists the bundled ones; flow and --config together are refused', async () => {
    const r = await cli(['run', 'code-reveiw', '--task', 'x'], { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toContain('unknown flow "code-reveiw" (flows: api-generation, code-review, security-audit;');
    const both = await cli(['run', 'code-review', '--config', 'x.json'], { cwd: dir });
    expectUsageError(both);
    expect(both.stderr).toContain('give either a flow to run or --config, not both');
  });

  it('mcp: a bad memory URI or two namespaces → exit 2 before serving', async () => {
    const r = await cli(['mcp', '--memory', 'sqlite:'], { cwd: dir });
    expectUsageError(r);
    expect(r.stderr).toContain('invalid option --memory: memory URI "sqlite:" has no database path');
    const both = await cli(['mcp', '--flow-id', 'a', '--namespace', 'shared'], { cwd: dir });
    expectUsageError(both);
    expect(both.stderr).toContain('give either --flow-id or --namespace, not both');
  });
});

describe('help', () => {
  it.each([
    [[], /opencode-flow run code-review --task "Review src\/"/],
    [
      ['run'],
      /Flows: api-generation, code-review, security-audit[\s\S]*opencode-flow run security-audit --optimize quality/,
    ],
    [['agents'], /opencode-flow agents --json/],
    [['demo'], /npx opencode-flow demo/],
    [['mcp'], /opencode-flow mcp --memory sqlite:\.\/flow\.db --flow-id nightly/],
    [['completion'], /source <\(opencode-flow completion bash\)/],
    [['serve'], /opencode-flow serve/],
  ])('%j --help shows examples', async (cmd, example) => {
    const r = await cli([...cmd, '--help'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toMatch(example);
  });

  it('--version and -V print the version; -v is --verbose (the convention of curl, ssh and commander)', async () => {
    for (const flag of ['--version', '-V']) {
      const v = await cli([flag], { cwd: dir });
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
    const verbose = await cli(['--agents', 'reviewer', '--task', 'x', '-q', '-v'], { cwd: dir });
    expect(verbose.code).toBe(2);
    expect(verbose.stderr).toContain("cannot be used with option '-v, --verbose'");
  });

  it('cost with no stored flow says so and exits 0, as flows does (nothing found is not a usage error)', async () => {
    const empty = join(dir, 'no-flows');
    for (const cmd of ['flows', 'cost']) {
      const r = await cli([cmd, '--dir', empty], { cwd: dir });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^No stored flows in /);
    }
    const json = await cli(['cost', '--dir', empty, '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ flowId: null });
    const missing = await cli(['cost', 'flow_missing', '--dir', empty], { cwd: dir });
    expect(missing.code).toBe(2);
  });

  it('the root help lists every command and the new flags', async () => {
    const r = await cli(['--help'], { cwd: dir });
    for (const c of ['run', 'agents', 'demo', 'mcp', 'completion', 'serve'])
      expect(r.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    for (const f of [
      '--config <path>',
      '--memory <uri>',
      '-q, --quiet',
      '-v, --verbose',
      '-i, --interactive',
      '--max-concurrent <n>',
    ]) {
      expect(r.stdout).toContain(f);
    }
  });
});

describe('agents', () => {
  it('lists every preset with description, task type, floor and edit permission', async () => {
    const r = await cli(['agents'], { cwd: dir, env: { COLUMNS: '160' } });
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^│ \S/.test(l));
    const row = (name: string) => rows.find((l) => l.startsWith(`│ ${name} `))!;
    expect(row('reviewer')).toMatch(/│ review\s+│ 80\s+│ no\s+│/);
    expect(row('coder')).toMatch(/│ code\s+│ 85\s+│ yes\s+│/);
    expect(row('tester')).toMatch(/│ test\s+│ 70\s+│ only test\/\*, tests\/\*, \+12\s+│/);
    expect(row('security-auditor')).toMatch(/│ security\s+│ 85\s+│ no/);
    expect(rows.map((l) => l.split('│')[1]!.trim()).filter(Boolean)).toEqual(
      expect.arrayContaining(['architect', 'coder', 'planner', 'researcher', 'reviewer', 'security-auditor', 'tester']),
    );
  });

  it("--json, with the project's own agents from .opencode-flow/agents", async () => {
    const cwd = join(dir, 'own-agents');
    await mkdir(join(cwd, '.opencode-flow', 'agents'), { recursive: true });
    await writeFile(
      join(cwd, '.opencode-flow', 'agents', 'docs-writer.md'),
      '---\ndescription: Writes docs\npermission:\n  edit:\n    "*": deny\n    "docs/*": allow\nflow:\n  taskType: docs\n  qualityFloor: 55\n---\nYou write documentation.\n',
    );
    const r = await cli(['agents', '--json'], { cwd });
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(list.find((a) => a.name === 'docs-writer')).toEqual({
      name: 'docs-writer',
      description: 'Writes docs',
      taskType: 'docs',
      qualityFloor: 55,
      model: null,
      edit: 'only docs/*',
      source: join('.opencode-flow', 'agents', 'docs-writer.md'),
    });
    expect(list.find((a) => a.name === 'reviewer')).toMatchObject({ taskType: 'review', qualityFloor: 80, edit: 'no' });
  });
});
