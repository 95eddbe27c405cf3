import { EventEmitter } from 'eventemitter3';
import type { Event as OpencodeEvent } from '@opencode-ai/sdk/v2';
import type { OpencodeClient } from './client.js';

export type { OpencodeEvent };

/** Hub-level events, beside the per-session ones. */
export interface EventHubEvents {
  /** Every event of the server, in arrival order. */
  event: (e: OpencodeEvent) => void;
  /** The stream (re)connected; listeners should reconcile what they may have missed. */
  connected: (info: { reconnect: boolean }) => void;
  /** The stream dropped or stalled; the hub is reconnecting. */
  disconnected: (info: { reason: string }) => void;
  /**
   * The server has not let the hub back in for `deadAfterMs` (each reconnect is a probe):
   * it is gone. Said once per outage; the hub goes on trying, and says `connected` if it
   * comes back.
   */
  lost: (info: { reason: string; downForMs: number }) => void;
}

export interface EventHubOptions {
  /** Treat the stream as stalled when nothing (not even a heartbeat) arrives for this long. Default 30 s. */
  stallMs?: number;
  /** Say the server is `lost` after it refused reconnects for this long. Default 8 s. */
  deadAfterMs?: number;
  /** Backoff between reconnect attempts, growing up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The session an event concerns, when it concerns one. */
export function sessionOf(e: OpencodeEvent): string | undefined {
  const p = (e as { properties?: Record<string, unknown> }).properties;
  if (!p) return undefined;
  if (typeof p.sessionID === 'string') return p.sessionID;
  const info = p.info as { sessionID?: unknown } | undefined;
  if (info && typeof info.sessionID === 'string') return info.sessionID;
  const part = p.part as { sessionID?: unknown } | undefined;
  if (part && typeof part.sessionID === 'string') return part.sessionID;
  return undefined;
}

/**
 * One event subscription per OpenCode server (per project directory), demultiplexed by
 * session id, with automatic reconnect. The stream is a hint, not the truth: listeners
 * are told on every (re)connect so they can reconcile by reading the session.
 *
 * @example
 * ```ts
 * const hub = new EventHub(client);
 * hub.start();
 * const off = hub.onSession(sessionID, (e) => console.log(e.type));
 * // ...
 * off(); hub.stop();
 * ```
 */
export class EventHub extends EventEmitter<EventHubEvents> {
  private readonly sessions = new Map<string, Set<(e: OpencodeEvent) => void>>();
  private abort?: AbortController;
  private running = false;
  private lastEventAt = 0;
  private stallTimer?: NodeJS.Timeout;
  private connectedOnce = false;
  /** When the current outage began (the first disconnect since the last connect). */
  private downSince?: number;
  private lostSaid = false;
  /** Connected right now. */
  connected = false;
  /** How many times the stream had to be re-established. */
  reconnects = 0;

  constructor(
    private readonly client: OpencodeClient,
    private readonly options: EventHubOptions = {},
  ) {
    super();
  }

  /** Start (idempotent). Resolves once the first connection is up or failed once. */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      this.once('connected', done);
      this.once('disconnected', done);
      void this.loop();
    });
  }

  /** Stop the subscription and drop all listeners. */
  stop(): void {
    this.running = false;
    this.abort?.abort();
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.sessions.clear();
    this.removeAllListeners();
  }

  /** Listen to one session's events. Returns an unsubscribe function. */
  onSession(sessionID: string, fn: (e: OpencodeEvent) => void): () => void {
    let set = this.sessions.get(sessionID);
    if (!set) this.sessions.set(sessionID, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.sessions.delete(sessionID);
    };
  }

  /** Force a reconnect (used by tests and by stall detection). */
  reconnect(reason = 'requested'): void {
    this.abort?.abort(new Error(reason));
  }

  private dispatch(e: OpencodeEvent) {
    this.lastEventAt = Date.now();
    if (e.type === 'server.connected') {
      // The SDK connects lazily, on first read: this event is the real "connected".
      this.connected = true;
      const reconnect = this.connectedOnce;
      this.connectedOnce = true;
      if (reconnect) this.reconnects++;
      this.downSince = undefined;
      this.lostSaid = false;
      this.emit('connected', { reconnect });
      return;
    }
    this.emit('event', e);
    const sid = sessionOf(e);
    if (!sid) return;
    const set = this.sessions.get(sid);
    if (set) for (const fn of [...set]) fn(e);
  }

  private async loop() {
    const stallMs = this.options.stallMs ?? 30_000;
    let backoff = this.options.minBackoffMs ?? 100;
    // Capped below the time to say `lost`, so an outage is judged on several refused reconnects.
    const maxBackoff = Math.min(this.options.maxBackoffMs ?? 2000, (this.options.deadAfterMs ?? 8000) / 4);
    this.stallTimer = setInterval(
      () => {
        if (Date.now() - this.lastEventAt > stallMs) this.reconnect('stalled');
      },
      Math.min(stallMs, 5000),
    );
    this.stallTimer.unref();
    while (this.running) {
      const ac = new AbortController();
      this.abort = ac;
      let reason = 'stream ended';
      try {
        const sub = await this.client.sdk.event.subscribe({}, { signal: ac.signal, sseMaxRetryAttempts: 1 } as never);
        this.lastEventAt = Date.now();
        for await (const e of sub.stream as AsyncIterable<OpencodeEvent>) {
          if (!this.running) break;
          backoff = this.options.minBackoffMs ?? 100;
          this.dispatch(e);
        }
      } catch (e) {
        reason = ac.signal.aborted ? String((ac.signal.reason as Error | undefined)?.message ?? 'aborted') : String(e);
      }
      this.connected = false;
      if (!this.running) break;
      this.downSince ??= Date.now();
      this.emit('disconnected', { reason });
      const downForMs = Date.now() - this.downSince;
      if (!this.lostSaid && downForMs >= (this.options.deadAfterMs ?? 8000)) {
        this.lostSaid = true;
        this.emit('lost', { reason, downForMs });
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(maxBackoff, backoff * 2);
    }
  }
}
