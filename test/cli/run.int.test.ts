import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeClient } from '../../src/opencode/client.js';
import {
  isolatedOpencodeEnv,
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type TestOpencode,
} from '../../src/testing/index.js';
import { cli, cliArgv, memoryEnv, removeMemoryFiles, root, STACK, tempDir, type Run } from './helpers.js';

/** Flow runs as a user starts them: a child process, real OpenCode behind it, scripted LLM. */

let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  ({ dir, cleanup } = await tempDir('ocf-run-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await cleanup?.();
  await removeMemoryFiles();
});

/** A working directory with these files (e.g. flow.config.json, .env). */
async function project(name: string, files: Record<string, string>): Promise<string> {
  const p = join(dir, name);
  await mkdir(p, { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(join(p, f), text);
  return p;
}

const requestsWith = (marker: string) => llm.promptRequests().filter((q) => q.allText.includes(marker));

describe('output', () => {
  it('--json prints exactly one JSON object with the documented contract', async () => {
    llm.script({
      match: { allText: 'CLI-JSON' },
      reply: { text: 'json answer', usage: { prompt_tokens: 1000, completion_tokens: 200 } },
    });
    const r = await cli([
      '--agents',
      'researcher,reviewer',
      '--task',
      'CLI-JSON task',
      '--server',
      oc.url,
      '--model',
      'scripted/small',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!);
    expect(Object.keys(report).sort()).toEqual(['cost', 'durationMs', 'flowId', 'mode', 'results', 'status']);
    expect(report).toMatchObject({ status: 'completed', mode: 'parallel' });
    expect(report.flowId).toMatch(/^flow_/);
    expect(report.results).toHaveLength(2);
    for (const res of report.results) {
      expect(Object.keys(res).sort()).toEqual([
        'agent',
        'attempts',
        'cost',
        'model',
        'output',
        'sessionID',
        'status',
        'tokens',
      ]);
      expect(res).toMatchObject({
        status: 'done',
        output: 'json answer',
        model: 'scripted/small',
        tokens: { input: 1000, output: 200 },
      });
      expect(res.attempts).toEqual([{ model: 'scripted/small' }]);
      // 1000 in × $0.1/M + 200 out × $0.4/M, computed by OpenCode itself.
      expect(res.cost).toBeCloseTo(0.00018, 10);
    }
    expect(report.cost.total).toBeCloseTo(0.00036, 10);
    expect(report.cost.byAgent).toEqual({ researcher: report.results[0].cost, reviewer: report.results[1].cost });
    expect(report.durationMs).toBeGreaterThan(0);
  });

  it('--stream prints deltas prefixed by agent name, then the cost table', async () => {
    llm.script({ match: { allText: 'CLI-STREAM' }, reply: { text: 'line one\nline two', chunks: 6 } });
    const r = await cli(['-a', 'coder', '-t', 'CLI-STREAM', '-s', oc.url, '--model', 'scripted/small', '--stream']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[coder] line one\n[coder] line two\n');
    expect(r.stdout).toMatch(/total.*completed/);
    expect(r.stdout).toMatch(/flow flow_\S+ completed/);
  });

  it('off a terminal, progress is one plain line per step on stderr; the report and cost table on stdout', async () => {
    llm.script({
      match: { allText: 'CLI-PLAIN' },
      reply: { text: 'plain answer', usage: { prompt_tokens: 500, completion_tokens: 50 } },
    });
    const r = await cli(['-a', 'coder,tester', '-t', 'CLI-PLAIN', '-s', oc.url, '--model', 'scripted/small']);
    expect(r.code, r.stderr).toBe(0);
    for (const agent of ['coder', 'tester']) {
      expect(r.stderr).toContain(`[${agent}] prompting · scripted/small\n`);
      expect(r.stderr).toMatch(
        new RegExp(`\\[${agent}\\] done · scripted/small · 500→50 tokens · \\$0\\.000070 · \\d+\\.\\ds\\n`),
      );
    }
    // Steps without news stay out of the plain log unless --verbose.
    expect(r.stderr).not.toMatch(/spawning|cleanup|stopped/);
    expect(r.stdout).toContain('── coder · scripted/small · done\nplain answer');
    expect(r.stdout).toMatch(/│ coder\s+│ scripted\/small\s+│ done\s+│ 500\/50\s+│ \$0\.000070/);
    expect(r.stdout).not.toMatch(/prompting/);
  });

  it('--quiet prints no progress at all, only the report', async () => {
    llm.script({ match: { allText: 'CLI-QUIET' }, reply: { text: 'quiet answer' } });
    const r = await cli(['-a', 'coder', '-t', 'CLI-QUIET', '-s', oc.url, '--model', 'scripted/small', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('quiet answer');
    expect(r.stdout).toMatch(/flow flow_\S+ completed/);
  });

  it('--verbose adds the server, the flow start, every state and tool calls', async () => {
    await writeFile(join(oc.project, 'verbose.txt'), 'hello from the project\n');
    llm.script([
      {
        match: { allText: 'CLI-VERBOSE', hasToolResult: false },
        reply: { toolCalls: [{ name: 'read', arguments: { filePath: join(oc.project, 'verbose.txt') } }] },
      },
      {
        match: { allText: 'CLI-VERBOSE', hasToolResult: true },
        reply: (q) => ({ text: `read: ${q.toolResults[0]?.content.includes('hello from the project')}` }),
      },
    ]);
    const r = await cli(['-a', 'coder', '-t', 'CLI-VERBOSE', '-s', oc.url, '--model', 'scripted/small', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`OpenCode server: ${oc.url}`);
    expect(r.stderr).toMatch(/flow flow_\S+ started: coder \(parallel\)/);
    expect(r.stderr).toContain('[coder] spawning');
    expect(r.stderr).toContain('[coder] tool read completed');
    expect(r.stdout).toContain('read: true');
  });

  it("--log-format json: the progress lines are JSON log lines (serve's logger), -v lines at debug", async () => {
    llm.script({ match: { allText: 'CLI-JSONLOG' }, reply: { text: 'json log answer' } });
    const r = await cli([
      '-a',
      'coder',
      '-t',
      'CLI-JSONLOG',
      '-s',
      oc.url,
      '--model',
      'scripted/small',
      '-v',
      '--log-format',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim());
    const records = lines.map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
    expect(records.every((x) => typeof x.msg === 'string' && typeof x.time === 'string')).toBe(true);
    expect(records).toContainEqual(expect.objectContaining({ level: 'debug', msg: `OpenCode server: ${oc.url}` }));
    expect(records.some((x) => x.level === 'info' && /^\[coder\] done · scripted\/small/.test(x.msg))).toBe(true);
    expect(r.stdout).toContain('json log answer');
    // Without -v the debug lines stay out.
    const quiet = await cli(['-a', 'coder', '-t', 'CLI-JSONLOG', '-s', oc.url, '--model', 'scripted/small'], {
      env: { OPENCODE_FLOW_LOG_FORMAT: 'json' },
    });
    expect(quiet.code, quiet.stderr).toBe(0);
    const levels = quiet.stderr
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as { level: string }).level);
    expect(levels.length).toBeGreaterThan(0);
    expect(levels).not.toContain('debug');
  });
});

describe('config file and precedence', () => {
  it('modelRouter.concurrency alone caps prompts and does not turn routing on', async () => {
    const config = { agents: ['coder', 'reviewer'], task: 'CLI-CAPS', modelRouter: { concurrency: { scripted: 1 } } };
    const cwd = await project('caps', { 'flow.config.json': JSON.stringify(config) });
    llm.script({ match: { allText: 'CLI-CAPS' }, reply: { text: 'capped answer', delayMs: 400 } });
    // On OpenCode's default model: routing on (the bug) refused the unscored scripted models
    // at the quality floor before any prompt.
    const r = await cli(['--server', oc.url, '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results.map((x: { output: string }) => x.output)).toEqual([
      'capped answer',
      'capped answer',
    ]);
    // A known model is capped: one prompt of the provider at a time.
    llm.reset();
    llm.script({ match: { allText: 'CLI-CAPS' }, reply: { text: 'capped answer', delayMs: 400 } });
    const capped = await cli(['--server', oc.url, '--json', '--model', 'scripted/small'], { cwd });
    expect(capped.code, capped.stderr).toBe(0);
    expect(capped.stderr).toMatch(/\[(coder|reviewer)\] waiting for a slot of scripted \(next\)/);
    expect(requestsWith('CLI-CAPS')).toHaveLength(2);
    expect(llm.inFlight().max).toBe(1);
  });

  it('flow.config.json in the working directory: agent objects, sequential mode; flags override it', async () => {
    const config = {
      task: 'CLI-CONFIG default task',
      agents: [
        'researcher',
        { name: 'strict', preset: 'reviewer', systemPrompt: 'STRICT-PROMPT: you review strictly.' },
      ],
      coordination: { mode: 'sequential' },
      model: 'scripted/small',
    };
    const cwd = await project('config', { 'flow.config.json': JSON.stringify(config) });
    llm.script([
      { match: { allText: 'CLI-CONFIG', system: 'STRICT-PROMPT' }, reply: { text: 'strict verdict' } },
      { match: { allText: 'CLI-CONFIG' }, reply: { text: 'RESEARCH-NOTES-42' } },
    ]);
    const r = await cli(['--server', oc.url, '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.mode).toBe('sequential');
    expect(report.results.map((x: { agent: string; output: string }) => [x.agent, x.output])).toEqual([
      ['researcher', 'RESEARCH-NOTES-42'],
      ['strict', 'strict verdict'],
    ]);
    // The inline agent's own system prompt reached the model, with the earlier output.
    const strict = requestsWith('CLI-CONFIG').find((q) => q.system.includes('STRICT-PROMPT'))!;
    expect(strict.allText).toContain('RESEARCH-NOTES-42');

    const over = await cli(
      ['--server', oc.url, '--json', '--mode', 'parallel', '--agents', 'strict', '--task', 'CLI-CONFIG override'],
      { cwd },
    );
    expect(over.code, over.stderr).toBe(0);
    const o = JSON.parse(over.stdout);
    expect(o.mode).toBe('parallel');
    expect(o.results.map((x: { agent: string }) => x.agent)).toEqual(['strict']);
    expect(requestsWith('CLI-CONFIG override')).toHaveLength(1);
  });

  it('--config names the file; .env in the working directory is loaded (OPENCODE_SERVER_URL)', async () => {
    const cwd = await project('dotenv', {
      '.env': `OPENCODE_SERVER_URL=${oc.url}\n`,
      'team.json': JSON.stringify({ agents: ['coder'], model: 'scripted/small' }),
    });
    llm.script({ match: { allText: 'CLI-DOTENV' }, reply: { text: 'dotenv answer' } });
    const r = await cli(['--config', 'team.json', '--task', 'CLI-DOTENV', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Starting OpenCode server');
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({ agent: 'coder', output: 'dotenv answer' });
  });

  it("--memory picks the memory backend the agents' memory tools write to, over OPENCODE_FLOW_MEMORY", async () => {
    llm.script([
      {
        match: { allText: 'CLI-MEMORY', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_memory_set', arguments: { key: 'cli/answer', value: { n: 42 } } }] },
      },
      { match: { allText: 'CLI-MEMORY', hasToolResult: true }, reply: { text: 'stored' } },
    ]);
    const flagFile = join(dir, 'flag-memory.json');
    const envFile = join(dir, 'env-memory.json');
    const r = await cli(
      [
        '-a',
        'coder',
        '-t',
        'CLI-MEMORY',
        '-s',
        oc.url,
        '--model',
        'scripted/small',
        '--memory',
        `file:${flagFile}`,
        '--json',
      ],
      {
        env: { OPENCODE_FLOW_MEMORY: `file:${envFile}` },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results[0].output).toBe('stored');
    const stored = readFileSync(flagFile, 'utf8');
    expect(stored).toContain('cli/answer');
    expect(stored).toContain('42');
    expect(existsSync(envFile)).toBe(false);
  });

  it('modelRouter from the config routes per agent; --optimize overrides its mode', async () => {
    const scores = {
      'scripted/small': { quality: 72 },
      'scripted/medium': { quality: 84 },
      'scripted/large': { quality: 95 },
    };
    const cwd = await project('routing', {
      'flow.config.json': JSON.stringify({
        agents: ['researcher', 'reviewer'],
        modelRouter: { mode: 'cost', models: scores },
      }),
    });
    llm.script({ match: { allText: 'CLI-ROUTE' }, reply: { text: 'routed' } });
    const cost = await cli(['--task', 'CLI-ROUTE', '-s', oc.url, '--json'], { cwd });
    expect(cost.code, cost.stderr).toBe(0);
    const picks = (r: Run) =>
      Object.fromEntries(JSON.parse(r.stdout).results.map((x: { agent: string; model: string }) => [x.agent, x.model]));
    // Cheapest model meeting each floor: research 70 → small (72), review 80 → medium (84).
    expect(picks(cost)).toEqual({ researcher: 'scripted/small', reviewer: 'scripted/medium' });
    const quality = await cli(['--task', 'CLI-ROUTE', '-s', oc.url, '--json', '--optimize', 'quality'], { cwd });
    expect(picks(quality)).toEqual({ researcher: 'scripted/large', reviewer: 'scripted/large' });
  });

  it('--optimize with no model meeting the floor → exit 2 saying how to fix it', async () => {
    const r = await cli(['-a', 'reviewer', '-t', 'x', '-s', oc.url, '--optimize', 'cost']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no served model meets the review quality floor 80.*modelRouter\.floors\.review/);
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('limits', () => {
  it("--max-cost below one prompt's estimate: no prompt starts, status budget_exceeded, exit 1", async () => {
    const r = await cli([
      '-a',
      'coder',
      '-t',
      'CLI-BUDGET',
      '-s',
      oc.url,
      '--model',
      'scripted/large',
      '--max-cost',
      '0.000001',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('budget_exceeded');
    expect(requestsWith('CLI-BUDGET')).toHaveLength(0);
  });

  it('--max-concurrent 1 runs parallel agents one at a time', async () => {
    llm.script({ match: { allText: 'CLI-CONC' }, reply: { text: 'slow answer', delayMs: 1500 } });
    const r = await cli([
      '-a',
      'coder,tester',
      '-t',
      'CLI-CONC',
      '-s',
      oc.url,
      '--model',
      'scripted/small',
      '--max-concurrent',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [first, second] = requestsWith('CLI-CONC');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1400);
  });

  it('--timeout gives up on a model that never answers; exit 1 with the reason', async () => {
    llm.script({ match: { allText: 'CLI-TIMEOUT' }, reply: { hang: true } });
    const t0 = Date.now();
    const r = await cli([
      '-a',
      'coder',
      '-t',
      'CLI-TIMEOUT',
      '-s',
      oc.url,
      '--model',
      'scripted/small',
      '--timeout',
      '3',
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(40_000);
    const report = JSON.parse(r.stdout);
    expect(report.status).not.toBe('completed');
    expect(JSON.stringify(report)).toMatch(/time/i);
  });
});

describe('failures', () => {
  it('exits 1 with status failed when every agent fails', async () => {
    llm.script({ match: { allText: 'CLI-FAIL' }, reply: { status: 401, errorMessage: 'invalid api key' } });
    const r = await cli(['-a', 'coder', '-t', 'CLI-FAIL', '-s', oc.url, '--model', 'scripted/small', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('failed');
    expect(report.results[0].status).toBe('failed');
    expect(report.results[0].attempts[0].error).toBeTruthy();
  });

  it('one agent of two fails: the flow completes (the other went on), its reason names the lost agent, exit 1', async () => {
    llm.script([
      {
        match: { allText: 'CLI-ONE-LOST', system: 'You are the **coder**' },
        reply: { status: 401, errorMessage: 'bad key' },
      },
      { match: { allText: 'CLI-ONE-LOST' }, reply: { text: 'reviewed' } },
    ]);
    const r = await cli([
      '-a',
      'coder,reviewer',
      '-t',
      'CLI-ONE-LOST',
      '-s',
      oc.url,
      '--model',
      'scripted/small',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('completed');
    expect(report.results.map((x: { agent: string; status: string }) => [x.agent, x.status])).toEqual([
      ['coder', 'failed'],
      ['reviewer', 'done'],
    ]);
    expect(report.reason).toMatch(/^1 of 2 agents failed: coder \([a-z_]+\)$/);
  });

  it('Ctrl-C (SIGINT) cancels the flow, exits 130, sessions aborted', async () => {
    llm.script({ match: { allText: 'CLI-SIGINT' }, reply: { hang: true } });
    const client = new OpencodeClient({ url: oc.url });
    let signalled = false;
    const r = await new Promise<Run>((resolveRun) => {
      const child = spawn(
        process.execPath,
        cliArgv([
          '-a',
          'coder,tester',
          '-t',
          'CLI-SIGINT',
          '-s',
          oc.url,
          '--model',
          'scripted/small',
          '--json',
          '--keep-sessions',
        ]),
        {
          cwd: root,
          env: { ...process.env, OPENCODE_SERVER_URL: '', ...memoryEnv() },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const poll = setInterval(() => {
        if (!signalled && requestsWith('CLI-SIGINT').length >= 2) {
          signalled = true;
          child.kill('SIGINT');
        }
      }, 100);
      child.on('close', (code) => {
        clearInterval(poll);
        resolveRun({ code, stdout, stderr });
      });
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(130);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('cancelled');
    const status = await client.status();
    for (const res of report.results) expect(status[res.sessionID]).toBeUndefined();
  });

  it('a model the server lacks → exit 2 naming it', async () => {
    const r = await cli(['--agents', 'coder', '--task', 'x', '--server', oc.url, '--model', 'scripted/huge']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model "scripted\/huge" is not served.*scripted\/small/);
  });

  it('an unreachable server → exit 1, one line', async () => {
    const r = await cli(['--agents', 'coder', '--task', 'x', '--server', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/OpenCode server at http:\/\/127\.0\.0\.1:9 is not reachable/);
  });

  it('with no server and no provider credentials, fails fast with how to configure one', async () => {
    const { dir: home, cleanup: rmHome } = await tempDir('ocf-noprov-');
    try {
      const t0 = Date.now();
      const r = await cli(['--agents', 'coder', '--task', 'x'], {
        cwd: home,
        env: { ...isolatedOpencodeEnv(home), ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' },
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no model provider is configured.*opencode auth login.*opencode-flow demo/);
      expect(r.stderr).not.toMatch(STACK);
      expect(Date.now() - t0).toBeLessThan(45_000);
    } finally {
      await rmHome();
    }
  });
});
