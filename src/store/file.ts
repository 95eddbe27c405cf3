import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FlowError, FlowErrorCode } from '../errors.js';
import { CoalescingFlowStore, type StoredFlow, type StoredFlowMeta } from './store.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

// Stored flows hold tasks, prompts and outputs: readable by their owner only. Existing
// directories keep the mode their owner gave them.
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

const missing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The file flow store (the default): `<dir>/<flowId>/snapshot.json`, `meta.json` and, once
 * the run has finished, `report.json`, each written atomically (temp file, fsync, rename), so
 * a process killed mid-write leaves the previous complete version. Files are created 0600 and
 * directories 0700: they hold tasks, prompts and outputs. One machine; for several, use the
 * Postgres store.
 *
 * @example
 * ```ts
 * const store = new FileFlowStore('.opencode-flow/flows');
 * for (const f of await store.list()) console.log(f.flowId, f.status, f.cost);
 * ```
 */
export class FileFlowStore extends CoalescingFlowStore {
  readonly kind = 'file' as const;
  /** The absolute directory. */
  readonly dir: string;

  constructor(dir: string) {
    super();
    this.dir = resolve(dir);
  }

  get location(): string {
    return this.dir;
  }

  protected async prepare(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
      await access(this.dir, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new FlowError(FlowErrorCode.Internal, `cannot write the flow store ${this.dir}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  protected async write(flow: StoredFlow): Promise<void> {
    const dir = join(this.dir, flow.meta.flowId);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await writeAtomic(join(dir, 'snapshot.json'), JSON.stringify(flow.snapshot));
    // A run started again under the same id has no report until it finishes again.
    if (flow.report !== undefined) await writeAtomic(join(dir, 'report.json'), JSON.stringify(flow.report));
    else await rm(join(dir, 'report.json'), { force: true });
    // meta last: its status says the rest is there.
    await writeAtomic(join(dir, 'meta.json'), JSON.stringify(flow.meta, null, 2));
  }

  protected async read(flowId: string): Promise<StoredFlow | undefined> {
    const dir = join(this.dir, flowId);
    try {
      const [meta, snapshot, report] = await Promise.all([
        readFile(join(dir, 'meta.json'), 'utf8'),
        readFile(join(dir, 'snapshot.json'), 'utf8'),
        readFile(join(dir, 'report.json'), 'utf8').catch((e: unknown) => {
          if (missing(e)) return undefined;
          throw e;
        }),
      ]);
      return {
        meta: JSON.parse(meta) as StoredFlowMeta,
        snapshot: JSON.parse(snapshot) as unknown,
        ...(report !== undefined ? { report: JSON.parse(report) as unknown } : {}),
      };
    } catch (e) {
      if (missing(e)) return undefined;
      throw new FlowError(
        FlowErrorCode.FlowNotFound,
        `stored flow "${flowId}" cannot be read: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  protected async readAll(): Promise<StoredFlowMeta[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (missing(e)) return [];
      throw e;
    }
    const metas = await Promise.all(
      names
        .filter((n) => ID.test(n))
        .map(async (n) => {
          try {
            return JSON.parse(await readFile(join(this.dir, n, 'meta.json'), 'utf8')) as StoredFlowMeta;
          } catch {
            return undefined;
          }
        }),
    );
    return metas.filter((m): m is StoredFlowMeta => m !== undefined);
  }

  protected async remove(flowId: string): Promise<boolean> {
    const dir = join(this.dir, flowId);
    try {
      await readFile(join(dir, 'meta.json'));
    } catch (e) {
      if (missing(e)) return false;
      throw e;
    }
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  protected async release(): Promise<void> {}
}
