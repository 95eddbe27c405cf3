import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeClient } from '../../src/opencode/client.js';
import { isolatedOpencodeEnv, startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/** The CLI as a user runs it: a child process, real OpenCode behind it, scripted LLM. */
const root = resolve(import.meta.dirname, '../..');
const cliSource = join(root, 'src/cli/index.ts');
// Each CLI process gets its own memory file: the file backend is single-process.
let memSeq = 0;
const memoryEnv = () => ({ OPENCODE_FLOW_MEMORY: `file:${join(tmpdir(), `ocf-cli-mem-${process.pid}-${++memSeq}.json`)}` });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { env?: Record<string, string>; onStdout?: (s: string, kill: (sig: NodeJS.Signals) => void) => void } = {}): Promise<Run> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliSource, ...args], {
      cwd: root,
      env: { ...process.env, OPENCODE_SERVER_URL: '', NO_COLOR: '1', ...memoryEnv(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (sig) => child.kill(sig));
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      opts.onStdout?.(stderr, (sig) => child.kill(sig));
    });
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

let llm: ScriptedLLM;
let oc: TestOpencode;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
});

describe('opencode-flow CLI', () => {
  it('--json prints exactly one JSON object with the documented contract', async () => {
    llm.script({ match: { allText: 'CLI-JSON' }, reply: { text: 'json answer', usage: { prompt_tokens: 1000, completion_tokens: 200 } } });
    const r = await cli(['--agents', 'researcher,reviewer', '--task', 'CLI-JSON task', '--server', oc.url, '--model', 'scripted/small', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!);
    expect(Object.keys(report).sort()).toEqual(['cost', 'durationMs', 'flowId', 'mode', 'results', 'status']);
    expect(report).toMatchObject({ status: 'completed', mode: 'parallel' });
    expect(report.flowId).toMatch(/^flow_/);
    expect(report.results).toHaveLength(2);
    for (const res of report.results) {
      expect(Object.keys(res).sort()).toEqual(['agent', 'attempts', 'cost', 'model', 'output', 'sessionID', 'status', 'tokens']);
      expect(res).toMatchObject({ status: 'done', output: 'json answer', model: 'scripted/small', tokens: { input: 1000, output: 200 } });
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
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[coder] line one\n[coder] line two\n');
    expect(r.stdout).toMatch(/total.*completed/);
    expect(r.stdout).toMatch(/flow flow_\S+ completed/);
  });

  it('exits 1 with status failed when every agent fails', async () => {
    llm.script({ match: { allText: 'CLI-FAIL' }, reply: { status: 401, errorMessage: 'invalid api key' } });
    const r = await cli(['-a', 'coder', '-t', 'CLI-FAIL', '-s', oc.url, '--model', 'scripted/small', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('failed');
    expect(report.results[0].status).toBe('failed');
    expect(report.results[0].attempts[0].error).toBeTruthy();
  });

  it('Ctrl-C (SIGINT) cancels the flow, exits 130, sessions aborted', async () => {
    llm.script({ match: { allText: 'CLI-SIGINT' }, reply: { hang: true } });
    const client = new OpencodeClient({ url: oc.url });
    let signalled = false;
    const r = await new Promise<Run>((resolveRun) => {
      const child = spawn(process.execPath, ['--import', 'tsx', cliSource, '-a', 'coder,tester', '-t', 'CLI-SIGINT', '-s', oc.url, '--model', 'scripted/small', '--json', '--keep-sessions'], {
        cwd: root,
        env: { ...process.env, OPENCODE_SERVER_URL: '', ...memoryEnv() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const poll = setInterval(async () => {
        const hung = llm.promptRequests().filter((q) => q.allText.includes('CLI-SIGINT')).length;
        if (!signalled && hung >= 2) {
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

  it.each([
    [['--agents', 'researcher'], /task/],
    [['--task', 'x'], /agents/],
    [['--agents', 'researcher', '--task', 'x', '--mode', 'bogus'], /--mode.*bogus.*parallel, sequential/],
    [['--agents', 'researcher', '--task', 'x', '--model', 'no-slash'], /model.*provider\/model/],
    [['--agents', 'researcher', '--task', 'x', '--timeout', 'soon'], /timeout.*seconds/],
    [['--agents', 'researcher', '--task', 'x', '--server', 'not a url'], /server.*URL/],
    [['--agents', 'researcher', '--task', 'x', '--bogus-flag'], /unknown option '--bogus-flag'/],
  ])('bad flags %j → exit 2, one clear line, no stack trace', async (args, pattern) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(r.stdout).toBe('');
  });

  it('an unknown agent name → exit 2 naming the agent and the known ones', async () => {
    const r = await cli(['--agents', 'researcher,wizard', '--task', 'x', '--server', oc.url, '--model', 'scripted/small']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown agent "wizard" \(known: .*researcher/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
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
    const home = await mkdtemp(join(tmpdir(), 'ocf-noprov-'));
    try {
      const t0 = Date.now();
      const r = await cli(['--agents', 'coder', '--task', 'x'], { env: { ...isolatedOpencodeEnv(home), ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no model provider is configured.*opencode auth login/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(Date.now() - t0).toBeLessThan(45_000);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('--help shows examples; --version prints the version', async () => {
    const h = await cli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:/);
    expect(h.stdout).toMatch(/--agents <names>/);
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('README commands', () => {
  it('the README run command works against a configured server (npx, built package)', async () => {
    const readme = await import('node:fs/promises').then((fs) => fs.readFile(join(root, 'README.md'), 'utf8'));
    const line = readme.split('\n').find((l) => l.startsWith('npx opencode-flow '))!;
    expect(line).toBeTruthy();
    const command = line.replace(/\s+#.*$/, '');
    // Same command, plus the server to attach to (the README's default embeds one).
    const r = await new Promise<Run>((resolveRun) => {
      const child = spawn('sh', ['-c', `${command} --server ${oc.url} --model scripted/small`], {
        cwd: root,
        env: { ...process.env, OPENCODE_SERVER_URL: '', ...memoryEnv() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    });
    // npm itself may warn about the machine's npmrc; our CLI must print no error.
    expect(r.stderr, r.stderr).not.toMatch(/opencode-flow: error|\n\s+at /);
    expect(r.code).toBe(0);
    for (const agent of ['researcher', 'coder', 'reviewer']) expect(r.stdout).toContain(`── ${agent} · scripted/small · done`);
    expect(r.stdout).toMatch(/flow flow_\S+ completed/);
  }, 180_000);
});
