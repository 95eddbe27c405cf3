import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The import-boundary lint (eslint.config.js) enforces DESIGN.md's layer table: it must keep catching a violation. */
const root = resolve(import.meta.dirname, '../..');
const lint = async (file: string, code: string) => {
  const [r] = await new ESLint({ cwd: root }).lintText(code, { filePath: resolve(root, file) });
  return r!.messages.map((m) => m.message);
};

describe('layer boundaries', () => {
  it.each([
    ['src/opencode/x.ts', "import { OpencodeFlow } from '../flow/index.js';", /src\/opencode\/ knows nothing of flows/],
    ['src/router/x.ts', "import { OpencodeClient } from '../opencode/client.js';", /src\/router\/ is pure/],
    ['machines/x.ts', "import { createAgentActors } from '../src/agent/effects.js';", /machines do no I\/O/],
    ['src/flow/x.ts', "import { startServe } from '../serve/start.js';", /never reaches up/],
    ['src/serve/x.ts', "import { runFlow } from '../cli/run-flow.js';", /only through the library/],
  ])('%s may not import that', async (file, code, message) => {
    expect(await lint(file, code)).toEqual([expect.stringMatching(message)]);
  });

  it('allowed imports pass', async () => {
    expect(await lint('src/flow/x.ts', "import { OpencodeClient } from '../opencode/client.js';")).toEqual([]);
    expect(
      await lint('machines/x.ts', "import { compileWatchPattern } from '../src/memory/watch-pattern.js';"),
    ).toEqual([]);
  });
});
