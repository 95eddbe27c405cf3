import type { OpencodeFlow } from '../flow/index.js';
import { checkHealth } from '../opencode/server.js';

/** One dependency's check. */
export interface ReadinessCheck {
  ok: boolean;
  /** Why it is not ok. */
  error?: string;
  /** OpenCode's version, when it answered. */
  version?: string;
  /** Memory is turned off (`memory: false`): nothing to check. */
  disabled?: boolean;
}

/** Body of `/readyz`: 200 when `ready`, else 503 with the reasons. */
export interface Readiness {
  ready: boolean;
  checks: { opencode: ReadinessCheck; memory: ReadinessCheck };
  reasons: string[];
}

/** The memory key `/readyz` reads; it need not exist, the backend only has to answer. */
export const READYZ_MEMORY_KEY = '__readyz';

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Is the API able to run flows now? OpenCode must answer its health check (one try, short
 * timeout) and the memory backend must answer a read.
 *
 * @example
 * ```ts
 * const r = await checkReadiness(flow, { timeoutMs: 1500 });
 * if (!r.ready) console.error(r.reasons.join('; '));
 * ```
 */
export async function checkReadiness(
  flow: OpencodeFlow,
  { timeoutMs = 1500 }: { timeoutMs?: number } = {},
): Promise<Readiness> {
  const opencode = async (): Promise<ReadinessCheck> => {
    const url = flow.serverUrl;
    if (!url) return { ok: false, error: 'OpenCode server not started yet' };
    try {
      const h = await checkHealth(
        { url, password: flow.options.password, username: flow.options.username },
        { timeoutMs, attempts: 1 },
      );
      return { ok: true, ...(h.version ? { version: h.version } : {}) };
    } catch (e) {
      return { ok: false, error: message(e) };
    }
  };
  const memory = async (): Promise<ReadinessCheck> => {
    if (flow.options.memory === false) return { ok: true, disabled: true };
    try {
      await withTimeout(flow.memory.get(READYZ_MEMORY_KEY), timeoutMs, 'memory backend');
      return { ok: true };
    } catch (e) {
      return { ok: false, error: message(e) };
    }
  };
  const [oc, mem] = await Promise.all([opencode(), memory()]);
  const reasons = [...(oc.ok ? [] : [`opencode: ${oc.error}`]), ...(mem.ok ? [] : [`memory: ${mem.error}`])];
  return { ready: reasons.length === 0, checks: { opencode: oc, memory: mem }, reasons };
}
