import { EventEmitter } from 'eventemitter3';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { OpencodeClient } from './client.js';
import type { EventHub } from './events.js';
import { checkHealth, type ServerEndpoint } from './server.js';

/** One OpenCode server of a pool. */
export interface PoolMember {
  /** Its place in the pool (the order the servers were given in). */
  readonly index: number;
  /** Its URL as errors may show it (no password). */
  readonly url: string;
  readonly endpoint: ServerEndpoint;
  readonly client: OpencodeClient;
  readonly hub: EventHub;
  /** False from the moment it is found dead until its event stream is back. */
  alive: boolean;
  /** Sessions bound to it now. */
  sessions: number;
  /** Sessions being created on it (picked, not bound yet). Its load is both. */
  pending: number;
}

export interface OpencodePoolEvents {
  /** A server is gone: its stream closed and a health probe failed (or it refused reconnects for long). */
  lost: (member: PoolMember, info: { reason: string }) => void;
  /** A server that was lost answers again. */
  back: (member: PoolMember) => void;
}

export interface OpencodePoolOptions {
  /** Timeout of each health probe after the event stream closed. Default 2 s. */
  probeTimeoutMs?: number;
  /**
   * A server whose stream closed is lost once its health probes (every 500 ms) have been
   * refused for this long: a short network blip moves nobody. Default 3 s.
   */
  confirmMs?: number;
}

/**
 * Several OpenCode servers used as one: a new session goes to the live server with the fewest
 * sessions, and stays there (the session lives on that server). A server whose event stream
 * closes is probed (`GET /global/health`); when the probe fails too it is `lost` within
 * seconds, and it is `back` when its stream reconnects. Knows nothing of flows.
 *
 * @example
 * ```ts
 * const pool = new OpencodePool(members);
 * const m = pool.pick();
 * const s = await m.client.createSession();
 * pool.bind(s.id, m);
 * pool.on('lost', (m) => console.log(`${m.url} is gone`));
 * ```
 */
export class OpencodePool extends EventEmitter<OpencodePoolEvents> {
  readonly members: readonly PoolMember[];
  readonly #bound = new Map<string, PoolMember>();
  readonly #off: Array<() => void> = [];
  readonly #probing = new Set<PoolMember>();

