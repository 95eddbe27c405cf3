import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { childEnv, cliSource, removeMemoryFiles, root, tempDir, tsxLoader } from '../cli/helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';

/** The runs' store: a temp dir, never the working tree. */
const STORE_DIR = join(tmpdir(), `ocf-trace-store-${process.pid}`);
const STORE = { OPENCODE_FLOW_STORE: `file:${STORE_DIR}` };
/**
 * A run with no OpenTelemetry variables loads no SDK module: the CLI runs a real flow with a
 * module hook that notes every `@opentelemetry/*` module the process resolves. With an OTLP
 * endpoint set, the same run loads the Node SDK (so the hook does see it when it is there).
 */

const hook = pathToFileURL(join(import.meta.dirname, 'fixtures/record-modules.mjs')).href;
let llm: ScriptedLLM;
let oc: TestOpencode;
let otlp: OtlpReceiver;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'no sdk answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  otlp = await startOtlpReceiver();
  ({ dir, cleanup } = await tempDir('ocf-no-sdk-'));
});
afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await otlp?.close();
  await cleanup?.();
  await removeMemoryFiles();
  await rm(STORE_DIR, { recursive: true, force: true });
});

/** Runs the CLI with the hook; the @opentelemetry modules it resolved. */
async function modulesOf(name: string, args: string[], env: Record<string, string | undefined>): Promise<string[]> {
  const file = join(dir, `${name}.txt`);
  const code = await new Promise<number | null>((resolveRun) => {
    const child = spawn(process.execPath, ['--import', hook, '--import', tsxLoader, cliSource, ...args], {
      cwd: root,
      env: childEnv({ ...STORE, ...env, RECORD_MODULES_FILE: file }),
      stdio: 'ignore',
    });
    child.on('close', resolveRun);
  });
  expect(code).toBe(0);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

const OTEL_VARS = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('OTEL_'))
    .map((k) => [k, undefined]),
);
const sdkModules = (urls: string[]) => urls.filter((u) => /\/@opentelemetry\/(sdk-|exporter-|otlp-)/.test(u));

describe('no OpenTelemetry variables, no SDK', () => {
  it('a real run without OTEL_* loads no SDK or exporter module; with an endpoint it does', async () => {
    const run = ['-a', 'coder', '-t', 'NO-SDK', '-s', oc.url, '--model', 'scripted/small', '--json'];
    const without = await modulesOf('without', run, OTEL_VARS);
    expect(sdkModules(without)).toEqual([]);
    // The library's API is all it touches.
    expect(without.some((u) => u.includes('/@opentelemetry/api/'))).toBe(true);
    const withEndpoint = await modulesOf('with', run, { ...OTEL_VARS, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
    expect(sdkModules(withEndpoint).some((u) => u.includes('/@opentelemetry/sdk-node/'))).toBe(true);
    expect(otlp.spans.some((s) => s.name === 'invoke_workflow parallel')).toBe(true);
    // OTEL_SDK_DISABLED wins over an endpoint.
    const disabled = await modulesOf('disabled', run, {
      ...OTEL_VARS,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SDK_DISABLED: 'true',
    });
    expect(sdkModules(disabled)).toEqual([]);
  });

  it('--help resolves no @opentelemetry module at all', async () => {
    expect(await modulesOf('help', ['--help'], OTEL_VARS)).toEqual([]);
    expect(await modulesOf('help-otel', ['--help'], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })).toEqual([]);
  });
});
