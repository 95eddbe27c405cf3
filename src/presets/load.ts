import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FlowError, FlowErrorCode } from '../errors.js';
import { packageInfo } from '../package-root.js';
import { readAgentFile, type PresetAgent } from './agent-file.js';
import { fileStamp, readPresetCache, writePresetCache } from './cache.js';

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

  add(await readBundledAgents());
  add(await readAgentDir(join(cwd, PROJECT_AGENTS_DIR), { required: false }));
  for (const dir of options.extraDirs ?? []) add(await readAgentDir(resolve(cwd, dir), { required: true }));
  return presets;
}

/**
 * The bundled presets, parsed once per package version: from the preset cache (cache.ts) when
 * every file's stat matches what was parsed, else read with {@link readAgentDir} and cached.
 */
async function readBundledAgents(): Promise<PresetAgent[]> {
  const dir = bundledAgentsDir();
  let version: string;
  let stamp: string[];
  try {
    version = packageInfo().version;
    stamp = await fileStamp(await agentFiles(dir));
  } catch {
    return readAgentDir(dir, { required: true }); // says what is wrong with the directory
  }
  const cached = await readPresetCache(version, stamp);
  if (cached) return cached;
  const agents = await readAgentDir(dir, { required: true });
  await writePresetCache(version, stamp, agents);
  return agents;
}

/** The agent files of a directory, in name order. */
async function agentFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.md') && !e.name.startsWith('.'))
    .map((e) => join(dir, e.name))
    .sort();
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
  let files;
  try {
    files = await agentFiles(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return [];
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `cannot read the agents directory ${dir}: ${(e as Error).message}`,
      { cause: e },
    );
  }
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
