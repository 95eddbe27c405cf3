import { enqueueActions, fromCallback, sendTo, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { FlowError, FlowErrorCode } from '../src/errors.js';
import type { CasResult, MemoryBackend, MemoryEntry } from '../src/memory/backend.js';
import type { JsonValue } from '../src/memory/json.js';
import { assertNamespace } from '../src/memory/limits.js';
import { flowNamespace, SHARED_NAMESPACE } from '../src/memory/namespace.js';
import type { MemoryChange, MemoryClient } from '../src/memory/ops.js';
import { compileWatchPattern } from '../src/memory/watch-pattern.js';

/** Fields every request event carries. */
interface RequestBase {
  /** Correlates the `memory.result` reply. */
  requestId: string;
  /** Where to send the `memory.result` reply (it is also emitted). */
  replyTo?: AnyActorRef;
  /** Use the `shared` namespace instead of the flow's. */
  shared?: boolean;
  /** A flow's namespace (`flow:<id>`) to use instead of the actor's own (one actor serves every run of a host). */
  namespace?: string;
  /** Who asks: an agent name, `mcp:<session>`; defaults to `'flow'`. */
  by?: string;
}

/** Read the value of `key`; replies `value: JsonValue | null`. */
export interface MemoryGetEvent extends RequestBase {
  type: 'memory.get';
  key: string;
}
/** Store `value` under `key`; replies `value: null`. */
export interface MemorySetEvent extends RequestBase {
  type: 'memory.set';
  key: string;
  value: JsonValue;
  ttlMs?: number;
}
/** Remove `key`; replies `value: boolean` (whether something was removed). */
export interface MemoryDeleteEvent extends RequestBase {
  type: 'memory.delete';
  key: string;
}
/** List entries by key prefix; replies `value: MemoryEntry[]`. */
export interface MemoryListEvent extends RequestBase {
  type: 'memory.list';
  prefix?: string;
}
/** Compare-and-set; replies `value: CasResult`. */
export interface MemoryCasEvent extends RequestBase {
  type: 'memory.cas';
  key: string;
  expected: JsonValue | null;
  next: JsonValue;
  ttlMs?: number;
}
/** Add `amount` (default 1); replies `value: number`. */
export interface MemoryIncrEvent extends RequestBase {
  type: 'memory.incr';
  key: string;
  amount?: number;
}
/**
 * Send `memory.changed` to `replyTo` on each change matching `pattern` (an exact key, or a
 * prefix ending in `*`); replies `value: watchId`.
 */
export interface MemoryWatchEvent extends RequestBase {
  type: 'memory.watch';
  pattern: string;
  replyTo: AnyActorRef;
  /** Chosen by the caller, or generated. */
  watchId?: string;
}
/** Stop a watch; replies `value: boolean` (whether it existed). */
export interface MemoryUnwatchEvent extends RequestBase {
  type: 'memory.unwatch';
  watchId: string;
}

/** The events the memory actor accepts. */
export type MemoryRequestEvent =
  | MemoryGetEvent
  | MemorySetEvent
  | MemoryDeleteEvent
  | MemoryListEvent
  | MemoryCasEvent
  | MemoryIncrEvent
  | MemoryWatchEvent
  | MemoryUnwatchEvent;

/** What a successful request replies with, by request type. */
export type MemoryResultValue = JsonValue | CasResult | MemoryEntry[] | number | boolean | string | null;

/** The reply to every request, sent to `replyTo` and emitted. */
export type MemoryResultEvent =
  | { type: 'memory.result'; requestId: string; ok: true; value: MemoryResultValue }
  | { type: 'memory.result'; requestId: string; ok: false; error: { code: string; message: string } };

/** A change made through the memory actor, emitted and sent to matching watchers. */
export type MemoryChangedEvent = { type: 'memory.changed' } & MemoryChange;

/** Events the memory actor emits (`actor.on(...)`). */
export type MemoryEmittedEvent = MemoryResultEvent | MemoryChangedEvent;

/** Input of the memory actor. */
export interface MemoryMachineInput {
  /**
   * The backend, when the machine was not made with {@link withMemoryBackend}. Kept beside the
   * actor, not in its context, so snapshots stay plain data; a restored actor needs
   * `withMemoryBackend` (input is not replayed on restore).
   */
  backend?: MemoryBackend;
  /** The flow's namespace, `flow:<id>`. */
  namespace: string;
  /** Requests waiting beyond this many are refused at once (default 10000). */
  maxQueue?: number;
}

/** An operation that goes to the backend. */
type BackendRequest =
  MemoryGetEvent | MemorySetEvent | MemoryDeleteEvent | MemoryListEvent | MemoryCasEvent | MemoryIncrEvent;

interface Watcher {
  id: string;
  namespace: string;
  pattern: string;
  ref: AnyActorRef;
}

/**
 * Context of the memory actor: plain data and actor refs only, so `getPersistedSnapshot()`
 * works. The backend lives in the `memoryWorker` actor (see {@link withMemoryBackend}); requests
 * in flight live there too, so a snapshot never holds a request whose caller is gone.
 */
export interface MemoryMachineContext {
  namespace: string;
  maxQueue: number;
  watchers: Watcher[];
  watchCount: number;
}

/** Input of one memory operation. */
export interface MemoryOpInput {
  /** The resolved namespace (the flow's or `shared`). */
  namespace: string;
  request: BackendRequest;
}

/** Output of one memory operation. */
export interface MemoryOpOutput {
  value: MemoryResultValue;
  /** Set when the operation changed an entry. */
  change?: MemoryChange;
}

/** What the machine hands the `memoryWorker`: every request, in arrival order. */
export interface MemoryWorkEvent {
  type: 'memory.work';
  /** The resolved namespace (the flow's or `shared`). */
  namespace: string;
  request: MemoryRequestEvent;
}

/** What the `memoryWorker` sends back, one per request, in the order the requests came. */
export type MemoryWorkerEvent =
  /** A backend operation finished; or, without `output`, a watch/unwatch reached its turn. */
  | { type: 'memory.worked'; request: MemoryRequestEvent; output?: MemoryOpOutput }
  | { type: 'memory.failed'; request: MemoryRequestEvent; error: unknown };

/** Input of the `memoryWorker` actor. */
export interface MemoryWorkerInput {
  /** Requests waiting beyond this many are refused at once. */
  maxQueue: number;
  /**
   * The memory actor that invoked the worker: the default worker runs on the backend that
   * actor was given as input. A reference, so a snapshot keeps its id, never the backend.
   */
  owner?: AnyActorRef;
}

/** Runs one operation: {@link runMemoryOp} over a backend, or a fake in tests. */
export type MemoryOpRunner = (input: MemoryOpInput) => Promise<MemoryOpOutput>;

/**
 * Performs one memory operation on `backend`: what the worker of {@link withMemoryBackend}
 * runs for each request, exported so a replacement given through {@link memoryWorker} can wrap it.
 *
 * @example
 * ```ts
 * const timed = memoryMachine.provide({
 *   actors: {
 *     memoryWorker: memoryWorker(async (input) => {
 *       const t = performance.now();
 *       try { return await runMemoryOp(backend, input); } finally { record(performance.now() - t); }
 *     }),
 *   },
 * });
 * ```
 */
export async function runMemoryOp(
  backend: MemoryBackend,
  { namespace, request }: MemoryOpInput,
): Promise<MemoryOpOutput> {
  const by = request.by ?? 'flow';
  const ttl = 'ttlMs' in request && request.ttlMs !== undefined ? { ttlMs: request.ttlMs } : undefined;
  switch (request.type) {
    case 'memory.get':
      return { value: (await backend.get(namespace, request.key))?.value ?? null };
    case 'memory.list':
      return { value: await backend.list(namespace, request.prefix) };
    case 'memory.set':
      await backend.set(namespace, request.key, request.value, ttl);
      return { value: null, change: { namespace, key: request.key, value: request.value, by, op: 'set' } };
    case 'memory.delete': {
      const removed = await backend.delete(namespace, request.key);
      return removed
        ? { value: true, change: { namespace, key: request.key, value: null, by, op: 'delete' } }
        : { value: false };
    }
    case 'memory.cas': {
      const result = await backend.cas(namespace, request.key, request.expected, request.next, ttl);
      return result.ok
        ? { value: result, change: { namespace, key: request.key, value: result.current, by, op: 'cas' } }
        : { value: result };
    }
    case 'memory.incr': {
      const value = await backend.incr(namespace, request.key, request.amount ?? 1);
      return { value, change: { namespace, key: request.key, value, by, op: 'incr' } };
    }
  }
}

const isBackendRequest = (e: MemoryRequestEvent): e is BackendRequest =>
  e.type !== 'memory.watch' && e.type !== 'memory.unwatch';

const namespaceOf = (context: MemoryMachineContext, request: { shared?: boolean; namespace?: string }) =>
  request.shared ? SHARED_NAMESPACE : (request.namespace ?? context.namespace);

function failure(requestId: string, e: unknown): MemoryResultEvent {
  const code = e instanceof FlowError ? e.code : FlowErrorCode.Internal;
  const message = e instanceof Error ? e.message : String(e);
  return { type: 'memory.result', requestId, ok: false, error: { code, message } };
}

/** Backends given as input, by the memory actor that got them. */
const inputBackends = new WeakMap<AnyActorRef, MemoryBackend>();

/**
 * The `memoryWorker` actor over `run`: one long-lived child of the memory actor that runs its
 * requests one at a time in arrival order and sends each outcome back. One child for the actor's
 * life, not one per request: a child actor per operation (its start, abort signal and two state
 * changes) was most of the memory actor's cost per call. Requests beyond `maxQueue` waiting are
 * refused at once; once the worker stops, requests still waiting are dropped (their callers see
 * the memory actor stop).
 *
 * @example
 * ```ts
 * const machine = memoryMachine.provide({ actors: { memoryWorker: memoryWorker((input) => runMemoryOp(backend, input)) } });
 * ```
 */
export function memoryWorker(run: MemoryOpRunner) {
  return workerLogic(() => run);
}

/** {@link memoryWorker} with its runner looked up when a request runs (the default one from its input's backend). */
function workerLogic(runnerOf: (input: MemoryWorkerInput) => MemoryOpRunner) {
  return fromCallback<MemoryWorkEvent, MemoryWorkerInput, MemoryWorkerEvent>(({ input, receive, sendBack }) => {
    let tail: Promise<void> = Promise.resolve();
    // Requests received and not yet finished, the running one included.
    let queued = 0;
    let stopped = false;
    const step = async ({ namespace, request }: MemoryWorkEvent) => {
      try {
        if (stopped) return;
        if (!isBackendRequest(request)) return sendBack({ type: 'memory.worked', request });
        const output = await runnerOf(input)({ namespace, request });
        if (!stopped) sendBack({ type: 'memory.worked', request, output });
      } catch (error) {
        if (!stopped) sendBack({ type: 'memory.failed', request, error });
      } finally {
        queued--;
      }
    };
    receive((work) => {
      // One runs and `maxQueue` wait; beyond that, refuse at once.
      if (queued > input.maxQueue) {
        sendBack({
          type: 'memory.failed',
          request: work.request,
          error: new FlowError(FlowErrorCode.Memory, `memory actor is busy: ${input.maxQueue} requests are waiting`),
        });
        return;
      }
      queued++;
      tail = tail.then(() => step(work));
    });
    return () => {
      stopped = true;
    };
  });
}

/** The `memoryWorker` over `backend`. */
export function backendMemoryWorker(backend: MemoryBackend) {
  return memoryWorker((input: MemoryOpInput) => runMemoryOp(backend, input));
}

/**
 * The memory actor: the single writer of one flow's memory. It takes `memory.*` request
 * events and hands them, in arrival order, to its named `memoryWorker` child, which runs them
 * one at a time; it replies `memory.result` to `replyTo` and emits it, and after each change
 * emits `memory.changed { namespace, key, value, by, op }` and sends it to matching watchers.
 * A watch or unwatch takes its turn in the same order, so a watch sees every change asked for
 * after it.
 *
 * The machine does no I/O itself: the backend is given as `input.backend` or bound with
 * {@link withMemoryBackend} (tests swap `memoryWorker` with `.provide`). Its context is plain data,
 * so a snapshot persists; restore it with `createActor(withMemoryBackend(backend), { snapshot })`.
 *
 * @example
 * ```ts
 * const backend = await createMemoryBackend({ backend: 'file' });
 * const actor = createActor(memoryMachine, { input: { backend, namespace: flowNamespace('demo') } }).start();
 * actor.on('memory.changed', (e) => console.log(e.key, e.value, e.by));
 * actor.send({ type: 'memory.set', requestId: '1', key: 'plan', value: ['a', 'b'], by: 'planner' });
 * ```
 */
export const memoryMachine = setup({
  types: {
    context: {} as MemoryMachineContext,
    events: {} as MemoryRequestEvent | MemoryWorkerEvent,
    input: {} as MemoryMachineInput,
    emitted: {} as MemoryEmittedEvent,
  },
  actors: {
    /** Uses the backend given as input; replaced by `withMemoryBackend` or `.provide`. */
    memoryWorker: workerLogic(({ owner }) => {
      const backend = owner && inputBackends.get(owner);
      if (!backend) {
        throw new FlowError(
          FlowErrorCode.Internal,
          'the memory actor has no backend: create it from withMemoryBackend(backend) or give input.backend',
        );
      }
      return (input: MemoryOpInput) => runMemoryOp(backend, input);
    }),
  },
  actions: {
    /** Hands a request to the worker, in arrival order. */
    dispatch: sendTo('memoryWorker', ({ context, event }) => ({
      type: 'memory.work' as const,
      namespace: namespaceOf(context, event as MemoryRequestEvent),
      request: event as MemoryRequestEvent,
    })),
    /** Replies to a finished request; publishes its change; or, for a watch/unwatch, does it now. */
    settle: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'memory.worked') return;
      const { request, output } = event;
      let reply: MemoryResultEvent;
      if (output) {
        reply = { type: 'memory.result', requestId: request.requestId, ok: true, value: output.value };
      } else if (request.type === 'memory.watch') {
        try {
          compileWatchPattern(request.pattern);
          if (!request.replyTo) throw new FlowError(FlowErrorCode.Memory, 'memory.watch needs replyTo');
          const id = request.watchId ?? `watch-${context.watchCount + 1}`;
          const watcher: Watcher = {
            id,
            namespace: namespaceOf(context, request),
            pattern: request.pattern,
            ref: request.replyTo,
          };
          enqueue.assign({
            watchers: [...context.watchers.filter((w) => w.id !== id), watcher],
            watchCount: context.watchCount + 1,
          });
          reply = { type: 'memory.result', requestId: request.requestId, ok: true, value: id };
        } catch (e) {
          reply = failure(request.requestId, e);
        }
      } else if (request.type === 'memory.unwatch') {
        const existed = context.watchers.some((w) => w.id === request.watchId);
        enqueue.assign({ watchers: context.watchers.filter((w) => w.id !== request.watchId) });
        reply = { type: 'memory.result', requestId: request.requestId, ok: true, value: existed };
      } else {
        return;
      }
      if (request.replyTo) enqueue.sendTo(request.replyTo, reply);
      enqueue.emit(reply);
      const change = output?.change;
      if (!change) return;
      const changed: MemoryChangedEvent = { type: 'memory.changed', ...change };
      if (context.watchers.length) {
        // A watcher that stopped is dropped; so is one whose ref did not survive a snapshot
        // restore (XState revives only an actor's own children).
        const live = context.watchers.filter(
          (w) => typeof w.ref?.getSnapshot === 'function' && w.ref.getSnapshot().status === 'active',
        );
        if (live.length !== context.watchers.length) enqueue.assign({ watchers: live });
        for (const w of live) {
          if (w.namespace === change.namespace && compileWatchPattern(w.pattern)(change.key))
            enqueue.sendTo(w.ref, changed);
        }
      }
      enqueue.emit(changed);
    }),
    /** Replies the error of a failed (or refused) request. */
    fail: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'memory.failed') return;
      const reply = failure(event.request.requestId, event.error);
      if (event.request.replyTo) enqueue.sendTo(event.request.replyTo, reply);
      enqueue.emit(reply);
    }),
  },
}).createMachine({
  id: 'memory',
  context: ({ input, self }) => {
    assertNamespace(input.namespace);
    if (input.backend) inputBackends.set(self, input.backend);
    return {
      namespace: input.namespace,
      maxQueue: input.maxQueue ?? 10_000,
      watchers: [],
      watchCount: 0,
    };
  },
  invoke: {
    id: 'memoryWorker',
    src: 'memoryWorker',
    // The parent hands itself down to find its input backend by (a snapshot holds the
    // reference as an id, never the backend); a child never reaches up for it.
    input: ({ context, self }) => ({ maxQueue: context.maxQueue, owner: self }),
  },
  on: {
    'memory.get': { actions: 'dispatch' },
    'memory.set': { actions: 'dispatch' },
    'memory.delete': { actions: 'dispatch' },
    'memory.list': { actions: 'dispatch' },
    'memory.cas': { actions: 'dispatch' },
    'memory.incr': { actions: 'dispatch' },
    'memory.watch': { actions: 'dispatch' },
    'memory.unwatch': { actions: 'dispatch' },
    'memory.worked': { actions: 'settle' },
    'memory.failed': { actions: 'fail' },
  },
});

