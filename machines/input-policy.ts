/**
 * What an agent does when OpenCode pauses its session for a person: a permission request
 * (`permission.asked`, a tool under an `ask` rule) or a question the model asked
 * (`question.asked`). Pure decisions, no I/O: the agent machine applies them.
 */

/** A request OpenCode is waiting on. */
export type InputRequest =
  | {
      kind: 'permission';
      id: string;
      sessionID: string;
      /** `bash`, `edit`, `webfetch`, ... */
      permission: string;
      /** What it applies to (commands, paths). */
      patterns: string[];
      metadata?: Record<string, unknown>;
    }
  | {
      kind: 'question';
      id: string;
      sessionID: string;
      questions: Array<{
        question: string;
        header?: string;
        options: Array<{ label: string; description?: string }>;
        multiple?: boolean;
      }>;
    };

/** The answer given. Permissions: once/always/reject. Questions: one answer list per question, or reject. */
export type InputAnswer =
  { reply: 'once' | 'always' | 'reject'; message?: string } | { answers: string[][] } | { reply: 'reject' };

export interface PermissionRule {
  /** Permission type (`bash`, `edit`, ...) or `*`. */
  permission: string;
  /** Glob on the request's patterns (`rm -rf*`, `src/**`); `*` matches anything. */
  pattern?: string;
  action: 'allow' | 'reject' | 'ask';
}

/** How an agent answers; every field optional (see {@link DEFAULT_INPUT_POLICY}). */
export interface InputPolicy {
  /** `ask` waits for `flow.reply` (or the CLI's prompt); a rule list is tried in order. */
  onPermission?: 'ask' | 'allow' | 'reject' | PermissionRule[];
  onQuestion?: 'ask' | 'reject' | 'first-option';
  /** How long `ask` waits for someone (ms). Default 5 minutes. */
  inputTimeoutMs?: number;
  /** What happens when nobody answers in time. Default `reject` (and the agent goes on). */
  onInputTimeout?: 'reject' | 'fail';
}

/**
 * Headless default: a flow never waits on nobody. OpenCode already applied the agent's
 * permission template; what reaches us is what the template says to ask about, and that
 * is rejected. Questions are rejected too.
 */
export const DEFAULT_INPUT_POLICY: Required<InputPolicy> = {
  onPermission: 'reject',
  onQuestion: 'reject',
  inputTimeoutMs: 300_000,
  onInputTimeout: 'reject',
};

function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '.*')
    .replace(/\u0000/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's');
}

/** Decide a request by policy: an answer, or `ask` (wait for a person). */
export function decideInput(request: InputRequest, policy: InputPolicy = {}): 'ask' | InputAnswer {
  const p = { ...DEFAULT_INPUT_POLICY, ...policy };
  if (request.kind === 'question') {
    if (p.onQuestion === 'ask') return 'ask';
    if (p.onQuestion === 'first-option') {
      return { answers: request.questions.map((q) => (q.options[0] ? [q.options[0].label] : [])) };
    }
    return { reply: 'reject' };
  }
  const onPermission = p.onPermission;
  if (onPermission === 'ask') return 'ask';
  if (onPermission === 'allow') return { reply: 'once' };
  if (onPermission === 'reject')
    return { reply: 'reject', message: `opencode-flow: ${request.permission} was not allowed by the flow's policy` };
  // Each subject (a command of a compound `a && b`, a path) gets the action of the first
  // rule that matches it (none: reject). The request is allowed only if every subject is;
  // any rejected subject rejects it, so `rm -rf x && echo ok` cannot slip past a rule
  // for `rm -rf*` behind an allow-all rule.
  const subjects = request.patterns.length ? request.patterns : [''];
  let ask = false;
  for (const subject of subjects) {
    const rule = onPermission.find(
      (r) =>
        (r.permission === '*' || r.permission === request.permission) && globToRegExp(r.pattern ?? '*').test(subject),
    );
    if (!rule || rule.action === 'reject') {
      return {
        reply: 'reject',
        message: rule
          ? `opencode-flow: rule ${request.permission} ${rule.pattern ?? '*'} rejects ${subject}`
          : `opencode-flow: no rule allows ${request.permission} ${subject}`,
      };
    }
    if (rule.action === 'ask') ask = true;
  }
  return ask ? 'ask' : { reply: 'once' };
}

/** The answer used when nobody replied in time. */
export function timeoutAnswer(request: InputRequest): InputAnswer {
  return request.kind === 'question'
    ? { reply: 'reject' }
    : { reply: 'reject', message: 'opencode-flow: nobody answered in time' };
}

/** One request and what was answered, as kept in results and snapshots. */
export interface InputRecord {
  request: InputRequest;
  answer: InputAnswer;
  /** Who decided: the policy, a person (`flow.reply`), or the timeout. */
  by: 'policy' | 'user' | 'timeout';
  at: number;
}
