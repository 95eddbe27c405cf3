import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';
import { childEnv, cliArgv, root } from './helpers.js';

/** On a terminal, the CLI asks the person when an agent needs a permission, and goes on. */
const env = useScriptedOpencode();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocf-input-tty-'));
  await writeFile(
    join(dir, 'flow.config.json'),
    JSON.stringify({
      agents: [{ name: 'runner', agent: 'build', permissions: { bash: 'ask' } }],
      task: 'TTY-ASK: run the marker',
    }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

describe('permission prompt on a terminal', () => {
  it('shows the request without breaking the display, takes the answer, the tool runs', async () => {
    env.llm.script([
      {
        match: { allText: 'TTY-ASK', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo TTY-ASK-RAN', description: 'marker' } }] },
      },
      {
        match: { allText: 'TTY-ASK', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${req.toolResults.at(-1)?.content ?? ''}` }),
      },
    ]);
    const pty = await import('node-pty');
    const e = childEnv({
      CI: undefined,
      TERM: 'xterm-256color',
      NO_COLOR: '1',
      OPENCODE_FLOW_MEMORY: `file:${join(dir, 'mem.json')}`,
    }) as Record<string, string>;
    const term: IPty = pty.spawn(
      process.execPath,
      cliArgv(['--config', join(dir, 'flow.config.json'), '-s', env.oc.url, '--model', 'scripted/small']),
      { cols: 140, rows: 40, cwd: root, env: e },
    );
    let raw = '';
    term.onData((d) => (raw += d));
    const exit = new Promise<number>((r) => term.onExit((x) => r(x.exitCode)));
    const text = () => raw.replace(ANSI, '').replace(/\r/g, '');
    const t0 = Date.now();
    while (!text().includes('runner asks to use bash: echo TTY-ASK-RAN')) {
      if (Date.now() - t0 > 60_000) throw new Error(`no permission prompt in:\n${text().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(text()).toContain('Allow once');
    term.write('\r'); // the first choice: allow once
    expect(await exit, text()).toBe(0);
    expect(text()).toContain('tool said:');
    expect(text()).toContain('TTY-ASK-RAN');
  }, 120_000);
});
