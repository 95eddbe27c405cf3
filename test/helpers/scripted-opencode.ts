import { afterAll, beforeAll } from 'vitest';
import {
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type ScriptedLLMOptions,
  type TestOpencode,
  type TestOpencodeOptions,
} from '../../src/testing/index.js';

/**
 * One scripted LLM and one real `opencode serve` wired to it, for the whole test file:
 * started before the first test, stopped after the last.
 */
export function useScriptedOpencode(
  opts: { llm?: ScriptedLLMOptions; opencode?: Omit<TestOpencodeOptions, 'baseURL'> } = {},
) {
  const env = {} as { llm: ScriptedLLM; oc: TestOpencode };
  beforeAll(async () => {
    env.llm = await startScriptedLLM(opts.llm);
    env.oc = await startTestOpencode({ ...opts.opencode, baseURL: env.llm.baseURL });
  });
  afterAll(async () => {
    await env.oc?.stop();
    await env.llm?.close();
  });
  return env;
}
