import { afterAll, describe, expect, it } from 'vitest';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';
import { cli, removeMemoryFiles, STACK, tempDir } from './helpers.js';

/**
 * The way out of the router's quality floor, as a first run meets it: a bundled flow routes by
 * cost, the user's models are unscored (quality 50, below every floor), so the run stops before
 * any prompt naming `--model`; the same command with `--model` runs.
 */
const env = useScriptedOpencode({ llm: { fallback: { text: 'floor answer' } } });

afterAll(async () => {
  await removeMemoryFiles();
});

describe('quality floor on a bundled flow', () => {
  it('fails naming --model with only unscored models; the same command with --model succeeds', async () => {
    const t = await tempDir('ocf-floor-');
    try {
      const args = ['run', 'code-review', '--task', 'CLI-FLOOR review', '-s', env.oc.url, '--json'];
      const failed = await cli(args, { cwd: t.dir });
      expect(failed.code, failed.stderr).toBe(2);
      expect(failed.stderr).toMatch(/no served model meets the \w+ quality floor \d+/);
      expect(failed.stderr).toMatch(/unscored default/);
      expect(failed.stderr).toMatch(/Quick fix: name a model with --model provider\/model/);
      expect(failed.stderr).not.toMatch(STACK);
      expect(failed.stdout).toBe('');
      expect(env.llm.promptRequests().filter((q) => q.allText.includes('CLI-FLOOR'))).toHaveLength(0);

      const fixed = await cli([...args, '--model', 'scripted/small'], { cwd: t.dir });
      expect(fixed.code, fixed.stderr).toBe(0);
      const report = JSON.parse(fixed.stdout) as { status: string; results: { agent: string; model: string }[] };
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.model])).toEqual([
        ['researcher', 'scripted/small'],
        ['reviewer', 'scripted/small'],
      ]);
      expect(env.llm.promptRequests().filter((q) => q.allText.includes('CLI-FLOOR')).length).toBeGreaterThan(0);
    } finally {
      await t.cleanup();
    }
  }, 180_000);
});
