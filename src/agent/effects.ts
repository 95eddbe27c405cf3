import { fromCallback, fromPromise } from 'xstate';
import type { Event as OpencodeEvent, Part } from '@opencode-ai/sdk/v2';
import type {
  AgentAttempt,
  AgentErrorKind,
  AgentEvent,
  AgentOutcome,
  AgentSpec,
  AgentTask,
  WatchInput,
} from '../../machines/agent.js';
import { formatOf } from '../../machines/agent.js';
import type { InputAnswer, InputRequest } from '../../machines/input-policy.js';
import type { ChooseFallback, FallbackInput } from '../../machines/retry.js';
import { newMessageID } from '../opencode/ids.js';
import { outcomeOf, type MessageWithParts, type ModelRef, type OpencodeClient } from '../opencode/client.js';
import { classifyError } from '../router/error-kind.js';
import { FlowError } from '../errors.js';
import type { EventHub } from '../opencode/events.js';
import type { OpencodePool, PoolMember } from '../opencode/pool.js';

/** What the agent actors need from the running flow. */
export interface AgentRuntime {
  client: OpencodeClient;
  hub: EventHub;
  /**
   * Several OpenCode servers: each new session goes to the least loaded live one and its
   * agent's calls follow it there (a child session goes where its parent is). Without it,
   * `client` and `hub`.
   */
  pool?: OpencodePool;
  /** Keep every agent's session after it stops, whatever the agent's own input says (the flow's `keepSessions`). */
  keepSessions?: boolean;
  /**
   * Set when the flow is detached (stored for a later resume): stopping its actors then
   * leaves the sessions working instead of aborting them.
   */
  detached?: boolean;
  /**
   * Told the cost of each assistant message as OpenCode reports it mid-prompt (every
   * `message.updated`; the same message again as its cost grows), so a budget can stop a
   * flow while agents are still working rather than when they finish.
   */
  onCost?: (e: { sessionID: string; messageID: string; cost: number }) => void;
  /** Safety-net poll interval while a prompt runs (the event stream is only a hint). Default 5 s. */
  reconcileMs?: number;
  /**
   * Text deltas arriving within this long are sent to the agent as one `oc.delta` (so one
   * `agent.delta` event) instead of one per token. Default 50 ms; 0 sends each as it comes.
   */
  deltaMs?: number;
  /** Pick the next model after a failure; default: the agent's own chain. */
  chooseFallback?: ChooseFallback;
  /**
   * Called right before a prompt is sent, once the agent holds its id: resolve when the
   * agent's state (with that id) is stored, so a crash after the send never sends it again.
   */
  beforeSend?: () => Promise<void>;
  /**
   * Called before every prompt: throw to refuse it (budgets), or return another model to
   * use (a routed agent whose model started cooling down meanwhile).
   */
  beforePrompt?: (input: {
    agent: string;
    model: string;
    task: AgentTask;
    flowId?: string;
  }) => Promise<string | void> | string | void;
  /**
   * Called before every prompt once its model is decided: resolve with a slot of the host's
   * concurrency caps for that model (see `src/router/limiter.ts`), which the agent holds until
   * the prompt ends and gives back with `release()`, however it ends. `signal` aborts when the
   * agent leaves the prompt while it waits (the prompt leaves the queue).
   */
  acquireSlot?: (input: {
    agent: string;
    model: string;
    sessionID: string;
    signal: AbortSignal;
  }) => Promise<{ release(): void }>;
  /**
   * A session's provider asked to be left alone until `until` (epoch ms: OpenCode's `next`
   * of a rate-limit `retry` status); `model` is the one its prompt holds a slot for.
   */
  onRateLimit?: (e: { sessionID: string; model: string; until: number }) => void;
  /** Title of new sessions. */
  sessionTitle?: (spec: AgentSpec, flowId?: string) => string;
  /**
   * Checks a structured answer before the agent takes it (a run checks it against the zod
   * schema it was given, and gives back zod's output). An error fails the try with kind
   * `structured_output`, so the fallback chain gets its turn.
   */
  checkStructured?: (e: {
    agent?: string;
    format: NonNullable<AgentTask['format']>;
    value: unknown;
  }) => { value: unknown } | { error: string };
  /** Told of every session an agent creates, before it is prompted (a run tracks its sessions). */
  onSession?: (e: {
    sessionID: string;
    agent: string;
    flowId?: string;
    spec: AgentSpec;
    /** The session it is a child of (hierarchical flows' workers): traces put its span under the parent's. */
    parentSessionID?: string;
  }) => void;
}

