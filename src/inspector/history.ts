/**
 * The inspector's replay log: every inspection message of the flows that are live, kept per
 * root actor so a viewer who opens the inspector late still sees the run from its start
 * (the supervisor, memory and the first agents), not only the last few hundred messages.
 *
 * Bounds, so a long or busy host cannot grow without limit:
 * - a root's history is dropped once `maxFinishedRoots` newer roots have finished after it
 *   (a root finishes when its own snapshot leaves `active`);
 * - a root whose history passes `maxBytesPerRoot` is compacted: it keeps each actor's
 *   `@xstate.actor` message and latest `@xstate.snapshot`, and drops the events between;
 * - when all histories together pass `maxBytesTotal`, finished roots go first (oldest
 *   first), then live roots are compacted (oldest first).
 */
export interface InspectorHistoryLimits {
  /** Bytes of messages one root keeps before it is compacted. Default 16 MiB. */
  maxBytesPerRoot: number;
  /** Bytes of messages all roots keep together. Default 64 MiB. */
  maxBytesTotal: number;
  /** Finished roots whose history is still replayed (the most recent ones). Default 4. */
  maxFinishedRoots: number;
}

export const DEFAULT_INSPECTOR_HISTORY_LIMITS: InspectorHistoryLimits = {
  maxBytesPerRoot: 16 * 1024 * 1024,
  maxBytesTotal: 64 * 1024 * 1024,
  maxFinishedRoots: 4,
};

/** The fields of a Stately inspection message the history reads. */
export interface InspectionMessage {
  type: string;
  sessionId: string;
  rootId?: string;
  snapshot?: { status?: string };
}

interface Entry {
  seq: number;
  type: string;
  sessionId: string;
  text: string;
  bytes: number;
}

interface RootHistory {
  entries: Entry[];
  bytes: number;
  finished: boolean;
  compacted: boolean;
}

export class InspectorHistory {
  private readonly limits: InspectorHistoryLimits;
  /** Insertion order is start order: the first key is the oldest root. */
  private readonly roots = new Map<string, RootHistory>();
  private readonly finishedOrder: string[] = [];
  private seq = 0;
  private bytes = 0;

  constructor(limits: Partial<InspectorHistoryLimits> = {}) {
    this.limits = { ...DEFAULT_INSPECTOR_HISTORY_LIMITS, ...limits };
  }

  /** Record one message (already serialized as `text`). */
  add(message: InspectionMessage, text: string): void {
    const rootId = message.rootId ?? message.sessionId;
    let root = this.roots.get(rootId);
    if (!root) {
      root = { entries: [], bytes: 0, finished: false, compacted: false };
      this.roots.set(rootId, root);
    }
    const bytes = Buffer.byteLength(text);
    root.entries.push({ seq: this.seq++, type: message.type, sessionId: message.sessionId, text, bytes });
    root.bytes += bytes;
    this.bytes += bytes;
    const status = message.snapshot?.status;
    if (
      message.sessionId === rootId &&
      message.type === '@xstate.snapshot' &&
      status &&
      status !== 'active' &&
      !root.finished
    ) {
      root.finished = true;
      this.finishedOrder.push(rootId);
      while (this.finishedOrder.length > this.limits.maxFinishedRoots) this.drop(this.finishedOrder[0]!);
    }
    if (root.bytes > this.limits.maxBytesPerRoot) this.compact(root);
    this.enforceTotal();
  }

  /** Every kept message, in the order they happened across roots. */
  replay(): string[] {
    const all: Entry[] = [];
    for (const root of this.roots.values()) all.push(...root.entries);
    return all.sort((a, b) => a.seq - b.seq).map((e) => e.text);
  }

  /** Roots kept, with their message count and whether they finished or were compacted. */
  stats(): { rootId: string; messages: number; bytes: number; finished: boolean; compacted: boolean }[] {
    return [...this.roots].map(([rootId, r]) => ({
      rootId,
      messages: r.entries.length,
      bytes: r.bytes,
      finished: r.finished,
      compacted: r.compacted,
    }));
  }

  get totalBytes(): number {
    return this.bytes;
  }

  private drop(rootId: string): void {
    const root = this.roots.get(rootId);
    if (root) this.bytes -= root.bytes;
    this.roots.delete(rootId);
    const i = this.finishedOrder.indexOf(rootId);
    if (i >= 0) this.finishedOrder.splice(i, 1);
  }

  /** Keep each actor's creation and its latest snapshot: the viewer still sees every actor and where it is. */
  private compact(root: RootHistory): void {
    const latest = new Map<string, Entry>();
    for (const e of root.entries) if (e.type === '@xstate.snapshot') latest.set(e.sessionId, e);
    const kept = root.entries.filter((e) => e.type === '@xstate.actor' || latest.get(e.sessionId) === e);
    const bytes = kept.reduce((n, e) => n + e.bytes, 0);
    this.bytes -= root.bytes - bytes;
    root.entries = kept;
    root.bytes = bytes;
    root.compacted = true;
  }

  private enforceTotal(): void {
    while (this.bytes > this.limits.maxBytesTotal && this.finishedOrder.length > 0) this.drop(this.finishedOrder[0]!);
    for (const root of this.roots.values()) {
      if (this.bytes <= this.limits.maxBytesTotal) return;
      this.compact(root);
    }
  }
}
