import {
  createOpencodeClient,
  type AssistantMessage,
  type Message,
  type OutputFormat,
  type Part,
  type PermissionRuleset,
  type OpencodeClient as SdkClient,
} from '@opencode-ai/sdk/v2';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { authHeader, type ServerEndpoint } from './server.js';
import { injectTraceHeaders } from '../telemetry/sessions.js';

export type { AssistantMessage, Message, Part, OutputFormat, PermissionRuleset };

/** A `provider/model` pair as OpenCode wants it. */
export interface ModelRef {
  providerID: string;
  modelID: string;
}

/** One message with its parts, as `session.messages` returns it. */
export interface MessageWithParts {
  info: Message;
  parts: Part[];
}

/** The outcome of one prompt, read back from the session's messages. */
export interface PromptOutcome {
  /** The user message our prompt created. */
  userMessageID: string;
  /** The last assistant message answering it. */
  final: AssistantMessage;
  /** Every assistant message answering it (one per model step). */
  assistant: AssistantMessage[];
  /** Text of the final answer (text parts of the last assistant message). */
  output: string;
  /** Sum of `info.cost` over the assistant messages of this prompt. */
  cost: number;
  tokens: { input: number; output: number; reasoning: number; cacheRead: number; cacheWrite: number };
  /** Structured output, when a `format` was requested. */
  structured?: unknown;
}

export interface OpencodeClientOptions extends ServerEndpoint {
  /** The project directory sessions run in (OpenCode instance). Default: the server's cwd. */
  directory?: string;
  /** Timeout for every HTTP call except the event stream. Default 15 s. */
  requestTimeoutMs?: number;
  /**
   * How long the first call may wait on OpenCode booting the project's instance (it boots on
   * the first request naming the directory; with a plugin in the config a fresh server first
   * installs OpenCode's plugin package: 22 s seen offline, minutes on a slow network).
   * Default 180 s.
   */
  instanceStartTimeoutMs?: number;
}

type SdkResult<T> = { data?: T; error?: unknown; response?: Response };

/**
 * `fetch(req)` that fails with a `TimeoutError` when the answer, body included, has not come
 * within `ms`, or with the request's own abort reason. The timer is cleared once the body is
 * read (the reads of this one response are wrapped: no copy of the body, no second stream),
 * or at once when there is no body to read: a timer left to fire later (as
 * `AbortSignal.timeout` is) aborts a request that is long done, and undici then builds and
 * throws away an AbortError for it. One controller and one timer per request, instead of
 * `AbortSignal.any` over a timeout signal and a clone of the request. A body-less request
 * (every retried one: GETs) is reused as it is; a request with a body is sent once.
 */
async function fetchWithin(req: Request, ms: number): Promise<Response> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  const onAbort = () => ac.abort(req.signal.reason);
  const done = () => {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onAbort);
  };
  if (req.signal.aborted) onAbort();
  else req.signal.addEventListener('abort', onAbort, { once: true });
  let res: Response;
  try {
    res = await fetch(req, { signal: ac.signal });
  } catch (e) {
    done();
    throw e;
  }
  // Nothing left to wait for: no body, or one the SDK does not read (it skips Content-Length 0).
  if (res.body === null || res.headers.get('content-length') === '0') {
    done();
    return res;
  }
  for (const read of BODY_READS) {
    const own = res[read] as (() => Promise<unknown>) | undefined;
    if (typeof own !== 'function') continue;
    Object.defineProperty(res, read, { value: () => own.call(res).finally(done) });
  }
  return res;
}

const BODY_READS = ['text', 'json', 'arrayBuffer', 'blob', 'bytes', 'formData'] as const;

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  if (!error) return 'unknown error';
  if (typeof error === 'string') return error;
  if (error instanceof Error)
    return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
  if (typeof error === 'object') {
    const e = error as { data?: { message?: string }; message?: string; name?: string };
    return e.data?.message ?? e.message ?? e.name ?? JSON.stringify(error).slice(0, 300);
  }
  return String(error);
}

/**
 * The typed wrapper over `@opencode-ai/sdk/v2` that the rest of opencode-flow uses. Every
 * HTTP call has a timeout (a starting server can leave requests hanging), idempotent
 * reads are retried, and failures become {@link FlowError}s with code `opencode_request`.
 * It knows nothing about flows.
 *
 * @example
 * ```ts
 * const oc = new OpencodeClient({ url: server.url });
 * const session = await oc.createSession({ title: 'researcher' });
 * await oc.promptAsync({ sessionID: session.id, text: 'Hello', model: { providerID: 'anthropic', modelID: 'claude-sonnet-4' } });
 * ```
 */