/**
 * The memory machine with its `memoryWorker` bound to `backend`. The actor uses the backend but
 * does not own it: close the backend after stopping the actor.
 *
 * @example
 * ```ts
 * const actor = createActor(withMemoryBackend(backend), { input: { namespace: 'flow:abc' } }).start();
 * const memory = createMemoryClient(actor);
 * ```
 */
export function withMemoryBackend(backend: MemoryBackend): typeof memoryMachine {
  return memoryMachine.provide({ actors: { memoryWorker: backendMemoryWorker(backend) } });
}

/** A running memory actor. */
export type MemoryActorRef = ActorRefFrom<typeof memoryMachine>;

/** Options of {@link createMemoryClient}. */
export interface MemoryClientOptions {
  /** Who writes when a call names no `by` (default `'flow'`). */
  by?: string;
  /** The flow namespace (`flow:<id>`) this client works in; default the actor's own. */
  namespace?: string;
}

let clientCount = 0;

/**
 * A promise-style facade over a memory actor: each call becomes a `memory.*` event and
 * resolves with its `memory.result`. What `flow.memory` returns, and the `MemoryOps` the MCP
 * server routes tool calls through. Calls reject with a `FlowError` (`memory`) on a failed
 * operation or when the actor stops.
 *
 * @example
 * ```ts
 * const memory = createMemoryClient(actor, { by: 'supervisor' });
 * await memory.set('plan', { steps: 3 });
 * const n = await memory.incr('done');
 * const stop = memory.watch('results/*', (c) => console.log(c.key, c.by));
 * ```
 */
