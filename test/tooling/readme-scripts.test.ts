import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The README's Development block says what `npm test` does: each command of package.json's
 * `pretest` and `test` scripts is named there, so the description cannot fall behind the
 * script (it said "tsc --noEmit, then vitest" while the script also ran prettier and eslint).
 */
const ROOT = resolve(import.meta.dirname, '../..');

describe('README: npm test', () => {
  it("names every step of package.json's pretest and test scripts", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const dev = readme.slice(readme.indexOf('\n## Development\n'));
    const line = dev.split('\n').find((l) => /^npm test\s+#/.test(l));
    expect(line, "README's Development section has an `npm test  # …` line").toBeDefined();
    const said = line!.slice(line!.indexOf('#'));
    const steps = [pkg.scripts.pretest, pkg.scripts.test]
      .filter((s): s is string => !!s)
      .flatMap((s) => s.split('&&'))
      .map((s) => s.trim().split(/\s+/))
      .map(([tool, ...args]) => ({ tool: tool!, flag: args.find((a) => a.startsWith('--') && a !== '--noEmit') }));
    expect(steps.length).toBeGreaterThan(2);
    const missing = steps.filter(({ tool }) => {
      // The build step (tsup) is said as what it does.
      if (tool === 'tsup') return !/builds dist/.test(said);
      return !said.includes(tool);
    });
    expect(missing).toEqual([]);
    // `prettier --check`, not `prettier --write`: the flag that makes it a check is said too.
    for (const { tool, flag } of steps) if (tool === 'prettier' && flag) expect(said).toContain(`${tool} ${flag}`);
  });
});