export class OpencodeClient {
  readonly sdk: SdkClient;
  readonly url: string;
  readonly directory?: string;
  private readonly timeoutMs: number;
  /** Set once the project's instance answered: later calls skip {@link waitForInstance}. */
  private instanceUp = false;

  constructor(readonly options: OpencodeClientOptions) {
    this.url = options.url;
    this.directory = options.directory;
    this.timeoutMs = options.requestTimeoutMs ?? 15_000;
    const headers: Record<string, string> = {};
    const auth = authHeader(options);
    if (auth) headers.authorization = auth;
    // On loopback, compression is CPU spent twice (OpenCode gzips, undici gunzips) to save no
    // network: at 100 agents on one server it was 5% of the client's time. Remote servers keep it.
    if (isLoopback(options.url)) headers['accept-encoding'] = 'identity';
    const timeoutMs = this.timeoutMs;
    const timedFetch = async (req: Request): Promise<Response> => {
      const q = req.url.indexOf('?');
      const isStream = (q < 0 ? req.url : req.url.slice(0, q)).endsWith('/event');
      // The event stream has no timeout: it is meant to stay open.
      if (isStream) return fetch(req);
      // The agent's span goes with every request about its session (W3C traceparent; nothing without a propagator).
      injectTraceHeaders(req.url, req.headers);
      const idempotent = req.method === 'GET';
      const attempts = idempotent ? 3 : 1;
      let last: unknown;
      for (let i = 0; i < attempts; i++) {
        try {
          return await fetchWithin(req, timeoutMs);
        } catch (e) {
          last = e;
          if (req.signal.aborted) throw e;
        }
      }
      throw last;
    };
    this.sdk = createOpencodeClient({
      baseUrl: options.url,
      directory: options.directory,
      headers,
      fetch: timedFetch as typeof fetch,
    });
  }

  private async call<T>(what: string, p: Promise<SdkResult<T>>): Promise<T> {
    let r: SdkResult<T>;
    try {
      r = await p;
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortError') throw e;
      const timedOut = e instanceof Error && e.name === 'TimeoutError';
      throw new FlowError(
        FlowErrorCode.OpencodeRequest,
        maskPasswords(
          `OpenCode ${what} ${timedOut ? `timed out after ${this.timeoutMs} ms` : `failed: ${describe(e)}`} (${this.url})`,
        ),
        { cause: e },
      );
    }
    if (r.error !== undefined || (r.response && !r.response.ok)) {
      throw new FlowError(
        FlowErrorCode.OpencodeRequest,
        `OpenCode ${what} failed${r.response ? ` (HTTP ${r.response.status})` : ''}: ${describe(r.error)}`,
        { cause: r.error, details: r.error, httpStatus: r.response?.status },
      );
    }
    return r.data as T;
  }

  /** Create a session; `parentID` makes it a child session (hierarchical flows). */
  async createSession(
    input: { parentID?: string; title?: string; agent?: string; permission?: PermissionRuleset } = {},
    signal?: AbortSignal,
  ) {
    return this.call('session.create', this.sdk.session.create(input, { signal }));
  }

  /** Send a prompt without waiting for the answer (HTTP 204). Follow it with events. */
  async promptAsync(
    input: {
      sessionID: string;
      text: string;
      model?: ModelRef;
      agent?: string;
      system?: string;
      tools?: Record<string, boolean>;
      format?: OutputFormat;
      /** The user message's id, ours (`newMessageID`): OpenCode keeps it, so the prompt can be found again. */
      messageID?: string;
    },
    signal?: AbortSignal,
  ): Promise<void> {
    const { text, ...rest } = input;
    await this.call(
      'session.promptAsync',
      this.sdk.session.promptAsync({ ...rest, parts: [{ type: 'text', text }] }, { signal }),
    );
  }