  constructor(
    members: Array<{ endpoint: ServerEndpoint; client: OpencodeClient; hub: EventHub; alive?: boolean }>,
    private readonly options: OpencodePoolOptions = {},
  ) {
    super();
    if (members.length === 0) throw new FlowError(FlowErrorCode.InvalidConfig, 'an OpenCode pool needs a server');
    this.members = members.map((m, index) => ({
      index,
      url: maskPasswords(m.endpoint.url),
      endpoint: m.endpoint,
      client: m.client,
      hub: m.hub,
      // A server that did not answer at the start joins once its event stream connects.
      alive: m.alive ?? true,
      sessions: 0,
      pending: 0,
    }));
    for (const m of this.members) {
      const onDisconnected = () => void this.#probe(m);
      const onLost = ({ reason }: { reason: string }) => this.#markLost(m, reason);
      const onConnected = () => {
        if (m.alive) return;
        m.alive = true;
        this.emit('back', m);
      };
      m.hub.on('disconnected', onDisconnected);
      m.hub.on('lost', onLost);
      m.hub.on('connected', onConnected);
      this.#off.push(() => {
        m.hub.off('disconnected', onDisconnected);
        m.hub.off('lost', onLost);
        m.hub.off('connected', onConnected);
      });
    }
  }

  /** The live servers. */
  alive(): PoolMember[] {
    return this.members.filter((m) => m.alive);
  }

  /**
   * The live server with the fewest sessions (the first of equals), counted as loaded by one
   * more until {@link bind} (or {@link unpick}), so sessions created at once spread too.
   * Throws when none is alive.
   */
  pick(): PoolMember {
    let best: PoolMember | undefined;
    const load = (m: PoolMember) => m.sessions + m.pending;
    for (const m of this.members) if (m.alive && (!best || load(m) < load(best))) best = m;
    if (!best)
      throw new FlowError(
        FlowErrorCode.ServerUnavailable,
        `no OpenCode server is left: ${this.members.map((m) => m.url).join(', ')} are all gone`,
      );
    best.pending++;
    return best;
  }

  /** A picked server that got no session after all (its creation failed). */
  unpick(member: PoolMember): void {
    if (member.pending > 0) member.pending--;
  }

  /** Record that a session lives on `member` (picked for it, or found there). */
  bind(sessionID: string, member: PoolMember, { picked = false }: { picked?: boolean } = {}): void {
    if (picked) this.unpick(member);
    const was = this.#bound.get(sessionID);
    if (was === member) return;
    if (was) was.sessions--;
    this.#bound.set(sessionID, member);
    member.sessions++;
  }

  /** Forget a session (deleted, or its agent moved on). */
  release(sessionID: string): void {
    const m = this.#bound.get(sessionID);
    if (!m) return;
    this.#bound.delete(sessionID);
    m.sessions--;
  }

  /** The server a session was bound to here, if it was. */
  of(sessionID: string): PoolMember | undefined {
    return this.#bound.get(sessionID);
  }

  /**
   * The server that holds a session: the one it is bound to, else (a session from before this
   * process: a resumed flow) the first live server that knows it, then bound there. With one
   * server, that server.
   */
  async locate(sessionID: string, signal?: AbortSignal): Promise<PoolMember> {
    const bound = this.#bound.get(sessionID);
    if (bound) return bound;
    if (this.members.length === 1) return this.members[0]!;
    for (const m of this.alive()) {
      const found = await m.client.getSession(sessionID, signal).then(
        () => true,
        () => false,
      );
      if (found) {
        this.bind(sessionID, m);
        return m;
      }
    }
    return this.members[0]!;
  }

  /** Sessions bound to a server. */
  sessionsOn(member: PoolMember): string[] {
    return [...this.#bound].filter(([, m]) => m === member).map(([id]) => id);
  }

  /**
   * A request to `member` could not connect (refused, reset): probe it now instead of waiting
   * for its event stream to say so. Resolves `true` when it answers (send again), `false` once
   * it is declared lost (its sessions' agents are moved by their runs).
   */
  async suspect(member: PoolMember): Promise<boolean> {
    if (!member.alive) return false;
    void this.#probe(member, true);
    while (member.alive && this.#probing.has(member)) await new Promise((r) => setTimeout(r, 100));
    return member.alive;
  }

  /** Stop following the servers (the hubs themselves are their owner's to stop). */
  stop(): void {
    for (const off of this.#off.splice(0)) off();
    this.removeAllListeners();
  }

  /**
   * Probe a server whose stream closed until it answers, its stream is back, or its probes have
   * been refused for `confirmMs`: then it is lost. A refused or reset connection counts; a slow
   * answer may be a busy server, which the hub calls lost only after refusing reconnects for a
   * while (its own `lost`).
   */
  async #probe(m: PoolMember, evenIfConnected = false): Promise<void> {
    if (!m.alive || this.#probing.has(m)) return;
    this.#probing.add(m);
    const confirmMs = this.options.confirmMs ?? 3000;
    let refusedSince: number | undefined;
    try {
      while (m.alive && (evenIfConnected || !m.hub.connected)) {
        try {
          await checkHealth(m.endpoint, { timeoutMs: this.options.probeTimeoutMs ?? 2000, attempts: 1 });
          return;
        } catch (e) {
          const timedOut = ((e as { cause?: { name?: string } }).cause?.name ?? '') === 'TimeoutError';
          if (timedOut) refusedSince = undefined;
          else refusedSince ??= Date.now();
          if (
            refusedSince !== undefined &&
            Date.now() - refusedSince >= confirmMs &&
            (evenIfConnected || !m.hub.connected)
          ) {
            this.#markLost(m, `its event stream closed and ${(e as Error).message}`);
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      this.#probing.delete(m);
    }
  }

  #markLost(m: PoolMember, reason: string): void {
    if (!m.alive) return;
    m.alive = false;
    this.emit('lost', m, { reason });
  }
}
