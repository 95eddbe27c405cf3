import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { cli, removeMemoryFiles, root, tempDir } from './helpers.js';

/**
 * Every `opencode-flow` command in the README and the example READMEs, run as written (from
 * the source CLI), against real OpenCode: flow runs get `--server` of a test server added,
 * the demo runs exactly as written. Also the README's sample error output, verbatim.
 */

const DOCS = [
  'README.md',
  'examples/code-review/README.md',
  'examples/api-generation/README.md',
  'examples/security-audit/README.md',
];

interface DocCommand {
  doc: string;
  line: string;
  cwd: string;
  args: string[];
  /** `> file`: the output is captured, not shown. */
  redirected: boolean;
}

/** Splits a shell command line into words (double and single quotes). */
function shellWords(s: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of s.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** The runnable `opencode-flow` lines of the docs' bash blocks (templates with <…> are not). */
function docCommands(): DocCommand[] {
  const seen = new Set<string>();
  const out: DocCommand[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const block of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
      for (const raw of block[1]!.split('\n')) {
        const line = raw.replace(/\s+#\s.*$/, '').trim();
        const m = /^(?:cd (\S+) && )?(?:npx )?opencode-flow (.*)$/.exec(line);
        if (!m || line.includes('<')) continue;
        let rest = m[2]!;
        const redirected = / > \S+$/.test(rest);
        rest = rest.replace(/ > \S+$/, '');
        const cwd = m[1] ? join(root, m[1]) : root;
        const key = `${cwd}\0${rest}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ doc, line, cwd, args: shellWords(rest), redirected });
      }
    }
  }
  return out;
}

const commands = docCommands();

let llm: ScriptedLLM;
let oc: TestOpencode;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted README answer' } });
  // Model ids the router's quality table knows, so the example flows' routing finds models.
  oc = await startTestOpencode({
    baseURL: llm.baseURL,
    models: [
      { id: 'gemini-2.5-flash', cost: { input: 0.1, output: 0.4 } },
      { id: 'deepseek-chat', cost: { input: 0.27, output: 1.1 } },
      { id: 'claude-sonnet-4', cost: { input: 3, output: 15 } },
    ],
    defaultModel: 'gemini-2.5-flash',
  });
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await removeMemoryFiles();
});

/**
 * A documented `serve` line, as written but on a free port (`--port 0`) and the test server:
 * it listens, answers its health checks and the dashboard, runs a flow posted to it, and
 * exits 0 on SIGTERM.
 */
async function runServe(c: DocCommand) {
  const args = c.args.map((a, i) => (c.args[i - 1] === '--port' || c.args[i - 1] === '-p' ? '0' : a));
  let url: string | undefined;
  let checked: Promise<void> | undefined;
  const r = await cli([...args, '--server', oc.url], {
    cwd: c.cwd,
    timeoutMs: 120_000,
    onOutput: (all, kill) => {
      url ??= /listening on (http:\/\/\S+)/.exec(all)?.[1];
      if (!url || checked) return;
      const base = url;
      checked = (async () => {
        try {
          expect((await fetch(`${base}/healthz`)).status).toBe(200);
          expect((await fetch(`${base}/readyz`)).status).toBe(200);
          expect(await (await fetch(`${base}/`)).text()).toMatch(/<html/i);
          const posted = await fetch(`${base}/flows`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ task: 'Review src/', agents: ['reviewer'] }),
          });
          expect(posted.status).toBe(202);
          const { id } = (await posted.json()) as { id: string };
          // Polled until it is no longer running (a deadline, not a fixed sleep).
          let status = 'running';
          await vi.waitFor(
            async () => {
              status = ((await (await fetch(`${base}/flows/${id}`)).json()) as { status: string }).status;
              expect(status).not.toBe('running');
            },
            { timeout: 60_000, interval: 50 },
          );
          expect(status).toBe('completed');
        } finally {
          kill('SIGTERM');
        }
      })();
      checked.catch(() => {}); // awaited below, once the process has exited
    },
  });
  expect(url, r.stderr).toBeDefined();
  await checked;
  expect(r.stderr, r.stderr).not.toMatch(/opencode-flow: error|\n\s+at /);
  expect(r.code, r.stderr).toBe(0);
}

describe('README commands', () => {
  it('the docs have the commands this test runs', () => {
    const lines = commands.map((c) => c.line);
    expect(lines).toContain('npx opencode-flow demo');
    expect(lines).toContain('opencode-flow run code-review --task "Review src/"');
    expect(lines.some((l) => l.startsWith('npx opencode-flow --agents researcher,coder,reviewer'))).toBe(true);
    expect(lines).toContain('opencode-flow serve --port 5000');
    expect(lines.some((l) => l.endsWith('--inspect'))).toBe(true);
    expect(commands.length).toBeGreaterThanOrEqual(8);
  });

  it.each(commands.map((c) => [`${c.doc}: ${c.line}`, c] as const))(
    '%s',
    async (_name, c) => {
      if (c.args[0] === 'serve') return runServe(c);
      const demo = c.args[0] === 'demo';
      const args = demo ? c.args : [...c.args, '--server', oc.url];
      const r = await cli(args, { cwd: c.cwd, timeoutMs: 240_000 });
      // Our CLI prints no error, whatever else is on stderr.
      expect(r.stderr, r.stderr).not.toMatch(/opencode-flow: error|\n\s+at /);
      expect(r.code, r.stderr).toBe(0);
      if (demo) expect(r.stdout).toContain('scripted model — no API key used');
      if (c.redirected) expect(JSON.parse(r.stdout).status).toBe('completed');
      else if (!demo) expect(r.stdout).toMatch(/flow flow_\S+ completed/);
      if (c.args.includes('--inspect'))
        expect(r.stderr).toMatch(/Inspector: open http:\/\/127\.0\.0\.1:\d+ .*WebSocket ws:\/\/127\.0\.0\.1:\d+/);
    },
    240_000,
  );

  it("the README's sample error output is what the CLI prints for that config", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const sample = /A bad value stops the run[^\n]*\n\n```\n([\s\S]*?)```/.exec(readme)![1]!;
    const { dir, cleanup } = await tempDir('ocf-readme-');
    try {
      const cwd = join(dir, 'project');
      await mkdir(cwd);
      await writeFile(
        join(cwd, 'flow.config.json'),
        JSON.stringify({
          agents: ['researcher', { name: 'coder', model: 'gpt4' }],
          coordination: { mode: 'paralel', timout: 900 },
        }),
      );
      const r = await cli(['--task', 'x'], { cwd });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(sample);
    } finally {
      await cleanup();
    }
  });
});
