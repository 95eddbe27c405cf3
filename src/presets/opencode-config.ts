import type { PresetAgent, PresetPermission } from './agent-file.js';

/**
 * One entry of OpenCode's config `agent` map, as the 1.18.33 server's `AgentConfig`
 * schema names its keys. Only the keys a preset can set are listed.
 *
 * @example
 * ```ts
 * const entry: OpencodeAgentConfig = { description: 'Reviews code', prompt: '…', mode: 'subagent', permission: { edit: 'deny' }, tools: {} };
 * ```
 */
export interface OpencodeAgentConfig {
  description: string;
  /** The system prompt. */
  prompt: string;
  mode: 'subagent' | 'all';
  permission: PresetPermission;
  tools: Record<string, boolean>;
  /** Dropped by OpenCode unless the model's entry says `temperature: true`. */
  temperature?: number;
  top_p?: number;
  /** `provider/model`; only when the agent file fixes one. */
  model?: string;
  steps?: number;
}

/**
 * The object to put under OpenCode config `agent.<name>`, so an embedded server knows the
 * preset natively (its prompt, permissions and tools apply to any session run with
 * `agent: name`). `mode: primary` becomes `all`: flows also run agents as child sessions.
 * The `flow` policy (task type, quality floor) is ours and stays out: routing passes the
 * chosen model per prompt.
 *
 * @example
 * ```ts
 * const presets = await loadPresets();
 * const config = { agent: Object.fromEntries([...presets].map(([n, p]) => [n, toOpencodeAgentConfig(p)])) };
 * ```
 */
export function toOpencodeAgentConfig(preset: PresetAgent): OpencodeAgentConfig {
  return {
    description: preset.description,
    prompt: preset.systemPrompt,
    mode: preset.mode === 'subagent' ? 'subagent' : 'all',
    // Copies: the server config must not alias the loaded presets.
    permission: structuredClone(preset.permission),
    tools: { ...preset.tools },
    ...(preset.temperature !== undefined && { temperature: preset.temperature }),
    ...(preset.topP !== undefined && { top_p: preset.topP }),
    ...(preset.model !== undefined && { model: preset.model }),
    ...(preset.steps !== undefined && { steps: preset.steps }),
  };
}