  /** True when the session holds a message of this id (false when OpenCode answers 404). */
  async hasMessage(sessionID: string, messageID: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.call('session.message', this.sdk.session.message({ sessionID, messageID }, { signal }));
      return true;
    } catch (e) {
      if ((e as { httpStatus?: number }).httpStatus === 404) return false;
      throw e;
    }
  }

  /** Abort whatever the session is doing. */
  async abort(sessionID: string, signal?: AbortSignal): Promise<boolean> {
    return this.call('session.abort', this.sdk.session.abort({ sessionID }, { signal }));
  }

  /** Delete a session and its data. */
  async deleteSession(sessionID: string, signal?: AbortSignal): Promise<boolean> {
    this.#paged.delete(sessionID);
    return this.call('session.delete', this.sdk.session.delete({ sessionID }, { signal }));
  }

  async getSession(sessionID: string, signal?: AbortSignal) {
    return this.call('session.get', this.sdk.session.get({ sessionID }, { signal }));
  }

  /**
   * Every message of a session, oldest first. A session that was sent a prompt with a
   * `format` (structured output) cannot be listed whole by OpenCode 1.18: its answer to a
   * page that reaches the session's first message and holds such a prompt is a 400 (its own
   * response check trips on the `retryCount` it adds to the prompt). Such sessions are read
   * page by page from the newest message back, smaller pages near the start; a formatted
   * prompt that no page can hold is given as a user message with its id and no parts (its id
   * is the `parentID` of the messages answering it).
   */
  async messages(sessionID: string, signal?: AbortSignal): Promise<MessageWithParts[]> {
    if (!this.#paged.has(sessionID)) {
      try {
        return (await this.call(
          'session.messages',
          this.sdk.session.messages({ sessionID }, { signal }),
        )) as MessageWithParts[];
      } catch (e) {
        if (!isFormattedListRefusal(e)) throw e;
        this.#paged.add(sessionID);
        if (this.#paged.size > 10_000) this.#paged.delete(this.#paged.values().next().value!);
      }
    }
    return this.#messagesPaged(sessionID, signal);
  }

  /** Sessions known to need a paged read (see {@link messages}). */
  readonly #paged = new Set<string>();

  async #messagesPaged(sessionID: string, signal?: AbortSignal): Promise<MessageWithParts[]> {
    const pages: MessageWithParts[][] = [];
    let before: string | undefined;
    let limit = 100;
    for (;;) {
      let r: SdkResult<MessageWithParts[]>;
      try {
        r = (await this.sdk.session.messages({ sessionID, limit, before }, { signal })) as SdkResult<
          MessageWithParts[]
        >;
      } catch (e) {
        return this.call('session.messages', Promise.reject(e));
      }
      if (r.response?.status === 400 && isFormattedListRefusal({ details: r.error })) {
        if (limit > 1) {
          limit = Math.max(1, Math.floor(limit / 2));
          continue;
        }
        // The session's first message is a formatted prompt: stand in for it.
        const answer = pages.at(-1)?.find((m) => m.info.role === 'assistant');
        const id = (answer?.info as { parentID?: string } | undefined)?.parentID;
        if (id) pages.push([{ info: { id, sessionID, role: 'user', time: { created: 0 } } as Message, parts: [] }]);
        break;
      }
      const page = await this.call('session.messages', Promise.resolve(r));
      pages.push(page);
      before = r.response?.headers.get('x-next-cursor') ?? undefined;
      if (!before || page.length === 0) break;
    }
    return pages.reverse().flat();
  }

  async children(sessionID: string, signal?: AbortSignal) {
    return this.call('session.children', this.sdk.session.children({ sessionID }, { signal }));
  }

  /** Status of every non-idle session (`busy`, `retry`); absent means idle. */
  async status(
    signal?: AbortSignal,
  ): Promise<Record<string, { type: string; attempt?: number; message?: string; next?: number }>> {
    return this.call('session.status', this.sdk.session.status({}, { signal })) as Promise<
      Record<string, { type: string; attempt?: number; message?: string; next?: number }>
    >;
  }

  /** Providers the server can serve, with their models and prices (after {@link waitForInstance}). */
  async providers(signal?: AbortSignal) {
    await this.waitForInstance(signal);
    return this.call('config.providers', this.sdk.config.providers({}, { signal }));
  }

  /** Agents the server knows (built-in and configured). */
  async agents(signal?: AbortSignal) {
    return this.call('app.agents', this.sdk.app.agents({}, { signal }));
  }

  /**
   * Wait until OpenCode has booted this client's project instance. Every request waits on
   * that boot, which can take longer than one request's timeout; a GET is safe to repeat, so
   * it is asked again until `instanceStartTimeoutMs`, and a call that must not be repeated
   * (a POST) is sent after it with only its own work left to wait for.
   *
   * @example
   * ```ts
   * await oc.waitForInstance();
   * await oc.addMcp('flow', { type: 'remote', url });
   * ```
   */
  async waitForInstance(signal?: AbortSignal): Promise<void> {
    if (this.instanceUp) return;
    const budget = this.options.instanceStartTimeoutMs ?? 180_000;
    const deadline = Date.now() + budget;
    for (;;) {
      try {
        await this.call('path.get', this.sdk.path.get({}, { signal }));
        this.instanceUp = true;
        return;
      } catch (e) {
        const timedOut = e instanceof FlowError && e.cause instanceof Error && e.cause.name === 'TimeoutError';
        if (!timedOut || signal?.aborted) throw e;
        if (Date.now() >= deadline)
          throw new FlowError(
            FlowErrorCode.OpencodeRequest,
            maskPasswords(`OpenCode did not finish starting the project within ${budget} ms (${this.url})`),
            { cause: e },
          );
      }
    }
  }

  /**
   * Register an MCP server on a running OpenCode server (config changes don't apply live).
   * Waits on the project's instance first ({@link waitForInstance}): the first `POST /mcp` to
   * a server that is still booting it would otherwise time out.
   */
  async addMcp(name: string, config: Record<string, unknown>, signal?: AbortSignal) {
    await this.waitForInstance(signal);
    return this.call('mcp.add', this.sdk.mcp.add({ name, config: config as never }, { signal }));
  }

  async mcpStatus(signal?: AbortSignal) {
    return this.call('mcp.status', this.sdk.mcp.status({}, { signal }));
  }

  /** Answer a permission request. */
  async replyPermission(
    requestID: string,
    reply: 'once' | 'always' | 'reject',
    message?: string,
    signal?: AbortSignal,
  ) {
    return this.call('permission.reply', this.sdk.permission.reply({ requestID, reply, message }, { signal }));
  }

  async listPermissions(signal?: AbortSignal) {
    return this.call('permission.list', this.sdk.permission.list({}, { signal }));
  }

  /** Answer a question the model asked (one answer list per question). */
  async replyQuestion(requestID: string, answers: string[][], signal?: AbortSignal) {
    return this.call('question.reply', this.sdk.question.reply({ requestID, answers: answers as never }, { signal }));
  }

  async rejectQuestion(requestID: string, signal?: AbortSignal) {
    return this.call('question.reject', this.sdk.question.reject({ requestID }, { signal }));
  }

  async listQuestions(signal?: AbortSignal) {
    return this.call('question.list', this.sdk.question.list({}, { signal }));
  }

  /**
   * Read back the outcome of the latest prompt of a session: the last user message and
   * the assistant messages answering it. Returns `undefined` while the answer is not
   * complete (no assistant message yet, or the last one has neither `time.completed`
   * nor an `error`). Call it when the session is idle: while it is busy, a completed
   * step may still be followed by another.
   */
  async readOutcome(sessionID: string, signal?: AbortSignal): Promise<PromptOutcome | undefined> {
    return outcomeOf(await this.messages(sessionID, signal));
  }
}

