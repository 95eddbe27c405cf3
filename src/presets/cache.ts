import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { PresetAgent } from './agent-file.js';

/**
 * A cache of the bundled presets as parsed, one file per package version under
 * `$XDG_CACHE_HOME/opencode-flow/` (default `~/.cache`), keyed by each agent file's path, size,
 * mtime and inode: every CLI run reads the 7 bundled presets, and parsing them (yaml front
 * matter, then the zod schema) was ~60 ms of its start. Any change to a file, or to the set of
 * files, misses the cache and the files are parsed again. Unreadable or unwritable cache: the
 * files are parsed as without it.
 */
interface CacheFile {
  v: 1;
  version: string;
  stamp: string[];
  agents: PresetAgent[];
}

/** The stamp of a set of files: what changes when one of them, or the set, changes. */
export async function fileStamp(files: string[]): Promise<string[]> {
  return Promise.all(
    files.map(async (f) => {
      const s = await stat(f);
      return `${f}\0${s.size}\0${s.mtimeMs}\0${s.ino}`;
    }),
  );
}

function cachePath(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'opencode-flow', `presets-${version.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
}

/** The agents cached for this version and stamp, or undefined. */
export async function readPresetCache(version: string, stamp: string[]): Promise<PresetAgent[] | undefined> {
  try {
    const c = JSON.parse(await readFile(cachePath(version), 'utf8')) as CacheFile;
    if (c.v !== 1 || c.version !== version || !Array.isArray(c.agents) || !Array.isArray(c.stamp)) return undefined;
    if (c.stamp.length !== stamp.length || c.stamp.some((s, i) => s !== stamp[i])) return undefined;
    return c.agents;
  } catch {
    return undefined;
  }
}

/** Stores the agents parsed for this version and stamp (atomically: a reader sees old or new). */
export async function writePresetCache(version: string, stamp: string[], agents: PresetAgent[]): Promise<void> {
  const path = cachePath(version);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    await writeFile(tmp, JSON.stringify({ v: 1, version, stamp, agents } satisfies CacheFile), { mode: 0o600 });
    await rename(tmp, path);
  } catch {
    await unlink(tmp).catch(() => undefined);
  }
}
