import type { PermissionAction, PresetPermission } from '../../../src/presets/index.js';

/**
 * How OpenCode 1.18.33 decides a permission, restated for tests: the config becomes an
 * ordered rule list and the last rule whose permission and pattern both match wins
 * (default `ask`). Patterns are OpenCode's wildcards: `*` is any text (slashes included),
 * `?` one character, and a trailing ` *` also matches nothing. Checked against the
 * 1.18.33 binary; `opencode-agents.int.test.ts` checks the outcome on the real server.
 */
export function decide(permission: PresetPermission, name: string, input: string): PermissionAction {
  const rules: Array<{ permission: string; pattern: string; action: PermissionAction }> = [];
  for (const [p, v] of Object.entries(permission)) {
    if (typeof v === 'string') rules.push({ permission: p, pattern: '*', action: v });
    else for (const [pattern, action] of Object.entries(v)) rules.push({ permission: p, pattern, action });
  }
  const hit = rules.findLast((r) => wildcard(name, r.permission) && wildcard(input, r.pattern));
  return hit?.action ?? 'ask';
}

function wildcard(str: string, pattern: string): boolean {
  let re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  if (re.endsWith(' .*')) re = `${re.slice(0, -3)}( .*)?`;
  return new RegExp(`^${re}$`, 's').test(str);
}
