import { assign, enqueueActions, fromCallback, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import {
  decideInput,
  timeoutAnswer,
  type InputAnswer,
  type InputPolicy,
  type InputRecord,
  type InputRequest,
} from './input-policy.js';
import { nowOf } from './clock.js';
import {
  fallbackInput,
  nextInChain,
  onPromptFailure,
  providerRetriesExhausted,
  RETRY_DEFAULTS,
  thrownErrorKind,
  type AgentAttempt,
  type AgentErrorKind,
  type FallbackInput,
} from './retry.js';

/**
 * The agent actor: one OpenCode session driven through
 * `spawning → ready → working(prompting → streaming) → done`, with `fallback`, `failed`
 * and `cleanup` as real states. Every effect is a named actor supplied with
 * `agentMachine.provide({ actors })` (see `src/runtime/agent-actors.ts`), so the machine
 * itself does no I/O and can be driven by fakes in tests.
 *
 * Restored from a snapshot (a flow resumed after its process died), an agent that was in
 * `working` reconciles through its restarted `watchSession`: an answer that arrived
 * meanwhile finishes it as usual; a prompt left unanswered or aborted (`oc.interrupted`)
 * is sent again on the same model, counted as an attempt; a busy session is watched on.
 */

/** A resolved agent: what the machine needs to run one. */
export interface AgentSpec {
  /** Unique name within the flow (also the actor id suffix). */
  name: string;
  /** OpenCode agent to run as (`build`, `plan`, `general` or a configured one). */
  agent?: string;
  /** `provider/model`; omitted → OpenCode's default model. */
  model?: string;
  /** Models to fall back to, in order, after `model` fails. */
  fallback?: string[];
  /** Extra system prompt for every prompt of this agent. */
  systemPrompt?: string;
  /** Tool switches passed to each prompt (`{ bash: false }`). */
  tools?: Record<string, boolean>;
  /** OpenCode permission rules for the session. */
  permission?: Array<{ permission: string; pattern: string; action: 'allow' | 'deny' | 'ask' }>;
  /** Role used by routing (preset name such as `reviewer`). */
  role?: string;
  /** Task type for routing (`review`, `code`, ...), from the preset's policy; else classified. */
  taskType?: string;
  /** How permission requests and questions are answered (default: reject, never wait on nobody). */
  inputPolicy?: InputPolicy;
  /**
   * JSON Schema (type `object`) every answer of this agent must fill, through OpenCode's
   * structured output; a task's own `format` wins. The answer is in its result's `structured`.
   */
  schema?: Record<string, unknown>;
}

/**
 * A task given to an agent. `format` asks OpenCode for structured output: the model must call
 * its `StructuredOutput` tool with a value valid against the schema (a JSON Schema of type
 * `object`), which becomes the result's `structured`. Make one with `outputFormat(schema)`.
 */
export interface AgentTask {
  id: string;
  text: string;
  format?: { type: 'json_schema'; schema: Record<string, unknown>; retryCount?: number };
}

export type { AgentAttempt, AgentErrorKind } from './retry.js';

/** What the final read of a prompt gives back (see `OpencodeClient.readOutcome`). */
export interface AgentOutcome {
  userMessageID: string;
  output: string;
  /** `provider/model` that answered. */
  model: string;
  /** Cost of every assistant message in the session so far (USD, from OpenCode). */
  sessionCost: number;
  tokens: { input: number; output: number };
  /** Provider error reported in the final message, if any. */
  error?: { name: string; message: string; kind: AgentErrorKind };
  structured?: unknown;
}

export interface AgentResult {
  agent: string;
  taskId: string;
  sessionID: string;
  model: string;
  status: 'done' | 'failed';
  output: string;
  cost: number;
  tokens: { input: number; output: number };
  attempts: AgentAttempt[];
  structured?: unknown;
  error?: string;
  /** Permission requests and questions during the task, with their answers. */
  inputs?: InputRecord[];
  /** How many times the supervisor re-ran the task after a failure. */
  retries?: number;
  startedAt: number;
  finishedAt: number;
}

export interface AgentInput {
  spec: AgentSpec;
  /** Flow this agent belongs to (for events and routing). */
  flowId?: string;
  /** Parent session (hierarchical flows create child sessions). */
  parentSessionID?: string;
  /** Reuse an existing session instead of creating one. */
  sessionID?: string;
  /** Keep the session after cleanup instead of deleting it. */
  keepSessions?: boolean;
  /** Per-prompt timeout (ms). Default 10 minutes. */
  promptTimeoutMs?: number;
  /** OpenCode `retry` statuses tolerated before falling back to the next model. Default 1. */
  maxProviderRetries?: number;
  /** Start on this task as soon as the session exists. */
  task?: AgentTask;
  /**
   * A root agent, run on its own rather than spawned by a machine: its notifications are only
   * emitted (`actor.on(...)`), not sent to a parent. Default false.
   */
  standalone?: boolean;
}

export interface AgentContext {
  spec: AgentSpec;
  /** See {@link AgentInput.standalone}. */
  standalone?: boolean;
  /** The id of the prompt being sent or answered (ours, kept by OpenCode): a restored agent looks for it before sending. */
  promptID?: string;
  flowId?: string;
  parentSessionID?: string;
  sessionID?: string;
  keepSessions: boolean;
  /** Per-prompt timeout (ms) this agent was given; absent: the run's (see {@link withPromptTimeout}) or 10 minutes. */
  promptTimeoutMs?: number;
  maxProviderRetries: number;
  /** Current task. */
  task?: AgentTask;
  /** Model of the current attempt (`provider/model`, or '' for the server default). */
  model: string;
  /** Models tried for the current task, in order. */
  attempts: AgentAttempt[];
  /** Output streamed so far for the current attempt. */
  streamed: string;
  /** Session cost when the current task began: the task's cost is the difference. */
  costBase: number;
  sessionCost: number;
  /** User message of the last prompt seen finished, so a stale outcome is never taken. */
  lastUserMessageID?: string;
  retries: number;
  /** A prompt may be running in the session (set on entering `working`, cleared on done/failed). */
  busy: boolean;
  /** The last finished prompt's outcome as read from OpenCode. */
  lastOutcome?: AgentOutcome;
  pendingError?: { message: string; kind: AgentErrorKind };
  taskStartedAt: number;
  result?: AgentResult;
  /** Results of every task this agent finished. */
  results: AgentResult[];
  /** Requests waiting to be answered, oldest first. */
  inputQueue: InputRequest[];
  /** The answer about to be sent, and who decided it. */
  pendingAnswer?: { answer: InputAnswer; by: InputRecord['by'] };
  /** Requests and answers of the current task. */
  inputs: InputRecord[];
  /** Its session was lost with its server (`SESSION_LOST`): the next task opens a new one. */
  sessionLost?: boolean;
}

/** Events the agent sends to its parent (and emits for listeners). */
export type AgentNotification =
  | { type: 'agent.state'; agent: string; state: string; model: string; sessionID?: string }
  /** Streamed answer text: the tokens that arrived within a moment (50 ms by default), in order. */
  | { type: 'agent.delta'; agent: string; sessionID: string; text: string }
  | { type: 'agent.tool'; agent: string; sessionID: string; tool: string; status: string; input?: unknown }
  | { type: 'agent.fallback'; agent: string; from: string; to: string; reason: string }
  | { type: 'agent.input_required'; agent: string; sessionID: string; request: InputRequest }
  | { type: 'agent.input_answered'; agent: string; record: InputRecord }
  | { type: 'agent.done'; agent: string; result: AgentResult }
  | { type: 'agent.failed'; agent: string; result: AgentResult; error: string };

export type AgentEvent =
  | { type: 'PROMPT'; task: AgentTask }
  | { type: 'STOP' }
  | { type: 'oc.delta'; text: string }
  | { type: 'oc.tool'; tool: string; status: string; input?: unknown }
  | { type: 'oc.retry'; attempt: number; message: string; kind: AgentErrorKind }
  | { type: 'oc.outcome'; outcome: AgentOutcome }
  /**
   * Nobody is answering the prompt any more: it was sent by an earlier run of this agent (a
   * flow resumed after its process died) and the session is idle with no finished answer
   * for it, or its answer was aborted. `userMessageID` is that prompt's user message, when
   * OpenCode has one.
   */
  | { type: 'oc.interrupted'; reason: 'unanswered' | 'aborted'; userMessageID?: string; sessionCost: number }
  | { type: 'oc.input'; request: InputRequest }
  /**
   * The OpenCode server holding the agent's session is gone. A task under way starts again
   * in a new session (on a server still alive), counted as an attempt of the same model; an
   * idle agent only forgets the session, and opens a new one for its next task.
   */
  | { type: 'SESSION_LOST'; reason: string }
  | { type: 'INPUT_REPLY'; requestId: string; answer: InputAnswer };

/**
 * Input of the `watchSession` actor. It reports the prompt's answer (`oc.outcome`) once the
 * session is idle, and `oc.interrupted` when it finds a prompt it did not see sent (the
 * agent was restored from a snapshot) left unanswered or aborted.
 */
export interface WatchInput {
  sessionID: string;
  /** Ignore outcomes of this (older) user message. */
  afterUserMessageID?: string;
  /** The agent watched, and the structured output its task asked for (so the answer can be checked). */
  agent?: string;
  format?: AgentTask['format'];
}

/** The structured output a task asks for: its own `format`, else the agent's `schema`. */
export function formatOf(spec: AgentSpec, task: AgentTask | undefined): AgentTask['format'] {
  return task?.format ?? (spec.schema ? { type: 'json_schema', schema: spec.schema } : undefined);
}

/** Per-prompt timeout of an agent given none, of a run given none: 10 minutes. */
export const DEFAULT_PROMPT_TIMEOUT_MS = 600_000;

function notProvided(name: string) {
  return () => {
    throw new Error(`agent machine: actor "${name}" was not provided (use agentMachine.provide({ actors }))`);
  };
}

/**
 * The agent machine. Effects (named actors) must be provided:
 * `createSession`, `sendPrompt`, `watchSession`, `abortSession`, `chooseFallback`,
 * `cleanupSession`.
 *
 * @example
 * ```ts
 * const machine = agentMachine.provide({ actors: createAgentActors(runtime) });
 * const actor = createActor(machine, { input: { spec: { name: 'coder', model: 'anthropic/claude-sonnet-4' } } });
 * actor.start();
 * actor.send({ type: 'PROMPT', task: { id: 't1', text: 'Write a haiku' } });
 * ```
 */
export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentInput,
    events: {} as AgentEvent,
    emitted: {} as AgentNotification,
    output: {} as { results: AgentResult[]; sessionID?: string },
  },
  actors: {
    createSession: fromPromise<{ id: string }, { spec: AgentSpec; parentSessionID?: string; flowId?: string }>(
      notProvided('createSession'),
    ),
    /**
     * Before a prompt: the model to use (a router re-pick; a budget refuses by throwing) and
     * the prompt's own id, which is in the agent's state before the prompt is sent.
     */
    preparePrompt: fromPromise<
      { model: string; promptID?: string },
      { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; lastUserMessageID?: string }
    >(async ({ input }) => ({ model: input.model })),
    /**
     * Sends the prompt (with its id, when it has one). A prompt restored from a snapshot is
     * looked for in the session first: one that reached OpenCode is not sent again (`sent: false`).
     */
    sendPrompt: fromPromise<
      { sent: boolean } | void,
      { sessionID: string; spec: AgentSpec; task: AgentTask; model: string; promptID?: string }
    >(notProvided('sendPrompt')),
    watchSession: fromCallback<AgentEvent, WatchInput>(notProvided('watchSession')),
    /**
     * Invoked for as long as the agent is on a prompt: stopping it (the prompt ended, however)
     * gives back the slot of the host's concurrency caps `preparePrompt` took. Default: none held.
     */
    promptSlot: fromCallback<AgentEvent, { sessionID: string }>(() => {}),
    abortSession: fromPromise<{ sessionCost: number; lastUserMessageID?: string }, { sessionID: string }>(
      notProvided('abortSession'),
    ),
    /** The default policy: the next model of the agent's own chain not tried yet (`retry.ts`). */
    chooseFallback: fromPromise<string | null, FallbackInput>(async ({ input }) => nextInChain(input)),
    cleanupSession: fromPromise<void, { sessionID?: string; keep: boolean; busy: boolean }>(
      notProvided('cleanupSession'),
    ),
    /** Send an answer to a permission request or question. */
    replyInput: fromPromise<void, { request: InputRequest; answer: InputAnswer }>(notProvided('replyInput')),
  },
  delays: {
    promptTimeout: ({ context }) => context.promptTimeoutMs ?? DEFAULT_PROMPT_TIMEOUT_MS,
    inputTimeout: ({ context }) => context.spec.inputPolicy?.inputTimeoutMs ?? 300_000,
  },
  guards: {
    hasTask: ({ context }) => context.task !== undefined,
    outcomeFailed: ({ event }) => event.type === 'oc.outcome' && event.outcome.error !== undefined,
    outcomeAborted: ({ event }) => event.type === 'oc.outcome' && event.outcome.error?.kind === 'aborted',
    /** Asked for structured output, the model answered without it (OpenCode says nothing then). */
    structuredMissing: ({ context, event }) =>
      event.type === 'oc.outcome' &&
      event.outcome.structured === undefined &&
      formatOf(context.spec, context.task) !== undefined,
    tooManyRetries: ({ context, event }) =>
      event.type === 'oc.retry' && providerRetriesExhausted(event.attempt, context.maxProviderRetries),
    policyAsks: ({ context }) =>
      context.inputQueue[0] !== undefined && decideInput(context.inputQueue[0], context.spec.inputPolicy) === 'ask',
    replyMatches: ({ context, event }) => event.type === 'INPUT_REPLY' && event.requestId === context.inputQueue[0]?.id,
    moreInput: ({ context }) => context.inputQueue.length > 0,
    timeoutFails: ({ context }) => context.spec.inputPolicy?.onInputTimeout === 'fail',
  },
  actions: {
    promptTimedOut: assign({
      pendingError: ({ context }) => ({
        message: `no answer within ${context.promptTimeoutMs ?? DEFAULT_PROMPT_TIMEOUT_MS} ms`,
        kind: 'timeout' as const,
      }),
    }),
    takeTask: assign(({ event }) =>
      event.type === 'PROMPT'
        ? { task: event.task, attempts: [], pendingError: undefined, result: undefined, inputs: [], inputQueue: [] }
        : {},
    ),
    takeOutcome: assign(({ context, event }) => {
      if (event.type !== 'oc.outcome') return {};
      const o = event.outcome;
      return {
        sessionCost: o.sessionCost,
        lastUserMessageID: o.userMessageID,
        model: o.model || context.model,
        streamed: o.output,
        lastOutcome: o,
      };
    }),
    /**
     * The prompt of a restored agent died with the process that sent it: count it as an
     * attempt of the same model, and skip its user message so its (missing or aborted)
     * answer is never taken for the new prompt's.
     */
    recordInterruption: assign(({ context, event }) =>
      event.type === 'oc.interrupted'
        ? {
            attempts: [
              ...context.attempts,
              {
                model: context.model,
                error: `interrupted: re-prompted after resume (${event.reason === 'aborted' ? 'its answer was aborted' : 'the session was idle with no answer'})`,
                errorKind: 'aborted' as const,
              },
            ],
            lastUserMessageID: event.userMessageID ?? context.lastUserMessageID,
            sessionCost: Math.max(context.sessionCost, event.sessionCost),
            inputQueue: [],
            pendingAnswer: undefined,
          }
        : {},
    ),
    notify: enqueueActions(({ enqueue, context }, evt: AgentNotification) => {
      enqueue.emit(evt);
      // A root agent (run on its own, not spawned) has no parent to tell.
      if (!context.standalone) enqueue.sendParent(evt);
    }),
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({
    spec: input.spec,
    flowId: input.flowId,
    parentSessionID: input.parentSessionID,
    sessionID: input.sessionID,
    keepSessions: input.keepSessions ?? false,
    ...(input.standalone ? { standalone: true } : {}),
    promptTimeoutMs: input.promptTimeoutMs,
    maxProviderRetries: input.maxProviderRetries ?? RETRY_DEFAULTS.providerRetries,
    task: input.task,
    model: input.spec.model ?? '',
    attempts: [],
    streamed: '',
    costBase: 0,
    sessionCost: 0,
    retries: 0,
    busy: false,
    taskStartedAt: 0,
    results: [],
    inputQueue: [],
    inputs: [],
  }),
  initial: 'spawning',
  on: {
    STOP: '.cleanup',
    SESSION_LOST: {
      actions: assign({ sessionID: undefined, lastUserMessageID: undefined, busy: false, sessionLost: true }),
    },
  },
  states: {
    spawning: {
      entry: { type: 'notify', params: ({ context }) => stateNote(context, 'spawning') },
      // A task sent before the session exists is kept and started once it does.
      on: { PROMPT: { actions: 'takeTask' } },
      always: { guard: ({ context }) => context.sessionID !== undefined, target: 'ready' },
      invoke: {
        src: 'createSession',
        input: ({ context }) => ({
          spec: context.spec,
          parentSessionID: context.parentSessionID,
          flowId: context.flowId,
        }),
        onDone: { target: 'ready', actions: assign({ sessionID: ({ event }) => event.output.id, sessionLost: false }) },
        onError: {
          target: 'failed',
          actions: assign({
            attempts: ({ context, event }) => [
              ...context.attempts,
              { model: context.model, error: errorText(event.error), errorKind: 'other' as const },
            ],
            pendingError: ({ event }) => ({
              message: `could not create session: ${errorText(event.error)}`,
              kind: 'other' as const,
            }),
          }),
        },
      },
    },
    ready: {
      entry: { type: 'notify', params: ({ context }) => stateNote(context, 'ready') },
      always: { guard: 'hasTask', target: 'working' },
      on: { PROMPT: { target: 'working', actions: 'takeTask' } },
    },
    working: {
      entry: assign({
        busy: true,
        streamed: '',
        retries: 0,
        taskStartedAt: ({ context, self }) => (context.attempts.length === 0 ? nowOf(self) : context.taskStartedAt),
        costBase: ({ context }) => (context.attempts.length === 0 ? context.sessionCost : context.costBase),
      }),
      invoke: [
        {
          id: 'watch',
          src: 'watchSession',
          input: ({ context }) => ({
            sessionID: context.sessionID!,
            afterUserMessageID: context.lastUserMessageID,
            agent: context.spec.name,
            format: formatOf(context.spec, context.task),
          }),
        },
        // Any way out of `working` stops it, and with it the prompt's slot goes back.
        { id: 'slot', src: 'promptSlot', input: ({ context }) => ({ sessionID: context.sessionID! }) },
      ],
      on: {
        // Stopped mid-prompt (the flow was cancelled, or went over budget): what the prompt
        // cost so far still counts, so abort first and report it, then clean up.
        STOP: '#agent.halting',
        // Its server died: the same task again in a new session (the old one is gone with it).
        SESSION_LOST: {
          target: '#agent.spawning',
          actions: assign(({ context, event }) => ({
            attempts: [
              ...context.attempts,
              { model: context.model, error: `moved to another server: ${event.reason}`, errorKind: 'server' as const },
            ],
            sessionID: undefined,
            sessionLost: true,
            lastUserMessageID: undefined,
            busy: false,
            // The new session's cost starts at 0; what the lost one cost is not known any more.
            sessionCost: 0,
            costBase: 0,
            inputQueue: [],
            pendingAnswer: undefined,
          })),
        },
        // OpenCode paused the session for a person: answer by policy, or wait for one.
        'oc.input': {
          target: '.awaitingInput',
          actions: assign({ inputQueue: ({ context, event }) => [...context.inputQueue, event.request] }),
        },
        'oc.delta': {
          actions: [
            assign({ streamed: ({ context, event }) => context.streamed + event.text }),
            {
              type: 'notify',
              params: ({ context, event }) => ({
                type: 'agent.delta',
                agent: context.spec.name,
                sessionID: context.sessionID!,
                text: event.text,
              }),
            },
          ],
        },
        'oc.tool': {
          actions: {
            type: 'notify',
            params: ({ context, event }) => ({
              type: 'agent.tool',
              agent: context.spec.name,
              sessionID: context.sessionID!,
              tool: event.tool,
              status: event.status,
              input: event.input,
            }),
          },
        },
        'oc.retry': [
          {
            guard: 'tooManyRetries',
            target: 'fallback',
            actions: assign({ pendingError: ({ event }) => ({ message: event.message, kind: event.kind }) }),
          },
          { actions: assign({ retries: ({ event }) => event.attempt }) },
        ],
        'oc.outcome': [
          {
            guard: 'outcomeAborted',
            target: 'failed',
            // Recorded like every failed try: the supervisor reads the last attempt's kind to
            // leave an abort alone instead of retrying it.
            actions: [
              'takeOutcome',
              assign(({ context, event }) => {
                // OpenCode's own abort says just that; any other ending (the session gone) says why.
                const e = event.type === 'oc.outcome' ? event.outcome.error : undefined;
                const message = e && e.name !== 'MessageAbortedError' && e.message ? e.message : 'aborted';
                return {
                  attempts: [
                    ...context.attempts,
                    { model: context.model, error: message, errorKind: 'aborted' as const },
                  ],
                  pendingError: { message, kind: 'aborted' as const },
                };
              }),
            ],
          },
          {
            guard: 'outcomeFailed',
            target: 'fallback',
            actions: [
              'takeOutcome',
              assign({ pendingError: ({ event }) => (event.type === 'oc.outcome' ? event.outcome.error : undefined) }),
            ],
          },
          {
            guard: 'structuredMissing',
            target: 'fallback',
            actions: [
              'takeOutcome',
              assign({
                pendingError: {
                  message: 'the model answered without structured output (it never called StructuredOutput)',
                  kind: 'structured_output' as const,
                },
              }),
            ],
          },
          { target: 'done', actions: 'takeOutcome' },
        ],
      },
      initial: 'preparing',
      states: {
        // Not a state the agent reports: the model and the prompt's id are decided.
        preparing: {
          invoke: {
            src: 'preparePrompt',
            input: ({ context }) => ({
              sessionID: context.sessionID!,
              spec: context.spec,
              task: context.task!,
              model: context.model,
              lastUserMessageID: context.lastUserMessageID,
            }),
            onDone: {
              target: 'prompting',
              actions: assign({
                model: ({ context, event }) => event.output.model || context.model,
                promptID: ({ event }) => event.output.promptID,
              }),
            },
            onError: [
              {
                // The flow's budget refused the prompt: no model can help, stop here (retry.ts).
                guard: ({ event }) => onPromptFailure(thrownErrorKind(event.error)) === 'fail',
                target: '#agent.failed',
                actions: assign({
                  attempts: ({ context, event }) => [
                    ...context.attempts,
                    { model: context.model, error: errorText(event.error), errorKind: 'budget' as const },
                  ],
                  pendingError: ({ event }) => ({ message: errorText(event.error), kind: 'budget' as const }),
                }),
              },
              {
                target: '#agent.fallback',
                actions: assign({
                  pendingError: ({ event }) => ({ message: errorText(event.error), kind: 'other' as const }),
                }),
              },
            ],
          },
        },
        prompting: {
          entry: { type: 'notify', params: ({ context }) => stateNote(context, 'prompting') },
          invoke: {
            src: 'sendPrompt',
            input: ({ context }) => ({
              sessionID: context.sessionID!,
              spec: context.spec,
              task: context.task!,
              model: context.model,
              ...(context.promptID ? { promptID: context.promptID } : {}),
            }),
            onDone: { target: 'streaming' },
            onError: {
              target: '#agent.fallback',
              actions: assign({
                pendingError: ({ event }) => ({ message: errorText(event.error), kind: 'other' as const }),
              }),
            },
          },
          // Never `oc.interrupted` here: a prompt an earlier run sent is reported on only once
          // sendPrompt found it in the session and the agent is `streaming` (see the runtime).
        },
        streaming: {
          entry: { type: 'notify', params: ({ context }) => stateNote(context, 'streaming') },
          // Only a restored agent hears this (see WatchInput): send the prompt again, same model.
          on: { 'oc.interrupted': { target: '#agent.working', reenter: true, actions: 'recordInterruption' } },
          // The clock restarts after each answered request: waiting on a person is not the model's time.
          after: { promptTimeout: { target: '#agent.fallback', actions: 'promptTimedOut' } },
        },
        awaitingInput: {
          entry: { type: 'notify', params: ({ context }) => stateNote(context, 'awaitingInput') },
          // Restored while OpenCode asked a person, and OpenCode died with the question.
          on: { 'oc.interrupted': { target: '#agent.working', reenter: true, actions: 'recordInterruption' } },
          // Requests arriving meanwhile queue up (the transition on `working` appends them).
          initial: 'deciding',
          states: {
            deciding: {
              always: [
                { guard: 'policyAsks', target: 'asking' },
                {
                  target: 'replying',
                  actions: assign({
                    pendingAnswer: ({ context }) => ({
                      answer: decideInput(context.inputQueue[0]!, context.spec.inputPolicy) as InputAnswer,
                      by: 'policy' as const,
                    }),
                  }),
                },
              ],
            },
            asking: {
              entry: {
                type: 'notify',
                params: ({ context }) => ({
                  type: 'agent.input_required',
                  agent: context.spec.name,
                  sessionID: context.sessionID!,
                  request: context.inputQueue[0]!,
                }),
              },
              on: {
                INPUT_REPLY: {
                  guard: 'replyMatches',
                  target: 'replying',
                  actions: assign({ pendingAnswer: ({ event }) => ({ answer: event.answer, by: 'user' as const }) }),
                },
              },
              after: {
                inputTimeout: [
                  {
                    guard: 'timeoutFails',
                    target: '#agent.failed',
                    actions: assign({
                      attempts: ({ context }) => [
                        ...context.attempts,
                        {
                          model: context.model,
                          error: `nobody answered ${context.inputQueue[0]!.kind} request ${context.inputQueue[0]!.id} in time`,
                          errorKind: 'input' as const,
                        },
                      ],
                      inputs: ({ context, self }) => [
                        ...context.inputs,
                        {
                          request: context.inputQueue[0]!,
                          answer: timeoutAnswer(context.inputQueue[0]!),
                          by: 'timeout' as const,
                          at: nowOf(self),
                        },
                      ],
                      pendingError: ({ context }) => ({
                        message: `nobody answered ${context.inputQueue[0]!.kind} request ${context.inputQueue[0]!.id} in time`,
                        kind: 'input' as const,
                      }),
                    }),
                  },
                  {
                    target: 'replying',
                    actions: assign({
                      pendingAnswer: ({ context }) => ({
                        answer: timeoutAnswer(context.inputQueue[0]!),
                        by: 'timeout' as const,
                      }),
                    }),
                  },
                ],
              },
            },
            replying: {
              invoke: {
                src: 'replyInput',
                input: ({ context }) => ({ request: context.inputQueue[0]!, answer: context.pendingAnswer!.answer }),
                onDone: { target: 'answered' },
                // The request may be gone already (answered elsewhere, session aborted): go on.
                onError: { target: 'answered' },
              },
            },
            answered: {
              entry: [
                assign(({ context, self }) => {
                  const record: InputRecord = {
                    request: context.inputQueue[0]!,
                    answer: context.pendingAnswer!.answer,
                    by: context.pendingAnswer!.by,
                    at: nowOf(self),
                  };
                  return {
                    inputs: [...context.inputs, record],
                    inputQueue: context.inputQueue.slice(1),
                    pendingAnswer: undefined,
                  };
                }),
                {
                  type: 'notify',
                  params: ({ context }) => ({
                    type: 'agent.input_answered',
                    agent: context.spec.name,
                    record: context.inputs[context.inputs.length - 1]!,
                  }),
                },
              ],
              always: [{ guard: 'moreInput', target: 'deciding' }, { target: '#agent.working.streaming' }],
            },
          },
        },
      },
    },
    fallback: {
      entry: [
        assign({
          attempts: ({ context }) => [
            ...context.attempts,
            {
              model: context.model,
              error: context.pendingError?.message ?? 'unknown error',
              errorKind: context.pendingError?.kind ?? 'other',
            },
          ],
        }),
        { type: 'notify', params: ({ context }) => stateNote(context, 'fallback') },
      ],
      initial: 'aborting',
      states: {
        aborting: {
          invoke: {
            src: 'abortSession',
            input: ({ context }) => ({ sessionID: context.sessionID! }),
            onDone: {
              target: 'choosing',
              actions: assign({
                sessionCost: ({ event }) => event.output.sessionCost,
                lastUserMessageID: ({ context, event }) => event.output.lastUserMessageID ?? context.lastUserMessageID,
              }),
            },
            onError: 'choosing',
          },
        },
        choosing: {
          invoke: {
            src: 'chooseFallback',
            input: ({ context }) => fallbackInput(context),
            onDone: [
              {
                guard: ({ event }) => typeof event.output === 'string' && event.output.length > 0,
                target: '#agent.working',
                actions: [
                  {
                    type: 'notify',
                    params: ({ context, event }) => ({
                      type: 'agent.fallback',
                      agent: context.spec.name,
                      from: context.model,
                      to: event.output!,
                      reason: context.pendingError?.message ?? '',
                    }),
                  },
                  assign({ model: ({ event }) => event.output!, pendingError: undefined }),
                ],
              },
              { target: '#agent.failed' },
            ],
            onError: '#agent.failed',
          },
        },
      },
    },
    done: {
      entry: [
        assign(({ context, self }) => {
          const result = makeResult(context, 'done', nowOf(self));
          return {
            result,
            results: [...context.results, result],
            task: undefined,
            attempts: [],
            busy: false,
            inputs: [],
            inputQueue: [],
          };
        }),
        { type: 'notify', params: ({ context }) => stateNote(context, 'done') },
        {
          type: 'notify',
          params: ({ context }) => ({ type: 'agent.done', agent: context.spec.name, result: context.result! }),
        },
      ],
      on: {
        PROMPT: [
          { guard: ({ context }) => context.sessionID === undefined, target: 'spawning', actions: 'takeTask' },
          { target: 'working', actions: 'takeTask' },
        ],
      },
    },
    failed: {
      entry: [
        assign(({ context, self }) => {
          const result = makeResult(context, 'failed', nowOf(self));
          return {
            result,
            results: [...context.results, result],
            task: undefined,
            attempts: [],
            busy: false,
            inputs: [],
            inputQueue: [],
          };
        }),
        { type: 'notify', params: ({ context }) => stateNote(context, 'failed') },
        {
          type: 'notify',
          params: ({ context }) => ({
            type: 'agent.failed',
            agent: context.spec.name,
            result: context.result!,
            error: context.result!.error ?? 'failed',
          }),
        },
      ],
      on: {
        PROMPT: [
          { guard: ({ context }) => context.sessionID !== undefined, target: 'working', actions: 'takeTask' },
          // Its session was lost with its server (see SESSION_LOST): a new one first.
          { guard: ({ context }) => context.sessionLost === true, target: 'spawning', actions: 'takeTask' },
        ],
      },
    },
    halting: {
      on: { STOP: {} },
      invoke: {
        src: 'abortSession',
        input: ({ context }) => ({ sessionID: context.sessionID! }),
        // Still `busy` for cleanup, which aborts again: a prompt whose request was still on
        // its way when STOP came may only start now.
        onDone: {
          target: 'halted',
          actions: assign({
            sessionCost: ({ context, event }) => Math.max(context.sessionCost, event.output.sessionCost),
          }),
        },
        onError: 'halted',
      },
    },
    /** Stopped mid-prompt: a failed result with the prompt's cost so far, then cleanup. */
    halted: {
      entry: [
        assign(({ context, self }) => {
          const attempts = [
            ...context.attempts,
            { model: context.model, error: 'stopped while prompting', errorKind: 'aborted' as const },
          ];
          const result = makeResult(
            { ...context, attempts, pendingError: { message: 'stopped while prompting', kind: 'aborted' } },
            'failed',
            nowOf(self),
          );
          return { result, results: [...context.results, result], attempts: [], inputQueue: [] };
        }),
        {
          type: 'notify',
          params: ({ context }) => ({
            type: 'agent.failed',
            agent: context.spec.name,
            result: context.result!,
            error: context.result!.error ?? 'stopped',
          }),
        },
      ],
      always: 'cleanup',
    },
    cleanup: {
      entry: { type: 'notify', params: ({ context }) => stateNote(context, 'cleanup') },
      on: { STOP: {} },
      invoke: {
        src: 'cleanupSession',
        // Only a session stopped mid-prompt needs an abort; a finished one is just deleted.
        input: ({ context }) => ({ sessionID: context.sessionID, keep: context.keepSessions, busy: context.busy }),
        onDone: 'stopped',
        onError: 'stopped',
      },
    },
    stopped: {
      type: 'final',
      entry: { type: 'notify', params: ({ context }) => stateNote(context, 'stopped') },
    },
  },
  output: ({ context }) => ({ results: context.results, sessionID: context.sessionID }),
});

