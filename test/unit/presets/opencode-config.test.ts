import { describe, expect, it } from 'vitest';
import { loadPresets, parseAgentFile, toOpencodeAgentConfig, type PresetAgent } from '../../../src/presets/index.js';

/**
 * Keys of `AgentConfig` in OpenCode 1.18.33's OpenAPI spec (components.schemas.AgentConfig),
 * copied by hand. The server files any other key under the agent's `options`, silently.
 */
const AGENT_CONFIG_KEYS = [
  'model',
  'variant',
  'temperature',
  'top_p',
  'prompt',
  'tools',
  'disable',
  'description',
  'mode',
  'hidden',
  'options',
  'color',
  'steps',
  'maxSteps',
  'permission',
];
/** Named properties of `PermissionConfig` (object form) in the same spec. */
const PERMISSION_KEYS = [
  'read',
  'edit',
  'glob',
  'grep',
  'list',
  'bash',
  'task',
  'external_directory',
  'todowrite',
  'question',
  'webfetch',
  'websearch',
  'lsp',
  'doom_loop',
  'skill',
];
/** Those whose schema is `PermissionActionConfig` (one action, never a pattern map). */
const ACTION_ONLY = ['todowrite', 'question', 'webfetch', 'websearch', 'doom_loop'];
const ACTIONS = ['allow', 'ask', 'deny'];

const presets = await loadPresets({ cwd: '/' });

describe('toOpencodeAgentConfig', () => {
  it.each([...presets.keys()])('%s gives an entry of the shape AgentConfig accepts', (name) => {
    const preset = presets.get(name) as PresetAgent;
    const cfg = toOpencodeAgentConfig(preset);
    expect(Object.keys(cfg).sort()).toEqual(['description', 'mode', 'permission', 'prompt', 'temperature', 'tools']);
    for (const k of Object.keys(cfg)) expect(AGENT_CONFIG_KEYS).toContain(k);

    expect(cfg.description).toBe(preset.description);
    expect(cfg.prompt).toBe(preset.systemPrompt);
    expect(['subagent', 'all']).toContain(cfg.mode);
    expect(typeof cfg.temperature).toBe('number');
    for (const v of Object.values(cfg.tools)) expect(typeof v).toBe('boolean');

    for (const [perm, rule] of Object.entries(cfg.permission)) {
      expect(PERMISSION_KEYS).toContain(perm);
      if (typeof rule === 'string' || ACTION_ONLY.includes(perm)) {
        expect(ACTIONS).toContain(rule);
      } else {
        expect(Object.keys(rule).length).toBeGreaterThan(0);
        for (const action of Object.values(rule)) expect(ACTIONS).toContain(action);
      }
    }
    // Our routing policy is not an OpenCode key: it would land in the agent's options.
    expect(cfg).not.toHaveProperty('flow');
    expect(cfg).not.toHaveProperty('taskType');
  });

  it('copies: changing the config does not change the preset', () => {
    const coder = presets.get('coder') as PresetAgent;
    const cfg = toOpencodeAgentConfig(coder);
    (cfg.permission.bash as Record<string, string>)['rm -rf*'] = 'allow';
    cfg.tools['flow_memory_*'] = false;
    expect((coder.permission.bash as Record<string, string>)['rm -rf*']).toBe('deny');
    expect(coder.tools['flow_memory_*']).toBe(true);
  });

  it('maps primary to all, keeps a fixed model, top_p and steps, drops unset keys', () => {
    const p = parseAgentFile(
      '---\ndescription: d\nmode: primary\nmodel: anthropic/claude-sonnet-4\ntop_p: 0.5\nsteps: 8\n---\nPrompt.',
      'lead.md',
    );
    expect(toOpencodeAgentConfig(p)).toEqual({
      description: 'd',
      prompt: 'Prompt.',
      mode: 'all',
      permission: {},
      tools: {},
      model: 'anthropic/claude-sonnet-4',
      top_p: 0.5,
      steps: 8,
    });
    const minimal = toOpencodeAgentConfig(parseAgentFile('---\ndescription: d\n---\nP', 'm.md'));
    expect(Object.keys(minimal).sort()).toEqual(['description', 'mode', 'permission', 'prompt', 'tools']);
  });
});
