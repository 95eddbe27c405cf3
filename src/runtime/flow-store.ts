import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FlowError, FlowErrorCode } from '../errors.js';

/** What is known about a stored flow without loading its snapshot. */
export interface StoredFlowMeta {
  flowId: string;
  task: string;
  mode: string;
  agents: string[];
  /** `running` until the flow finishes (a dead process leaves it `running`: resumable). */
  status: string;
  cost: number;
  /** The run's hard budget (USD), when it had one: a resumed run keeps it. */
  maxCost?: number;
  startedAt: number;
  updatedAt: number;
  reason?: string;
}

export interface StoredFlow {
  meta: StoredFlowMeta;
  /** The supervisor's persisted snapshot (children included). */
  snapshot: unknown;
}

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

/**
 * Where flows are persisted: `<dir>/<flowId>/snapshot.json` and `meta.json`, each written
 * atomically (temp file, fsync, rename), so a process killed mid-write leaves the previous
 * complete version. Default dir: `.opencode-flow/flows` in the project directory. Files are
 * created 0600 and directories 0700: they hold tasks, prompts and outputs.
 *
 * @example
 * ```ts
 * const store = new FlowStore('.opencode-flow/flows');
 * for (const f of await store.list()) console.log(f.flowId, f.status, f.cost);
 * ```
 */
export class FlowStore {
  readonly dir: string;
  private readonly pending = new Map<string, StoredFlow>();
  private readonly writing = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  private flowDir(flowId: string): string {
    if (!ID.test(flowId))
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `flow id "${flowId}" is not valid (letters, digits, "_" or "-")`,
      );
    return join(this.dir, flowId);
  }

  /**
   * Save the latest state of a flow. Saves coalesce: while one write runs, only the newest
   * state waits behind it. Resolves when that state is on disk.
   */
  save(flow: StoredFlow): Promise<void> {
    const id = flow.meta.flowId;
    this.pending.set(id, flow);
    const prev = this.writing.get(id) ?? Promise.resolve();
    const next = prev.then(async () => {
      const latest = this.pending.get(id);
      if (!latest) return;
      this.pending.delete(id);
      const dir = this.flowDir(id);
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await writeAtomic(join(dir, 'snapshot.json'), JSON.stringify(latest.snapshot));
      await writeAtomic(join(dir, 'meta.json'), JSON.stringify(latest.meta, null, 2));
    });
    const settled = next.catch(() => {});
    this.writing.set(id, settled);
    void settled.then(() => {
      if (this.writing.get(id) === settled) this.writing.delete(id);
    });
    return next;
  }

  /** Wait for every pending write. */
  async flush(): Promise<void> {
    await Promise.all([...this.writing.values()]);
  }

  async load(flowId: string): Promise<StoredFlow> {
    const dir = this.flowDir(flowId);
    try {
      const [meta, snapshot] = await Promise.all([
        readFile(join(dir, 'meta.json'), 'utf8'),
        readFile(join(dir, 'snapshot.json'), 'utf8'),
      ]);
      return { meta: JSON.parse(meta) as StoredFlowMeta, snapshot: JSON.parse(snapshot) as unknown };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new FlowError(FlowErrorCode.FlowNotFound, `no stored flow "${flowId}" in ${this.dir}`);
      }
      throw new FlowError(
        FlowErrorCode.FlowNotFound,
        `stored flow "${flowId}" cannot be read: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** Every stored flow's meta, newest first. */
  async list(): Promise<StoredFlowMeta[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
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
    return metas.filter((m): m is StoredFlowMeta => m !== undefined).sort((a, b) => b.startedAt - a.startedAt);
  }
}
