import { describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { parseAgentFile } from '../../../src/presets/index.js';

const FILE = '/repo/.opencode-flow/agents/docs-writer.md';

function agent(frontMatter: string, body = 'You write documentation.\n'): string {
  return `---\n${frontMatter}\n---\n${body}`;
}

/** The FlowError `parseAgentFile` throws for `text`. */
function failure(text: string, source = FILE): FlowError {
  try {
    parseAgentFile(text, source);
  } catch (e) {
    expect(e).toBeInstanceOf(FlowError);
    return e as FlowError;
  }
  throw new Error('expected parseAgentFile to throw');
}

describe('parseAgentFile', () => {
  it('reads OpenCode front matter, the flow policy and the body as the system prompt', () => {
    const a = parseAgentFile(
      agent(
        [
          'description: Writes docs',
          'mode: subagent',
          'temperature: 0.4',
          'top_p: 0.9',
          'maxSteps: 12',
          'tools:',
          '  bash: false',
          '  flow_memory_*: true',
          'permission:',
          '  edit: allow',
          '  bash:',
          '    "*": deny',
          '    "git diff*": allow',
          '  webfetch: deny',
          'flow:',
          '  taskType: docs',
          '  qualityFloor: 60',
          '  models:',
          '    prefer: ["*haiku*"]',
        ].join('\n'),
        '\nYou write documentation.\n\nKeep it short.\n\n',
      ),
      FILE,
    );
    expect(a).toEqual({
      name: 'docs-writer',
      description: 'Writes docs',
      systemPrompt: 'You write documentation.\n\nKeep it short.',
      mode: 'subagent',
      temperature: 0.4,
      topP: 0.9,
      steps: 12,
      tools: { bash: false, 'flow_memory_*': true },
      permission: { edit: 'allow', bash: { '*': 'deny', 'git diff*': 'allow' }, webfetch: 'deny' },
      taskType: 'docs',
      qualityFloor: 60,
      models: { prefer: ['*haiku*'] },
      source: FILE,
    });
    // Pattern order is meaning (last match wins): it must survive parsing.
    expect(Object.keys((a.permission.bash as Record<string, string>) ?? {})).toEqual(['*', 'git diff*']);
  });

  it('applies OpenCode defaults: mode all, no tools, no permissions', () => {
    const a = parseAgentFile(agent('description: Minimal'), 'minimal.md');
    expect(a).toMatchObject({ name: 'minimal', mode: 'all', tools: {}, permission: {} });
    expect(a).not.toHaveProperty('temperature');
    expect(a).not.toHaveProperty('model');
    expect(a).not.toHaveProperty('taskType');
  });

  it('accepts CRLF line ends, a BOM, a single-action permission and a name override', () => {
    const text =
      '\uFEFF---\r\nname: scribe\r\ndescription: d\r\npermission: deny\r\nmodel: ollama/qwen2.5-coder:7b\r\n---\r\nPrompt.\r\n';
    expect(parseAgentFile(text, 'x.md')).toMatchObject({
      name: 'scribe',
      permission: { '*': 'deny' },
      model: 'ollama/qwen2.5-coder:7b',
      systemPrompt: 'Prompt.',
    });
  });

  it('names the file and the field: a bad permission action', () => {
    const e = failure(agent('description: d\npermission:\n  edit: maybe'));
    expect(e.code).toBe(FlowErrorCode.InvalidConfig);
    expect(e.message).toContain(FILE);
    expect(e.message).toContain('field "permission.edit"');
    expect(e.message).toContain('"maybe"');
    expect(e.details).toMatchObject({ file: FILE });
  });

  it('names the pattern inside a bash map', () => {
    const e = failure(agent('description: d\npermission:\n  bash:\n    "*": deny\n    "git diff*": yes'));
    expect(e.message).toContain('field "permission.bash["git diff*"]"');
  });

  it('rejects a pattern map where OpenCode takes one action', () => {
    const e = failure(agent('description: d\npermission:\n  webfetch:\n    "*": allow'));
    expect(e.message).toContain('field "permission.webfetch"');
    expect(e.message).toContain('not a pattern map');
  });

  it('rejects unknown keys, with a hint for "permissions"', () => {
    const e = failure(agent('description: d\npermissions:\n  edit: deny'));
    expect(e.message).toContain(FILE);
    expect(e.message).toContain('field "permissions": unknown key (did you mean "permission"?)');
    const f = failure(agent('description: d\nflow:\n  floor: 80'));
    expect(f.message).toContain('field "flow.floor": unknown key');
    expect(f.message).toContain('allowed here: taskType, qualityFloor, models');
  });

  it('requires a description', () => {
    const e = failure(agent('mode: subagent'));
    expect(e.message).toContain('field "description": is required');
  });

  it('checks the flow policy against the router: task type and floor range', () => {
    expect(failure(agent('description: d\nflow:\n  taskType: deploy')).message).toContain('field "flow.taskType"');
    expect(failure(agent('description: d\nflow:\n  qualityFloor: 120')).message).toContain('field "flow.qualityFloor"');
  });

  it('checks value types: temperature, tools, mode, model', () => {
    expect(failure(agent('description: d\ntemperature: hot')).message).toContain('field "temperature"');
    expect(failure(agent('description: d\ntools:\n  bash: "no"')).message).toContain(
      'field "tools.bash": expected true or false',
    );
    expect(failure(agent('description: d\nmode: boss')).message).toContain('field "mode"');
    expect(failure(agent('description: d\nmodel: gpt-5')).message).toContain('field "model"');
  });

  it('refuses a front-matter prompt, which OpenCode ignores', () => {
    expect(failure(agent('description: d\nprompt: Be nice')).message).toContain(
      'field "prompt": is not read from a markdown agent',
    );
  });

  it('reports invalid YAML with the file line', () => {
    // Line 5 of the file: an unquoted `*` key is a YAML alias, a classic mistake.
    const e = failure('---\ndescription: d\npermission:\n  bash:\n    *: deny\n---\nPrompt.');
    expect(e.message).toContain(FILE);
    expect(e.message).toContain('not valid YAML (line 5, column 8)');
    expect(e.message).toContain('quote patterns that start with "*"');
    expect(failure('---\ndescription: a\ndescription: b\n---\nP').message).toContain('line 3');
  });

  it('requires front matter, a closing fence, a map, a body and a valid name', () => {
    expect(failure('You write docs.').message).toContain('missing front matter');
    expect(failure('---\ndescription: d\nYou write docs.').message).toContain('not closed');
    expect(failure('---\n- a\n- b\n---\nP').message).toContain('must be a YAML map');
    expect(failure(agent('description: d', '\n  \n')).message).toContain(
      'the body (the system prompt, from line 4) is empty',
    );
    expect(failure(agent('description: d'), '/x/my agent.md').message).toContain(
      '"my agent" is not a valid agent name',
    );
    expect(failure(agent('description: d\nname: "bad name"')).message).toContain('field "name"');
  });
});
