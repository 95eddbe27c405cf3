import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The import-boundary lint (eslint.config.js) enforces src/README.md's layer table: it must keep catching a violation. */
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
    ['src/memory/x.ts', "import { OpencodeClient } from '../opencode/client.js';", /holds no flow logic/],
    ['src/testing/x.ts', "import { agentMachine } from '../../machines/agent.js';", /ships real OpenCode/],
    ['src/errors.ts', "import { FlowErrorCode } from './flow/index.js';", /root files are the bottom layer/],
    ['src/uri.ts', "import { parseFlowStoreUri } from './store/uri.js';", /root files are the bottom layer/],
    [
      'src/store/x.ts',
      "import { FlowStoreUriSchema } from '../config/flow-config.js';",
      /src\/store\/ imports only the layers below/,
    ],
    ['src/store/x.ts', "import { FlowRun } from '../flow/run.js';", /src\/store\/ imports only the layers below/],
    ['src/inspector/x.ts', "import { EventHub } from '../opencode/events.js';", /src\/inspector\/ imports only/],
    ['src/inspector/x.ts', "import { startServe } from '../serve/start.js';", /never reaches up/],
    ['src/config/x.ts', "import { timeoutMsSchema } from '../flow/options.js';", /src\/config\/ imports only/],
    ['src/config/x.ts', "import { loadPresets } from '../presets/index.js';", /src\/config\/ imports only/],
    ['src/presets/x.ts', "import { OpencodeClient } from '../opencode/client.js';", /src\/presets\/ imports only/],
    ['src/presets/x.ts', "import { agentMachine } from '../../machines/agent.js';", /src\/presets\/ imports only/],
    ['src/agent/x.ts', "import { FlowRun } from '../flow/run.js';", /src\/agent\/ imports only/],
    ['src/agent/x.ts', "import { openFlowStore } from '../store/uri.js';", /src\/agent\/ imports only/],
    ['src/agent/x.ts', "import { runFlow } from '../cli/run-flow.js';", /never reaches up/],
    ['src/flow/x.ts', "import { startTestOpencode } from '../testing/index.js';", /src\/flow\/ imports only/],
    ['src/index.ts', "import { startServe } from './serve/start.js';", /never reaches up/],
    ['machines/x.ts', "import { openFlowStore } from '../src/store/uri.js';", /machines do no I\/O/],
    ['machines/x.ts', "import { parseFlowConfig } from '../src/config/flow-config.js';", /machines\/ imports only/],
    ['src/opencode/x.ts', "import { openFlowStore } from '../store/uri.js';", /src\/opencode\/ imports only/],
    ['src/router/x.ts', "import { FlowError } from '../config/errors.js';", /src\/router\/ imports only/],
    ['src/telemetry/x.ts', "import { FlowRun } from '../flow/run.js';", /src\/telemetry\/ imports only/],
    ['src/flow/x.ts', "import { NodeSDK } from '@opentelemetry/sdk-node';", /@opentelemetry\/api only/],
    [
      'src/serve/x.ts',
      "import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';",
      /@opentelemetry\/api only/,
    ],
  ])('%s may not import that', async (file, code, message) => {
    expect(await lint(file, code)).toEqual([expect.stringMatching(message)]);
  });

  it('allowed imports pass', async () => {
    expect(await lint('src/config/x.ts', "import { ModelIdSchema } from '../router/config.js';")).toEqual([]);
    expect(await lint('src/presets/x.ts', "import { AgentConfigSchema } from '../config/agent.js';")).toEqual([]);
    expect(await lint('src/agent/x.ts', "import { agentMachine } from '../../machines/agent.js';")).toEqual([]);
    expect(await lint('src/store/x.ts', "import { uriPath } from '../uri.js';")).toEqual([]);
    expect(await lint('src/memory/x.ts', "import { quoteUri } from '../uri.js';")).toEqual([]);
    expect(await lint('src/serve/x.ts', "import { openFlowStore } from '../store/uri.js';")).toEqual([]);
    expect(await lint('src/cli/x.ts', "import { startServe } from '../serve/start.js';")).toEqual([]);
    expect(await lint('src/echo.ts', "import { FlowError } from './errors.js';")).toEqual([]);
    expect(await lint('src/flow/x.ts', "import { OpencodeClient } from '../opencode/client.js';")).toEqual([]);
    expect(
      await lint('machines/x.ts', "import { compileWatchPattern } from '../src/memory/watch-pattern.js';"),
    ).toEqual([]);
  });

  it('every folder of src/ has a rule and a row in src/README.md', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const folders = readdirSync(resolve(root, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    const readme = readFileSync(resolve(root, 'src/README.md'), 'utf8');
    for (const f of folders) {
      expect(readme, `src/README.md names src/${f}/`).toContain(`\`src/${f}/\``);
      // The CLI is the top layer: it may import everything, so no import from it is checked.
      if (f === 'cli') continue;
      const messages = await lint(`src/${f}/x.ts`, "import { runFlow } from '../cli/run-flow.js';");
      expect(messages, `src/${f}/ may not import the CLI`).toHaveLength(1);
    }
  });
});
