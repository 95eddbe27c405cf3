/**
 * Preset agents: markdown files with YAML front matter in OpenCode's own agent format,
 * bundled in `agents/` and overridable per project in `.opencode-flow/agents/`.
 *
 * @example
 * ```ts
 * import { loadPresets, toOpencodeAgentConfig } from './presets/index.js';
 * const presets = await loadPresets({ cwd: process.cwd() });
 * const agent = Object.fromEntries([...presets].map(([name, p]) => [name, toOpencodeAgentConfig(p)]));
 * ```
 */
export { AgentFrontMatterSchema, parseAgentFile, readAgentFile } from './agent-file.js';
export type { PermissionAction, PresetAgent, PresetPermission } from './agent-file.js';
export { PROJECT_AGENTS_DIR, bundledAgentsDir, loadPresets, readAgentDir } from './load.js';
export type { LoadPresetsOptions } from './load.js';
export { toOpencodeAgentConfig } from './opencode-config.js';
export type { OpencodeAgentConfig } from './opencode-config.js';