export function createMemoryClient(actor: MemoryActorRef, options: MemoryClientOptions = {}): MemoryClient {
  if (options.namespace !== undefined) assertNamespace(options.namespace);
  const idPrefix = `c${++clientCount}-${Math.random().toString(36).slice(2, 8)}-`;
  let seq = 0;
  const pending = new Map<string, { resolve: (v: MemoryResultValue) => void; reject: (e: unknown) => void }>();
  let stopped = false;

  const stop = (why: string) => {
    stopped = true;
    for (const p of pending.values()) p.reject(new FlowError(FlowErrorCode.Memory, why));
    pending.clear();
    resultSub.unsubscribe();
  };
  const resultSub = actor.on('memory.result', (reply) => {
    const p = pending.get(reply.requestId);
    if (!p) return;
    pending.delete(reply.requestId);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new FlowError(reply.error.code as FlowErrorCode, reply.error.message));
  });
  actor.subscribe({
    complete: () => stop('the memory actor has stopped'),
    error: (e) => stop(`the memory actor failed: ${e instanceof Error ? e.message : String(e)}`),
  });

  const request = <T extends MemoryResultValue>(event: DistributiveOmit<BackendRequest, 'requestId'>): Promise<T> => {
    if (stopped || actor.getSnapshot().status !== 'active') {
      return Promise.reject(new FlowError(FlowErrorCode.Memory, 'the memory actor is not running'));
    }
    const requestId = idPrefix + ++seq;
    return new Promise<T>((resolve, reject) => {
      pending.set(requestId, { resolve: resolve as (v: MemoryResultValue) => void, reject });
      const namespace =
        options.namespace && !event.shared && !('namespace' in event) ? { namespace: options.namespace } : {};
      actor.send({ ...event, requestId, by: event.by ?? options.by, ...namespace } as BackendRequest);
    });
  };
  const scope = (opts: { shared?: boolean; flowId?: string; by?: string } | undefined) => ({
    ...(opts?.shared ? { shared: true } : {}),
    ...(opts?.flowId !== undefined && !opts.shared ? { namespace: flowNamespace(opts.flowId) } : {}),
    ...(opts?.by !== undefined ? { by: opts.by } : {}),
  });
  const ttl = (opts: { ttlMs?: number } | undefined) => (opts?.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs });

  return {
    get: (key, opts) => request<JsonValue | null>({ type: 'memory.get', key, ...scope(opts) }),
    set: async (key, value, opts) => {
      await request({ type: 'memory.set', key, value, ...scope(opts), ...ttl(opts) });
    },
    delete: (key, opts) => request<boolean>({ type: 'memory.delete', key, ...scope(opts) }),
    list: (prefix, opts) =>
      request<MemoryEntry[]>({ type: 'memory.list', ...(prefix === undefined ? {} : { prefix }), ...scope(opts) }),
    cas: (key, expected, next, opts) =>
      request<CasResult>({ type: 'memory.cas', key, expected, next, ...scope(opts), ...ttl(opts) }),
    incr: (key, amount = 1, opts) => request<number>({ type: 'memory.incr', key, amount, ...scope(opts) }),
    watch(pattern, fn, opts) {
      const matches = compileWatchPattern(pattern);
      const namespace = opts?.shared
        ? SHARED_NAMESPACE
        : opts?.flowId !== undefined
          ? flowNamespace(opts.flowId)
          : (options.namespace ?? actor.getSnapshot().context.namespace);
      const sub = actor.on('memory.changed', ({ type: _type, ...change }) => {
        if (change.namespace === namespace && matches(change.key)) {
          try {
            fn(change);
          } catch {
            // A watcher's failure is its own; the write has happened.
          }
        }
      });
      return () => sub.unsubscribe();
    },
  };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