/** `provider/model` → OpenCode's `{ providerID, modelID }` (model ids may contain `/`). */
export function parseModelRef(model: string): ModelRef | undefined {
  if (!model) return undefined;
  const i = model.indexOf('/');
  if (i <= 0 || i === model.length - 1) return undefined;
  return { providerID: model.slice(0, i), modelID: model.slice(i + 1) };
}

/** Total cost of every assistant message of a session. */
export function sessionCostOf(messages: MessageWithParts[]): number {
  let c = 0;
  for (const m of messages) if (m.info.role === 'assistant') c += m.info.cost ?? 0;
  return c;
}

/** An assistant message's `info.error` → name, message and the kind a fallback policy needs. */
export function describeProviderError(error: unknown): { name: string; message: string; kind: AgentErrorKind } {
  const e = (error ?? {}) as { name?: string; data?: { message?: string } };
  const name = e.name ?? 'UnknownError';
  // Our own abort is not a provider failure: never fall back from it.
  if (name === 'StructuredOutputError')
    return {
      name,
      message: `no structured output: ${e.data?.message ?? 'the model did not produce it'}`,
      kind: 'structured_output',
    };
  const kind: AgentErrorKind = name === 'MessageAbortedError' ? 'aborted' : classifyError(error);
  return { name, message: e.data?.message ?? name, kind };
}

function toAgentOutcome(messages: MessageWithParts[]): AgentOutcome | undefined {
  const o = outcomeOf(messages);
  if (!o) return undefined;
  return {
    userMessageID: o.userMessageID,
    output: o.output,
    model: `${o.final.providerID}/${o.final.modelID}`,
    sessionCost: sessionCostOf(messages),
    tokens: { input: o.tokens.input, output: o.tokens.output },
    error: o.final.error ? describeProviderError(o.final.error) : undefined,
    structured: o.structured,
  };
}

/** True for an error of a request that never reached the server (refused, reset, no route), at any depth of causes. */
export function isConnectionError(e: unknown): boolean {
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'EPIPE']);
  for (let x = e as { code?: string; cause?: unknown } | undefined, i = 0; x && i < 6; i++) {
    if (x.code && codes.has(x.code)) return true;
    x = x.cause as typeof x;
  }
  return false;
}

/** Where the latest prompt of a session stands, read from its messages (see {@link readPrompt}). */
export type PromptReading =
  { state: 'answered'; outcome: AgentOutcome } | { state: 'unanswered'; userMessageID?: string; sessionCost: number };

/**
 * Read an idle session's messages for the answer to the prompt after `afterUserMessageID`:
 * `answered` when its last assistant message is complete or carries an error (an abort
 * included), else `unanswered` (no user message for it yet, no assistant message, or one
 * cut off with neither `time.completed` nor `error`, as an OpenCode killed mid-prompt
 * leaves it). Pure.
 *
 * @example
 * ```ts
 * const r = readPrompt(await client.messages(sessionID), lastUserMessageID);
 * if (r.state === 'answered') console.log(r.outcome.output);
 * ```
 */
export function readPrompt(messages: MessageWithParts[], afterUserMessageID?: string): PromptReading {
  const outcome = toAgentOutcome(messages);
  if (outcome && outcome.userMessageID !== afterUserMessageID) return { state: 'answered', outcome };
  let userMessageID: string | undefined;
  for (let i = messages.length - 1; i >= 0 && !userMessageID; i--)
    if (messages[i]!.info.role === 'user') userMessageID = messages[i]!.info.id;
  return {
    state: 'unanswered',
    userMessageID: userMessageID !== afterUserMessageID ? userMessageID : undefined,
    sessionCost: sessionCostOf(messages),
  };
}

