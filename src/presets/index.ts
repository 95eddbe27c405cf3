export { AgentFrontMatterSchema, parseAgentFile, readAgentFile, splitFrontMatter, type PresetAgent } from './agent-file.js';
export { bundledAgentsDir, loadPresets, toOpencodeAgentConfig } from './load.js';
