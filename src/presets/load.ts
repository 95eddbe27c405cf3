import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FlowError, FlowErrorCode } from '../errors.js';
import { packageInfo } from '../package-root.js';
import { readAgentFile, type PresetAgent } from './agent-file.js';

/**
 * Where a project keeps its own agents, relative to its directory. Same file format as the
 * bundled presets; a file named like a preset replaces it.
 *
 * @example
 * ```ts
 * join(cwd, PROJECT_AGENTS_DIR, 'reviewer.md'); // overrides the bundled reviewer
 * ```
 */
export const PROJECT_AGENTS_DIR = join('.opencode-flow', 'agents');

/**
 * Options of {@link loadPresets}.
 *
 * @example
 * ```ts
 * const opts: LoadPresetsOptions = { cwd: '/repo', extraDirs: ['team-agents'] };
 * ```
 */
export interface LoadPresetsOptions {
  /** The project directory whose `.opencode-flow/agents/` is read. Default `process.cwd()`. */
  cwd?: string;
  /** More directories of agent files, read last (relative ones against `cwd`); each must exist. */
  extraDirs?: string[];
}

/**
 * The `agents/` directory shipped in the package. Found from the package root, which
 * works both from source (`src/presets/`, under vitest or tsx) and from the tsup bundle
 * (`dist/*.js`).
 *
 * @example
 * ```ts
 * bundledAgentsDir(); // '/…/node_modules/opencode-flow/agents'
 * ```
 */
export function bundledAgentsDir(): string {
  let root: string;
  try {
    root = packageInfo().root;
  } catch (e) {
    throw new FlowError(
      FlowErrorCode.Internal,
      'cannot find the opencode-flow package root to load its bundled agents',
      { cause: e },
    );
  }
  return join(root, 'agents');
}

/**
 * Loads the agents a flow can use by name: the bundled presets (`researcher`, `coder`,
 * `reviewer`, `tester`, `security-auditor`, `planner`, `architect`), then the project's
 * `.opencode-flow/agents/*.md` under `cwd`, then each of `extraDirs`. A later file with
 * the same name replaces an earlier one whole (no merging of fields). A malformed file is
 * an error (`invalid_config`) naming the file and the field, never silently skipped.
 *
 * @example
 * ```ts
 * const presets = await loadPresets({ cwd: '/repo' });
 * presets.get('reviewer')?.permission.edit; // 'deny'
 * [...presets.keys()]; // ['architect', 'coder', ...]
 * ```
 */
export async function loadPresets(options: LoadPresetsOptions = {}): Promise<Map<string, PresetAgent>> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const presets = new Map<string, PresetAgent>();
  const add = (agents: PresetAgent[]) => {
    for (const agent of agents) presets.set(agent.name, agent);
  };

  add(await readAgentDir(bundledAgentsDir(), { required: true }));
  add(await readAgentDir(join(cwd, PROJECT_AGENTS_DIR), { required: false }));
  for (const dir of options.extraDirs ?? []) add(await readAgentDir(resolve(cwd, dir), { required: true }));
  return presets;
}

/**
 * Reads every `*.md` file of one directory as an agent, in name order. Two files of the
 * same directory claiming one name (through front matter `name`) are an error.
 *
 * @example
 * ```ts
 * const mine = await readAgentDir('/repo/.opencode-flow/agents', { required: false });
 * ```
 */
export async function readAgentDir(dir: string, { required }: { required: boolean }): Promise<PresetAgent[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return [];
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `cannot read the agents directory ${dir}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const files = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.md') && !e.name.startsWith('.'))
    .map((e) => join(dir, e.name))
    .sort();
  const agents = await Promise.all(files.map((f) => readAgentFile(f)));
  const seen = new Map<string, string>();
  for (const agent of agents) {
    const other = seen.get(agent.name);
    if (other) {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `invalid agent file ${agent.source}: agent "${agent.name}" is also defined by ${other}`,
        {
          details: { file: agent.source },
        },
      );
    }
    seen.set(agent.name, agent.source);
  }
  return agents;
}
