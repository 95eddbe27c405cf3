import { open, readFile, unlink } from 'node:fs/promises';
import { FlowError, FlowErrorCode } from '../errors.js';

/** A held lock file; `release` removes it. */
export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes `<path>.lock` for this process, so a second process (or a second backend in this
 * one) cannot open the same single-writer file and silently lose updates. A lock left by a
 * process that died (`kill -9`) is taken over. A guard against accidental double opening,
 * not a distributed lock: use SQLite or Redis for several processes.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('/data/memory.json');
 * try { ... } finally { await lock.release(); }
 * ```
 */
export async function acquireFileLock(path: string): Promise<FileLock> {
  const lockPath = `${path}.lock`;
  const token = `${process.pid}:${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(token);
      } finally {
        await fh.close();
      }
      return {
        path: lockPath,
        async release() {
          const held = await readFile(lockPath, 'utf8').catch(() => '');
          if (held === token) await unlink(lockPath).catch(() => undefined);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FlowError(FlowErrorCode.Memory, `cannot create memory lock file ${lockPath}`, { cause: e });
      }
    }
    const held = await readFile(lockPath, 'utf8').catch(() => '');
    const pid = Number.parseInt(held.split(':')[0] ?? '', 10);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new FlowError(
        FlowErrorCode.Memory,
        pid === process.pid
          ? `memory file ${path} is already open in this process; share one backend (the file backend is single-writer)`
          : `memory file ${path} is in use by process ${pid}; the file backend is single-process, use the sqlite or redis backend to share memory between processes`,
      );
    }
    // Stale: the holder is gone (crashed or killed). Take it over.
    await unlink(lockPath).catch(() => undefined);
  }
  throw new FlowError(FlowErrorCode.Memory, `cannot take memory lock file ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
