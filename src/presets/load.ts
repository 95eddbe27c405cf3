import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { packageInfo } from '../package-root.js';
import { readAgentFile, type PresetAgent } from './agent-file.js';

/** Directory of the presets shipped with the package. */
export function bundledAgentsDir(): string {
  return join(packageInfo().root, 'agents');
}

async function readDir(dir: string): Promise<PresetAgent[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.md')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return Promise.all(names.map((n) => readAgentFile(join(dir, n))));
}

/**
 * Load the bundled presets, then the user's `.opencode-flow/agents/*.md` (in `cwd`), then
 * `extraDirs`; a later file with the same name replaces an earlier one.
 *
 * @example
 * ```ts
 * const presets = await loadPresets();
 * presets.get('reviewer')?.permission // { edit: 'deny', ... }
 * ```
 */
export async function loadPresets({ cwd = process.cwd(), extraDirs = [] }: { cwd?: string; extraDirs?: string[] } = {}): Promise<Map<string, PresetAgent>> {
  const out = new Map<string, PresetAgent>();
  for (const dir of [bundledAgentsDir(), resolve(cwd, '.opencode-flow', 'agents'), ...extraDirs.map((d) => resolve(cwd, d))]) {
    for (const a of await readDir(dir)) out.set(a.name, a);
  }
  return out;
}

/** The entry to put under OpenCode config `agent.<name>` so the server knows the preset natively. */
export function toOpencodeAgentConfig(p: PresetAgent): Record<string, unknown> {
  return {
    description: p.description,
    prompt: p.systemPrompt,
    mode: p.mode,
    ...(p.model ? { model: p.model } : {}),
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.tools ? { tools: p.tools } : {}),
    ...(p.permission ? { permission: p.permission } : {}),
  };
}
