import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress, followStart, STILL_WAITING_MS, type ProgressClock } from '../../src/cli/progress.js';
import { OpencodeFlow } from '../../src/flow/index.js';
import {
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startScriptedLLM,
  type ScriptedLLM,
} from '../../src/testing/index.js';
import type { IPty } from 'node-pty';
import { childEnv, cliArgv, tempDir } from './helpers.js';

/**
 * What a run shows while OpenCode starts, from the real start path: a real embedded
 * `opencode serve` (scripted provider) whose phases drive the line-by-line display. The clock is
 * the test's: at each phase it moves on 10.5 s and ticks, so every phase gets its "still
 * waiting" line with known figures and nothing sleeps.
 */
let llm: ScriptedLLM;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'start answer' } });
  ({ dir, cleanup } = await tempDir('ocf-start-progress-'));
});

afterAll(async () => {
  await llm?.close();
  await cleanup?.();
});

/** A clock the test moves and ticks by hand. */
function manualClock() {
  let now = 1_000_000;
  const ticks = new Set<() => void>();
  const clock: ProgressClock = {
    now: () => now,
    every(_ms, fn) {
      ticks.add(fn);
      return () => ticks.delete(fn);
    },
  };
  return {
    clock,
    advance(ms: number) {
      now += ms;
      for (const fn of [...ticks]) fn();
    },
    ticking: () => ticks.size,
  };
}

describe('the start of an embedded OpenCode server, line by line', () => {
  it('prints each phase of the real start with its elapsed time, a "still waiting" line after 10 s, then ready', async () => {
    const m = manualClock();
    let out = '';
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    const progress = await createProgress(
      { json: false, stream: false, quiet: false, verbose: false },
      stream,
      m.clock,
    );
    const flow = new OpencodeFlow({
      directory: dir,
      opencodeConfig: scriptedOpencodeConfig({ baseURL: llm.baseURL }),
      serverEnv: isolatedOpencodeEnv(join(dir, 'home')),
      memory: `file:${join(dir, 'memory.json')}`,
    });
    const phases: string[] = [];
    followStart(flow, progress);
    // After the display has seen a phase: 10.5 s pass in it.
    flow.on('host.starting', (e) => {
      phases.push(e.phase);
      if (e.phase !== 'ready') m.advance(STILL_WAITING_MS + 500);
    });
    try {
      await flow.start();
    } finally {
      await flow.shutdown();
    }
    expect(phases).toEqual([
      'memory',
      'server.spawn',
      'server.listen',
      'server.health',
      'project',
      'providers',
      'ready',
    ]);
    expect(out.split('\n')).toEqual([
      'connecting memory… (0.0s)',
      'still waiting: connecting memory (10s)',
      'starting the OpenCode binary… (10.5s)',
      'still waiting: starting the OpenCode binary (10s)',
      'waiting for the OpenCode server to listen… (21.0s)',
      'still waiting: waiting for the OpenCode server to listen (10s)',
      'waiting for the OpenCode server to answer… (31.5s)',
      'still waiting: waiting for the OpenCode server to answer (10s)',
      'booting the project in OpenCode… (42.0s)',
      'still waiting: booting the project in OpenCode (10s)',
      'checking providers… (52.5s)',
      'still waiting: checking providers (10s)',
      'OpenCode is ready (63.0s)',
      '',
    ]);
    // Ready: nothing ticks any more.
    expect(m.ticking()).toBe(0);
  }, 120_000);
});

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

describe('the start on a terminal', () => {
  it('`demo` shows a spinner with the phase and its elapsed time, then "OpenCode is ready"', async () => {
    const pty = await import('node-pty');
    const env = childEnv({ CI: undefined, TERM: 'xterm-256color', HOME: join(dir, 'demo-home') }) as Record<
      string,
      string
    >;
    const term: IPty = pty.spawn(process.execPath, cliArgv(['demo']), { cols: 160, rows: 40, cwd: dir, env });
    let raw = '';
    term.onData((d) => (raw += d));
    const code = await new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    const text = raw.replace(ANSI, '').replace(/\r/g, '\n');
    expect(code, text).toBe(0);
    // The spinner's text: the phase, its own elapsed time and the start's. The server's wait to
    // listen is the long one (minutes on a first start): its clock ticks on screen. (Phases
    // shorter than a frame, such as spawning the binary, may never be painted.)
    const listen = [
      ...text.matchAll(/waiting for the OpenCode server to listen… (\d+\.\d)s \(starting OpenCode: \d+\.\ds\)/g),
    ].map((x) => x[1]);
    expect(new Set(listen).size, text.slice(0, 3000)).toBeGreaterThan(1);
    expect(text).toMatch(/(connecting memory|booting the project in OpenCode|checking providers)… \d+\.\ds/);
    // Redrawn in place while it waits (cursor moves, not a log), then persisted as done.
    expect(raw).toMatch(/\x1b\[(0|2)?K/);
    expect(text).toMatch(/✔ OpenCode is ready \(\d+\.\ds\)/);
    expect(text.indexOf('OpenCode is ready')).toBeLessThan(text.indexOf('── researcher'));
    // No plain phase lines on a terminal.
    expect(text).not.toMatch(/^starting the OpenCode binary… \(\d+\.\ds\)$/m);
  }, 180_000);
});