/** OpenCode's 400 for a message list holding a prompt sent with a `format` (see `OpencodeClient.messages`). */
function isFormattedListRefusal(e: unknown): boolean {
  const details = (e as { details?: unknown; httpStatus?: number } | undefined)?.details;
  const status = (e as { httpStatus?: number } | undefined)?.httpStatus;
  if (status !== undefined && status !== 400) return false;
  const message = (details as { data?: { message?: unknown } } | undefined)?.data?.message;
  return typeof message === 'string' && message.includes('OutputFormat') && message.includes('format');
}

/** Compute a {@link PromptOutcome} from a session's messages (pure). */
export function outcomeOf(messages: MessageWithParts[]): PromptOutcome | undefined {
  let userIdx = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.info.role === 'user') {
      userIdx = i;
      break;
    }
  }
  if (userIdx < 0) return undefined;
  const userMessageID = messages[userIdx]!.info.id;
  const answers = messages.slice(userIdx + 1).filter((m) => m.info.role === 'assistant') as Array<
    MessageWithParts & { info: AssistantMessage }
  >;
  const last = answers[answers.length - 1];
  if (!last) return undefined;
  // Callers read this once the session is idle: then the last step is final, even one that
  // ended in tool calls (the loop stops there when a question or permission is rejected).
  if (!last.info.time.completed && !last.info.error) return undefined;
  const tokens = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
  let cost = 0;
  for (const a of answers) {
    cost += a.info.cost ?? 0;
    tokens.input += a.info.tokens?.input ?? 0;
    tokens.output += a.info.tokens?.output ?? 0;
    tokens.reasoning += a.info.tokens?.reasoning ?? 0;
    tokens.cacheRead += a.info.tokens?.cache?.read ?? 0;
    tokens.cacheWrite += a.info.tokens?.cache?.write ?? 0;
  }
  const output = last.parts
    .filter((p): p is Extract<Part, { type: 'text' }> => p.type === 'text' && !(p as { synthetic?: boolean }).synthetic)
    .map((p) => p.text)
    .join('');
  return {
    userMessageID,
    final: last.info,
    assistant: answers.map((a) => a.info),
    output,
    cost,
    tokens,
    structured: last.info.structured,
  };
}
