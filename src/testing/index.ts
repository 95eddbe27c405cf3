/**
 * `opencode-flow/testing`: run flows offline against the real OpenCode binary with a
 * scripted LLM behind it. Only the model is scripted; OpenCode is real.
 */
export {
  startScriptedLLM,
  structuredReply,
  type ScriptedLLM,
  type ScriptedLLMOptions,
  type ScriptedMatch,
  type ScriptedReply,
  type ScriptedRequest,
  type ScriptedRule,
  type ScriptedToolCall,
} from './scripted-llm.js';
export {
  DEFAULT_SCRIPTED_MODELS,
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startTestOpencode,
  type ScriptedModel,
  type ScriptedProviderOptions,
  type TestOpencode,
  type TestOpencodeOptions,
} from './opencode.js';