function stateNote(context: AgentContext, state: string): AgentNotification {
  return { type: 'agent.state', agent: context.spec.name, state, model: context.model, sessionID: context.sessionID };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}

function makeResult(context: AgentContext, status: 'done' | 'failed', finishedAt: number): AgentResult {
  const last = context.lastOutcome;
  const fresh = last && last.userMessageID === context.lastUserMessageID ? last : undefined;
  const attempts = status === 'done' ? [...context.attempts, { model: context.model }] : context.attempts;
  return {
    agent: context.spec.name,
    taskId: context.task?.id ?? '',
    sessionID: context.sessionID ?? '',
    model: context.model,
    status,
    output: status === 'done' ? (fresh?.output ?? context.streamed) : context.streamed,
    cost: Math.max(0, context.sessionCost - context.costBase),
    tokens: fresh?.tokens ?? { input: 0, output: 0 },
    attempts,
    structured: status === 'done' ? fresh?.structured : undefined,
    error: status === 'failed' ? (context.pendingError?.message ?? 'failed') : undefined,
    ...(context.inputs.length ? { inputs: context.inputs } : {}),
    startedAt: context.taskStartedAt,
    finishedAt,
  };
}

export type AgentActorRef = ActorRefFrom<typeof agentMachine>;
export type AgentSnapshot = SnapshotFrom<typeof agentMachine>;

/**
 * The agent machine with another per-prompt timeout for agents whose input names none: a
 * run applies its `promptTimeoutMs` to every agent it runs, your machine's included.
 *
 * @example
 * ```ts
 * const agent = withPromptTimeout(agentMachine.provide({ actors }), 120_000);
 * ```
 */
export function withPromptTimeout<M extends typeof agentMachine>(machine: M, ms: number): M {
  return machine.provide({
    delays: { promptTimeout: ({ context }) => context.promptTimeoutMs ?? ms },
    actions: {
      promptTimedOut: assign({
        pendingError: ({ context }) => ({
          message: `no answer within ${context.promptTimeoutMs ?? ms} ms`,
          kind: 'timeout' as const,
        }),
      }),
    },
  }) as M;
}