/**
 * The named actors of the agent machine, bound to one OpenCode server. Pass them to
 * `agentMachine.provide({ actors: createAgentActors(runtime) })`.
 *
 * @example
 * ```ts
 * const machine = agentMachine.provide({ actors: createAgentActors({ client, hub }) });
 * ```
 */
export function createAgentActors(rt: AgentRuntime) {
  const one = { client: rt.client, hub: rt.hub };
  /** The server a session lives on (located by asking the servers, for a session from before this process). */
  const at = async (sid: string): Promise<{ client: OpencodeClient; hub: EventHub }> =>
    rt.pool ? await rt.pool.locate(sid) : one;
  const known = (sid: string): { client: OpencodeClient; hub: EventHub } | undefined =>
    rt.pool ? (rt.pool.members.length === 1 ? rt.pool.members[0] : rt.pool.of(sid)) : one;
  // One status request at a time for all agents: their safety-net polls fire together,
  // and each answer lists every busy session anyway.
  const statusInFlight = new Map<OpencodeClient, Promise<Record<string, unknown>>>();
  const sharedStatus = (client: OpencodeClient) => {
    let p = statusInFlight.get(client);
    if (!p) {
      p = client.status().finally(() => statusInFlight.delete(client));
      statusInFlight.set(client, p);
    }
    return p;
  };
  // Sessions prompted through these actors. A watch on any other session follows a prompt
  // an earlier run sent (the agent was restored from a snapshot): nobody is left to drive
  // it, so finding it idle and unanswered (or aborted) is final, not the moment between
  // our promptAsync's 204 and OpenCode registering the prompt.
  const promptedHere = new Set<string>();
  /** Prompt ids made by `preparePrompt` in this process and not sent yet. */
  const preparedHere = new Set<string>();
  /** Session → the slot its prompt holds (`acquireSlot`), given back when the agent leaves the prompt (`promptSlot`). */
  const slots = new Map<string, { model: string; release(): void }>();
  const releaseSlot = (sid: string) => {
    slots.get(sid)?.release();
    slots.delete(sid);
  };
  /** Session → whether the prompt `sendPrompt` is sending is this run's own (decided once it looked). */
  const decisions = new Map<string, Promise<boolean>>();
  /**
   * A request to a session's server that could not connect is a server fault, never the
   * model's: the pool probes that server at once; when it answers the request goes again,
   * and when it is declared lost the run moves the agent (`SESSION_LOST`), which stops this.
   */
  const sendAgain = async (sid: string, signal: AbortSignal, send: (c: OpencodeClient) => Promise<void>) => {
    for (let tries = 0; ; tries++) {
      const member = rt.pool ? await rt.pool.locate(sid, signal) : undefined;
      try {
        return await send(member?.client ?? rt.client);
      } catch (e) {
        if (!member || !isConnectionError(e) || tries >= 2) throw e;
        if (!(await rt.pool!.suspect(member)))
          await new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          );
      }
    }
  };
  return {
    createSession: fromPromise<{ id: string }, { spec: AgentSpec; parentSessionID?: string; flowId?: string }>(
      async ({ input, signal }) => {
        const title =
          rt.sessionTitle?.(input.spec, input.flowId) ??
          `${input.spec.name}${input.flowId ? ` · ${input.flowId}` : ''}`;
        // A child session lives on its parent's server; any other on the least loaded one.
        const member: PoolMember | undefined = rt.pool
          ? input.parentSessionID
            ? await rt.pool.locate(input.parentSessionID, signal)
            : rt.pool.pick()
          : undefined;
        const picked = member !== undefined && !input.parentSessionID;
        const { client } = member ?? one;
        let s: { id: string };
        try {
          s = await client.createSession(
            { parentID: input.parentSessionID, title, permission: input.spec.permission },
            signal,
          );
        } catch (e) {
          if (picked) rt.pool!.unpick(member);
          throw e;
        }
        if (member) rt.pool!.bind(s.id, member, { picked });
        rt.onSession?.({
          sessionID: s.id,
          agent: input.spec.name,
          flowId: input.flowId,
          spec: input.spec,
          ...(input.parentSessionID ? { parentSessionID: input.parentSessionID } : {}),
        });
        return { id: s.id };
      },
    ),

    preparePrompt: fromPromise<
      { model: string; promptID?: string },
      { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; lastUserMessageID?: string }
    >(async ({ input, signal }) => {
      // The run's say first (a routed agent moved off a cooling model; the budget's hold, or
      // its refusal), then a slot of the host's caps for that model (waiting in its queue),
      // then our own id for the prompt, which goes into the snapshot before it is sent.
      // The prompt is this process's from now on: its watch, started with it, must not take the
      // wait for a slot (the session idle, unanswered) for a prompt an earlier run left behind.
      promptedHere.add(input.sessionID);
      const model =
        (await rt.beforePrompt?.({ agent: input.spec.name, model: input.model, task: input.task })) || input.model;
      if (rt.acquireSlot) {
        const sid = input.sessionID;
        const lease = await rt.acquireSlot({ agent: input.spec.name, model, sessionID: sid, signal });
        // Left the prompt as the slot came (`promptSlot` has let go already): give it back now.
        if (signal.aborted) {
          lease.release();
          throw signal.reason;
        }
        releaseSlot(sid);
        slots.set(sid, { model, release: () => lease.release() });
      }
      const promptID = newMessageID(input.lastUserMessageID);
      preparedHere.add(promptID);
      return { model, promptID };
    }),

    sendPrompt: fromPromise<
      { sent: boolean } | void,
      { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
    >(async ({ input, signal }) => {
      const sid = input.sessionID;
      const id = input.promptID;
      // A prompt prepared in this process is new. Any other was prepared by an earlier run
      // (restored from a snapshot taken just before it was sent): it may have reached OpenCode.
      const fresh = id === undefined || preparedHere.has(id);
      let decide: (ours: boolean) => void = () => {};
      // Before anything awaits: the watch, started just before, waits on whether the prompt is ours.
      if (fresh) {
        promptedHere.add(sid);
        decisions.set(sid, Promise.resolve(true));
      } else decisions.set(sid, new Promise<boolean>((r) => (decide = r)));
      const { client } = await at(sid);
      try {
        if (!fresh && (await client.hasMessage(sid, id, signal))) {
          // Sent already: not bought again. The watch takes its answer, or finds it cut off —
          // told once this step is over, so the agent is no longer `prompting` when it reports.
          const told = decide;
          decide = () => {};
          setImmediate(() => told(false));
          return { sent: false };
        }
        promptedHere.add(sid);
        decide(true);
        // "About to send id X" is stored before X goes (a crash from here on finds X in the session).
        await rt.beforeSend?.();
        await sendAgain(sid, signal, (c) =>
          c.promptAsync(
            {
              sessionID: sid,
              text: input.task.text,
              model: parseModelRef(input.model),
              agent: input.spec.agent,
              system: input.spec.systemPrompt,
              tools: input.spec.tools,
              format: formatOf(input.spec, input.task),
              ...(id ? { messageID: id } : {}),
            },
            signal,
          ),
        );
        return { sent: true };
      } finally {
        decide(true);
        if (id) preparedHere.delete(id);
      }
    }),

    // Lives as long as the agent is on a prompt (`working`): stopped when the prompt ends in any
    // way (answer, failure, fallback, timeout, STOP, a lost server, the agent stopped), it gives
    // back the slot `preparePrompt` took, so no ending can keep one.
    promptSlot: fromCallback<AgentEvent, { sessionID: string }>(
      ({ input }) =>
        () =>
          releaseSlot(input.sessionID),
    ),

    watchSession: fromCallback<AgentEvent, WatchInput>(({ input, sendBack: toAgent }) => {
      const sid = input.sessionID;
      // Text deltas are gathered for a moment and sent as one: OpenCode sends one per token,
      // and each is a step of the agent and of its supervisor (about 100 µs together), so a
      // 200-token answer cost 20 ms of CPU in deltas alone. Anything else sends the gathered
      // text first, so the order is kept and the deltas add up to the answer.
      const deltaMs = rt.deltaMs ?? 50;
      let gathered = '';
      let deltaTimer: ReturnType<typeof setTimeout> | undefined;
      const flushDeltas = () => {
        if (deltaTimer !== undefined) clearTimeout(deltaTimer);
        deltaTimer = undefined;
        if (!gathered) return;
        const text = gathered;
        gathered = '';
        toAgent({ type: 'oc.delta', text });
      };
      const sendBack = (e: AgentEvent) => {
        flushDeltas();
        toAgent(e);
      };
      const delta = (text: string) => {
        if (deltaMs <= 0) return sendBack({ type: 'oc.delta', text });
        gathered += text;
        deltaTimer ??= setTimeout(flushDeltas, deltaMs);
      };
      const ac = new AbortController();
      let finished = false;
      let idleReading = false;
      let blindReading = false;
      let again = false;
      /** Reads of the session's messages on their way (only those need aborting when the watch stops). */
      let fetching = 0;
      /** The watch has stopped: a check still waiting (on the shared status) reads nothing more. */
      let stopped = false;
      const partTypes = new Map<string, string>();
      /** A structured answer, checked by the run (zod's output replaces it), or the failure it is. */
      const checked = (o: AgentOutcome): AgentOutcome => {
        if (o.error || o.structured === undefined || !input.format || !rt.checkStructured) return o;
        const r = rt.checkStructured({ agent: input.agent, format: input.format, value: o.structured });
        if ('value' in r) return { ...o, structured: r.value };
        return {
          ...o,
          structured: undefined,
          error: { name: 'StructuredOutputError', message: r.error, kind: 'structured_output' },
        };
      };
      const toolStatus = new Map<string, string>();

      /**
       * Read the session and finish when the prompt's answer is complete. On an idle event
       * the session is known idle and the read goes at once, never queued behind a blind
       * check (poll, reconnect), which first asks the (shared) status so a finished-but-
       * still-closing session is never taken early.
       */
      const check = async (knownIdle = false): Promise<void> => {
        if (finished || stopped) return;
        if (knownIdle) {
          if (idleReading) {
            again = true;
            return;
          }
          idleReading = true;
        } else {
          if (blindReading || idleReading) return;
          blindReading = true;
        }
        try {
          const { client } = await at(sid);
          if (!knownIdle && sid in (await sharedStatus(client))) return;
          // The status may have taken a while (it is shared, and a loaded server answers late):
          // an idle event that came meanwhile is already reading, or has finished.
          if (stopped || (!knownIdle && (finished || idleReading))) return;
          let messages: MessageWithParts[];
          fetching++;
          try {
            messages = await client.messages(sid, ac.signal);
          } finally {
            fetching--;
          }
          const reading = readPrompt(messages, input.afterUserMessageID);
          if (finished) return;
          // Asked after the read: a prompt sent meanwhile by this run counts as ours.
          const ours = (await decisions.get(sid)) ?? promptedHere.has(sid);
          if (finished || stopped) return;
          if (reading.state === 'answered' && (ours || reading.outcome.error?.kind !== 'aborted')) {
            finished = true;
            sendBack({ type: 'oc.outcome', outcome: checked(reading.outcome) });
          } else if (!ours) {
            finished = true;
            sendBack(
              reading.state === 'answered'
                ? {
                    type: 'oc.interrupted',
                    reason: 'aborted',
                    userMessageID: reading.outcome.userMessageID,
                    sessionCost: reading.outcome.sessionCost,
                  }
                : {
                    type: 'oc.interrupted',
                    reason: 'unanswered',
                    userMessageID: reading.userMessageID,
                    sessionCost: reading.sessionCost,
                  },
            );
          }
          // Else our own prompt is not answered yet (it may not even be in the session): wait.
        } catch (e) {
          // A restored agent whose session is gone (deleted, or the server's data lost) will
          // never be answered: fail it now rather than at the prompt timeout.
          if (!finished && !promptedHere.has(sid) && e instanceof FlowError && e.httpStatus === 404) {
            finished = true;
            sendBack({
              type: 'oc.outcome',
              outcome: {
                userMessageID: input.afterUserMessageID ?? '',
                output: '',
                model: '',
                tokens: { input: 0, output: 0 },
                sessionCost: 0,
                error: {
                  name: 'SessionNotFound',
                  message: `session ${sid} no longer exists on the OpenCode server: the agent cannot continue its prompt`,
                  kind: 'aborted',
                },
              },
            });
          }
          /* else transient: the next event or poll tries again */
        } finally {
          if (knownIdle) idleReading = false;
          else blindReading = false;
          if (knownIdle && again && !finished) {
            again = false;
            void check(true);
          }
        }
      };

      const onEvent = (e: OpencodeEvent) => {
        if (finished) return;
        const p = (e as { properties: Record<string, unknown> }).properties;
        switch (e.type) {
          case 'message.part.delta': {
            const partID = p.partID as string;
            const type = partTypes.get(partID);
            if (p.field === 'text' && (type === undefined || type === 'text')) delta(String(p.delta ?? ''));
            break;
          }
          case 'message.part.updated': {
            const part = p.part as Part;
            partTypes.set(part.id, part.type);
            if (part.type === 'tool') {
              const status = part.state.status;
              if (toolStatus.get(part.id) !== status) {
                toolStatus.set(part.id, status);
                sendBack({
                  type: 'oc.tool',
                  tool: part.tool,
                  status,
                  input: 'input' in part.state ? part.state.input : undefined,
                });
              }
            }
            break;
          }
          case 'message.updated': {
            const info = p.info as { id?: string; role?: string; cost?: number } | undefined;
            if (info?.role === 'assistant' && info.id && typeof info.cost === 'number' && info.cost > 0)
              rt.onCost?.({ sessionID: sid, messageID: info.id, cost: info.cost });
            break;
          }
          case 'session.status': {
            const st = p.status as { type: string; attempt?: number; message?: string; next?: number };
            if (st.type === 'retry') {
              const message = st.message ?? 'provider error';
              const kind = classifyError(st);
              // A rate limit with OpenCode's next try in the future: the host's other prompts to
              // that provider wait until then too.
              const held = slots.get(sid);
              if (kind === 'rate_limit' && typeof st.next === 'number' && held)
                rt.onRateLimit?.({ sessionID: sid, model: held.model, until: st.next });
              sendBack({ type: 'oc.retry', attempt: st.attempt ?? 1, message, kind });
            } else if (st.type === 'idle') void check(true);
            break;
          }
          case 'session.idle':
            void check(true);
            break;
          case 'session.error':
            void check();
            break;
          case 'permission.asked': {
            const r = p as {
              id: string;
              sessionID: string;
              permission: string;
              patterns?: string[];
              metadata?: Record<string, unknown>;
            };
            sendBack({
              type: 'oc.input',
              request: {
                kind: 'permission',
                id: r.id,
                sessionID: r.sessionID,
                permission: r.permission,
                patterns: r.patterns ?? [],
                metadata: r.metadata,
              },
            });
            break;
          }
          case 'question.asked': {
            // OpenCode's question event has the shape of our request, less its kind.
            const r = p as Omit<Extract<InputRequest, { kind: 'question' }>, 'kind'>;
            sendBack({
              type: 'oc.input',
              request: { kind: 'question', id: r.id, sessionID: r.sessionID, questions: r.questions ?? [] },
            });
            break;
          }
          default:
            break;
        }
      };

      // Subscribed on the session's server (found first, for a session from before this process).
      let hub: EventHub | undefined;
      let off = () => {};
      const children = new Map<string, () => void>();
      const onChildEvent = (e: OpencodeEvent) => {
        if (e.type === 'permission.asked' || e.type === 'question.asked') onEvent(e);
      };
      const onAnyEvent = (e: OpencodeEvent) => {
        if (e.type !== 'session.created' || !hub) return;
        const info = (e as { properties: { info?: { id?: string; parentID?: string } } }).properties.info;
        if (info?.id && info.parentID === sid && !children.has(info.id))
          children.set(info.id, hub.onSession(info.id, onChildEvent));
      };
      const onConnected = () => void check();
      const subscribe = (h: EventHub) => {
        if (ac.signal.aborted) return;
        hub = h;
        off = h.onSession(sid, onEvent);
        h.on('event', onAnyEvent);
        h.on('connected', onConnected);
      };
      const now = known(sid);
      if (now) subscribe(now.hub);
      else
        void at(sid).then(
          (m) => subscribe(m.hub),
          () => subscribe(rt.hub),
        );
      // Child sessions (OpenCode's task tool runs subagents in them) can pause for a person
      // too: their permission requests and questions are this agent's to answer (see onAnyEvent).
      const timer = setInterval(() => void check(), rt.reconcileMs ?? 5000);
      // A watch restarted on a restored agent looks at once: the answer may be there already,
      // or nobody may be working on the prompt any more. (A fresh one's prompt is sent right
      // after it starts; its events and polls do the work.)
      const first = setTimeout(() => {
        if (!promptedHere.has(sid)) void check();
      }, 0);
      return () => {
        clearTimeout(first);
        if (deltaTimer !== undefined) clearTimeout(deltaTimer);
        off();
        hub?.off('event', onAnyEvent);
        for (const stop of children.values()) stop();
        hub?.off('connected', onConnected);
        clearInterval(timer);
        // Only a read still running needs stopping: aborting a signal whose fetches are done
        // makes undici build an AbortError for each of them all the same (about 1 ms an agent).
        // (The watch usually stops from inside its own last read, as it sends the answer: that
        // read is over by then.)
        stopped = true;
        if (fetching > 0) ac.abort();
        // Leaving the state before the answer (STOP, timeout, actor stopped): stop the work.
        if (!finished && !rt.detached)
          void at(sid)
            .then(({ client }) => client.abort(sid))
            .catch(() => {});
      };
    }),

    abortSession: fromPromise<{ sessionCost: number; lastUserMessageID?: string }, { sessionID: string }>(
      async ({ input, signal }) => {
        const { client } = await at(input.sessionID);
        await client.abort(input.sessionID, signal).catch(() => false);
        // Wait (briefly) until the session is idle so the aborted message carries its final cost.
        for (let i = 0; i < 20; i++) {
          const st = await client.status(signal).catch(() => ({}) as Record<string, unknown>);
          if (!(input.sessionID in st)) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const msgs = await client.messages(input.sessionID, signal);
        const lastUser = [...msgs].reverse().find((m) => m.info.role === 'user');
        return { sessionCost: sessionCostOf(msgs), lastUserMessageID: lastUser?.info.id };
      },
    ),

    // Without a router the machine's own default (the agent's chain) applies.
    ...(rt.chooseFallback
      ? {
          chooseFallback: fromPromise<string | null, FallbackInput>(async ({ input }) => rt.chooseFallback!(input)),
        }
      : {}),

    replyInput: fromPromise<void, { request: InputRequest; answer: InputAnswer }>(async ({ input, signal }) => {
      const { request, answer } = input;
      const { client } = await at(request.sessionID);
      if (request.kind === 'permission') {
        const reply = 'reply' in answer ? answer.reply : 'once';
        await client.replyPermission(request.id, reply, 'message' in answer ? answer.message : undefined, signal);
      } else if ('answers' in answer) {
        await client.replyQuestion(request.id, answer.answers, signal);
      } else {
        await client.rejectQuestion(request.id, signal);
      }
    }),

    cleanupSession: fromPromise<void, { sessionID?: string; keep: boolean; busy: boolean }>(async ({ input }) => {
      if (!input.sessionID) return;
      const { client } = await at(input.sessionID);
      if (input.busy) await client.abort(input.sessionID).catch(() => false);
      if (!input.keep && !rt.keepSessions) {
        await client.deleteSession(input.sessionID).catch(() => false);
        rt.pool?.release(input.sessionID);
      }
    }),
  };
}
