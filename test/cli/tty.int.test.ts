import type { IPty } from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { childEnv, cliArgv, removeMemoryFiles, root } from './helpers.js';

/**
 * The CLI on a terminal: the live progress display and --interactive, driven through a real
 * pseudo-terminal (node-pty) against real OpenCode with a scripted model.
 */

let llm: ScriptedLLM;
let oc: TestOpencode;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted tty answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await removeMemoryFiles();
});

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

/** The CLI in a pseudo-terminal; `text()` is its output without escape sequences. */
async function terminal(args: string[]) {
  const pty = await import('node-pty');
  const env = childEnv({ CI: undefined, TERM: 'xterm-256color', NO_COLOR: '1' }) as Record<string, string>;
  const term: IPty = pty.spawn(process.execPath, cliArgv(args), { cols: 140, rows: 40, cwd: root, env });
  let raw = '';
  term.onData((d) => (raw += d));
  const exit = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
  const text = () => raw.replace(ANSI, '').replace(/\r/g, '');
  const waitFor = async (what: RegExp | string, ms = 60_000) => {
    const t0 = Date.now();
    const hit = () => (typeof what === 'string' ? text().includes(what) : what.test(text()));
    while (!hit()) {
      if (Date.now() - t0 > ms) throw new Error(`terminal: no ${what} in:\n${text().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { term, raw: () => raw, text, waitFor, exit };
}

describe('live progress on a terminal', () => {
  it('redraws one line per agent in place (state, model, tokens, cost, elapsed), then leaves the final state', async () => {
    llm.script({
      match: { allText: 'CLI-TTY' },
      reply: {
        text: 'a streamed answer, slowly, in many pieces',
        chunks: 20,
        chunkDelayMs: 120,
        usage: { prompt_tokens: 800, completion_tokens: 90 },
      },
    });
    const t = await terminal(['-a', 'coder,tester', '-t', 'CLI-TTY', '-s', oc.url, '--model', 'scripted/small']);
    expect(await t.exit, t.text()).toBe(0);
    const raw = t.raw();
    // In place: cursor up and erase line, not a scrolling log.
    expect(raw).toMatch(/\x1b\[1A/);
    expect(raw).toMatch(/\x1b\[(0|2)?K/);
    const text = t.text();
    // While streaming: the state from the agent machine and the characters so far.
    expect(text).toMatch(/coder\s+streaming\s+scripted\/small\s+\d+ chars\s+\d+\.\ds/);
    // The header's elapsed time ticks between redraws.
    const elapsed = new Set([...text.matchAll(/finished · \$[\d.]+ · (\d+\.\d)s/g)].map((m) => m[1]).filter(Boolean));
    expect(elapsed.size).toBeGreaterThan(1);
    // What stays on screen: the finished block, then the report on stdout.
    const final = text.slice(text.lastIndexOf('✔ flow flow_'));
    expect(final).toMatch(/^✔ flow flow_\S+ · parallel · 2\/2 finished · \$0\.000\d+ · \d+\.\ds\n/);
    for (const agent of ['coder', 'tester']) {
      expect(final).toMatch(
        new RegExp(`  ✔ ${agent}\\s+done\\s+scripted/small\\s+800→90 tok\\s+\\$0\\.000116\\s+\\d+\\.\\ds\\n`),
      );
    }
    expect(final).toMatch(/│ coder\s+│ scripted\/small\s+│ done/);
    // No plain per-step log lines on a terminal.
    expect(text).not.toContain('[coder] prompting');
  }, 120_000);
});

describe('--interactive', () => {
  it('asks for task, agents, mode, routing and budget, then runs what was chosen', async () => {
    llm.script({ match: { allText: 'CLI-INTERACTIVE' }, reply: { text: 'INTERACTIVE-OUTPUT' } });
    const t = await terminal(['--interactive', '-s', oc.url, '--model', 'scripted/small']);
    try {
      await t.waitFor('Task for the agents:');
      t.term.write('CLI-INTERACTIVE task\r');
      await t.waitFor('Agents (space to select, enter to confirm):');
      // Presets in name order: architect, coder, planner, researcher, reviewer, ...
      t.term.write('\x1b[B '); // coder
      t.term.write('\x1b[B\x1b[B\x1b[B '); // reviewer
      await t.waitFor(/◉ reviewer/);
      t.term.write('\r');
      await t.waitFor('How should they work together?');
      t.term.write('\x1b[B\r'); // sequential
      await t.waitFor('Model routing:');
      t.term.write('\r'); // none
      await t.waitFor('Budget in USD (empty for none):');
      t.term.write('lots\r');
      await t.waitFor('Enter an amount such as 0.50, or nothing');
      t.term.write('\x7f\x7f\x7f\x7f0.5\r');
      expect(await t.exit, t.text()).toBe(0);
    } finally {
      t.term.kill();
    }
    const text = t.text();
    expect(text).toContain('── coder · scripted/small · done\nINTERACTIVE-OUTPUT');
    expect(text).toContain('── reviewer · scripted/small · done');
    expect(text).not.toMatch(/── (architect|planner|researcher|tester) /);
    const reqs = llm.promptRequests().filter((q) => q.allText.includes('CLI-INTERACTIVE task'));
    expect(reqs).toHaveLength(2);
    // Sequential: the reviewer was given the coder's output.
    expect(reqs[1]!.allText).toContain('INTERACTIVE-OUTPUT');
  }, 120_000);

  it("run <flow> --interactive offers the flow's own task and agents as the defaults", async () => {
    const t = await terminal(['run', 'security-audit', '--interactive', '-s', oc.url]);
    try {
      await t.waitFor(/Task for the agents: \(Audit this service for security vulnerabilities/);
      t.term.write('\r');
      await t.waitFor('Agents (space to select, enter to confirm):');
      await t.waitFor(/◉ dependency-auditor \(from the config\)/);
      expect(t.text()).toMatch(/◉ security-auditor/);
      expect(t.text()).toMatch(/◯ reviewer/);
      t.term.write('\x03');
      expect(await t.exit).toBe(130);
    } finally {
      t.term.kill();
    }
  }, 60_000);

  it('Ctrl-C at a prompt exits 130 without a stack trace', async () => {
    const t = await terminal(['--interactive', '-s', oc.url]);
    await t.waitFor('Task for the agents:');
    t.term.write('\x03');
    expect(await t.exit).toBe(130);
    expect(t.text()).toContain('opencode-flow: error: cancelled');
    expect(t.text()).not.toMatch(/\n\s+at .+:\d+:\d+/);
  }, 60_000);
});
