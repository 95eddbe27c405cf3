import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedOpencodeEnv } from '../../src/testing/index.js';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';
import { childEnv, cli, cliArgv, removeMemoryFiles, root, tempDir } from './helpers.js';

/**
 * `--interactive` on a real pseudo-terminal (node-pty): the provider pre-flight comes before
 * any question, and the mode question offers every mode `--mode` accepts.
 */
const env = useScriptedOpencode({ llm: { fallback: { text: 'interactive answer' } } });
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('ocf-interactive-'));
});

afterAll(async () => {
  await cleanup?.();
  await removeMemoryFiles();
});

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

async function terminal(args: string[], o: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const pty = await import('node-pty');
  const e = childEnv({ CI: undefined, TERM: 'xterm-256color', NO_COLOR: '1', ...o.env }) as Record<string, string>;
  const term: IPty = pty.spawn(process.execPath, cliArgv(args), { cols: 160, rows: 40, cwd: o.cwd ?? root, env: e });
  let raw = '';
  term.onData((d) => (raw += d));
  const exit = new Promise<number>((r) => term.onExit((x) => r(x.exitCode)));
  const text = () => raw.replace(ANSI, '').replace(/\r/g, '');
  const waitFor = async (what: RegExp | string | ((text: string) => boolean), ms = 60_000) => {
    const t0 = Date.now();
    const hit = () =>
      typeof what === 'string' ? text().includes(what) : typeof what === 'function' ? what(text()) : what.test(text());
    while (!hit()) {
      if (Date.now() - t0 > ms) throw new Error(`terminal: no ${what} in:\n${text().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { term, text, waitFor, exit };
}

describe('--interactive', () => {
  it(
    "on a machine with no provider, fails with the run's own error before any question and keeps no server warm",
    { timeout: 180_000 },
    async () => {
      const project = join(dir, 'no-provider');
      await mkdir(project, { recursive: true });
      const noProvider = {
        ...isolatedOpencodeEnv(join(dir, 'home')),
        ANTHROPIC_API_KEY: undefined,
        OPENAI_API_KEY: undefined,
        OPENROUTER_API_KEY: undefined,
        GEMINI_API_KEY: undefined,
        GOOGLE_GENERATIVE_AI_API_KEY: undefined,
        // A user's default: the pre-flight's server is the warm one the run would attach to.
        OPENCODE_FLOW_KEEP_WARM: undefined,
      };
      const t = await terminal(['--interactive'], { cwd: project, env: noProvider });
      let code: number | undefined;
      void t.exit.then((c) => (code = c));
      try {
        // Whichever comes first: the exit, or a question (the failure this guards against).
        await t.waitFor((s) => code !== undefined || s.includes('Task for the agents:'), 120_000);
      } finally {
        t.term.kill();
      }
      expect(t.text()).not.toContain('Task for the agents:');
      expect(code, t.text()).toBe(2);
      expect(t.text()).toContain('opencode-flow: error: no model provider is configured for OpenCode');
      expect(t.text()).not.toContain('Task for the agents:');
      const status = await cli(['server', 'status', '--json'], { cwd: project, env: noProvider });
      expect(JSON.parse(status.stdout)).toEqual([]);
    },
  );

  it(
    'offers every --mode (parallel, sequential, hierarchical) and runs the one chosen',
    { timeout: 180_000 },
    async () => {
      const t = await terminal([
        '--interactive',
        '-a',
        'coder',
        '-s',
        env.oc.url,
        '--model',
        'scripted/small',
        '--json',
      ]);
      try {
        await t.waitFor('Task for the agents:');
        t.term.write('CLI-INTERACTIVE-MODE task\r');
        await t.waitFor('Agents (space to select, enter to confirm):');
        await t.waitFor(/◉ coder/);
        t.term.write('\r');
        await t.waitFor('How should they work together?');
        await t.waitFor('hierarchical');
        const menu = t.text().slice(t.text().lastIndexOf('How should they work together?'));
        expect(menu).toMatch(/parallel[\s\S]*sequential[\s\S]*hierarchical/);
        t.term.write('\x1b[B\x1b[B');
        await t.waitFor('a planner splits the task into subtasks');
        t.term.write('\r'); // hierarchical
        await t.waitFor('Model routing:');
        t.term.write('\r');
        await t.waitFor('Budget in USD (empty for none):');
        t.term.write('\r');
        await t.waitFor(/"mode":"hierarchical"/, 120_000);
        await t.exit;
      } finally {
        t.term.kill();
      }
      expect(t.text()).toMatch(/"mode":"hierarchical"/);
    },
  );
});
