import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive } from '../../src/opencode/warm.js';
import { isolatedOpencodeEnv } from '../../src/testing/index.js';
import { cli, removeMemoryFiles, STACK, tempDir } from './helpers.js';

/**
 * A first run on a machine with no model provider: the real CLI, the real `opencode serve`
 * under its warm keeper, a fresh HOME with nothing configured and no provider key.
 */
let project: string;
let cleanup: () => Promise<void>;
let env: Record<string, string | undefined>;

const noKeys = {
  ANTHROPIC_API_KEY: undefined,
  OPENAI_API_KEY: undefined,
  OPENROUTER_API_KEY: undefined,
  GEMINI_API_KEY: undefined,
  GOOGLE_GENERATIVE_AI_API_KEY: undefined,
};

beforeAll(async () => {
  const t = await tempDir('ocf-first-run-');
  cleanup = t.cleanup;
  project = join(t.dir, 'project');
  await mkdir(project, { recursive: true });
  // The warm default of a user's run (300 s), not the helpers' OPENCODE_FLOW_KEEP_WARM=0.
  env = { ...isolatedOpencodeEnv(join(t.dir, 'home')), ...noKeys, OPENCODE_FLOW_KEEP_WARM: undefined };
});

afterAll(async () => {
  await cli(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
  await cleanup?.();
  await removeMemoryFiles();
});

describe('a first run with no provider', () => {
  it('fails its pre-flight with exit 2 and leaves no warm OpenCode server behind', { timeout: 240_000 }, async () => {
    const r = await cli(['-a', 'researcher', '-t', 'FIRST-RUN', '--verbose'], {
      cwd: project,
      env,
      timeoutMs: 180_000,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('opencode-flow: error: no model provider is configured for OpenCode');
    expect(r.stderr).not.toMatch(STACK);
    // The run did start a warm server for itself…
    const started = /started a warm OpenCode server \S+ \(pid (\d+)\)/.exec(r.stderr);
    expect(started, r.stderr).not.toBeNull();
    expect(alive(Number(started![1])), `opencode serve pid ${started![1]}`).toBe(false);
    const status = await cli(['server', 'status', '--json'], { cwd: project, env });
    expect(status.code, status.stderr).toBe(0);
    // …and stopped it: nothing listed, no process left, nothing said about a server left running.
    expect(JSON.parse(status.stdout)).toEqual([]);
    expect(r.stderr).not.toContain('server stop');
    const text = await cli(['server', 'status'], { cwd: project, env });
    expect(text.stdout).toContain('No warm OpenCode server for this project.');
  });

  it(
    'a warm server that was there before the run is left, and the run says in one line what is left and how to stop it',
    { timeout: 240_000 },
    async () => {
      // A run whose pre-flight passes (a model of OpenCode's own provider named) leaves its warm
      // server; the model is not served, so nothing is prompted and no network is used.
      const first = await cli(['-a', 'researcher', '-t', 'FIRST-RUN-2', '--model', 'opencode/not-a-model'], {
        cwd: project,
        env,
        timeoutMs: 180_000,
      });
      expect(first.stderr).not.toContain('no model provider is configured');
      const before = JSON.parse((await cli(['server', 'status', '--json'], { cwd: project, env })).stdout) as {
        pid: number;
        url: string;
      }[];
      expect(before).toHaveLength(1);
      const r = await cli(['-a', 'researcher', '-t', 'FIRST-RUN-3'], { cwd: project, env, timeoutMs: 180_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('no model provider is configured');
      const said = r.stderr.split('\n').filter((l) => l.includes('opencode-flow server stop'));
      expect(said).toEqual([
        `A warm OpenCode server from an earlier run is still running (${before[0]!.url}, pid ${before[0]!.pid}); it serves no provider either: stop it with \`opencode-flow server stop\` once you have configured one`,
      ]);
      expect(alive(before[0]!.pid)).toBe(true);
      const stop = await cli(['server', 'stop'], { cwd: project, env });
      expect(stop.stdout).toContain('Stopped 1 warm OpenCode server(s)');
      expect(alive(before[0]!.pid)).toBe(false);
    },
  );
});
