import type { TaskType } from './config.js';

/**
 * Minimum quality (0–100) a model needs before scoring may pick it for a task type. A
 * production-code task never goes to a model under its floor; a `docs` or `general` task may
 * go to an unscored model (default quality 60). Override per flow with `modelRouter.floors`.
 *
 * @example
 * ```ts
 * DEFAULT_FLOORS.code; // 85
 * ```
 */
export const DEFAULT_FLOORS: Readonly<Record<TaskType, number>> = Object.freeze({
  code: 85,
  security: 85,
  review: 80,
  plan: 80,
  research: 70,
  test: 70,
  docs: 60,
  general: 60,
});

/**
 * The floor for a task type, the user's override first.
 *
 * @example
 * ```ts
 * floorFor('code', { code: 90 }); // 90
 * floorFor('docs');               // 60
 * ```
 */
export function floorFor(taskType: TaskType, overrides?: Partial<Record<TaskType, number | undefined>>): number {
  return overrides?.[taskType] ?? DEFAULT_FLOORS[taskType];
}

/**
 * What {@link classifyTask} reads.
 *
 * @example
 * ```ts
 * const input: ClassifyInput = { agent: 'reviewer', task: 'Review PR #12' };
 * ```
 */
export interface ClassifyInput {
  /** The agent's name (`coder`, `security-auditor`, OpenCode's `build`/`plan`/`explore`...). */
  agent?: string;
  /** The agent's role, when it differs from its name. */
  role?: string;
  task: string;
}

/** Checked in order: `security-reviewer` is security, `code-reviewer` is review, `test-writer` is test. */
const ROLE_PATTERNS: ReadonlyArray<readonly [RegExp, TaskType]> = [
  [/secur|audit|pentest|vuln/, 'security'],
  [/review/, 'review'],
  [/\btest|\bqa\b/, 'test'],
  [/\bplan|architect/, 'plan'],
  [/research|investigat|analyst|explor/, 'research'],
  [/\bdocs?\b|document|writer/, 'docs'],
  [/cod(e|er|ing)\b|develop|engineer|build|implement|programm/, 'code'],
];

/** Keyword evidence in task text; each pattern that matches counts one point for its type. */
const KEYWORDS: ReadonlyArray<readonly [TaskType, readonly RegExp[]]> = [
  [
    'security',
    [
      /\bsecurity\b/,
      /\bvulnerab/,
      /\bcve\b|\bcve-\d/,
      /\bexploit/,
      /\bxss\b|\bcsrf\b|\bssrf\b/,
      /\binjection\b/,
      /\bowasp\b/,
      /\bpentest|\bpenetration test/,
      /\bthreat model/,
      /\baudit\b/,
    ],
  ],
  [
    'code',
    [
      /\bimplement/,
      /\bbuild\b/,
      /\brefactor/,
      /\bfix(es|ed|ing)?\b/,
      /\bbugs?\b/,
      /\bendpoints?\b/,
      /\bapi\b/,
      /\bfunctions?\b/,
      /\bclass(es)?\b/,
      /\bcode\b/,
      /\bfeature\b/,
      /\bdebug/,
      /\btypescript\b|\bjavascript\b|\bpython\b|\brust\b|\bgolang\b/,
    ],
  ],
  [
    'test',
    [
      /\btests?\b|\btesting\b/,
      /\bunit[- ]tests?\b/,
      /\bcoverage\b/,
      /\be2e\b|\bend-to-end\b/,
      /\bvitest\b|\bjest\b|\bpytest\b|\bmocha\b/,
      /\btest cases?\b/,
    ],
  ],
  ['review', [/\breview/, /\bcritique\b/, /\bpull request\b|\bpr\s*#?\d+/, /\bcode quality\b/, /\bfeedback\b/]],
  [
    'plan',
    [
      /\bplan(s|ning)?\b/,
      /\barchitect/,
      /\bdesign\b/,
      /\broadmap\b/,
      /\bbreak (it |this )?down\b|\bdecompos/,
      /\bmilestones?\b/,
      /\bstrategy\b/,
    ],
  ],
  [
    'research',
    [
      /\bresearch/,
      /\binvestigat/,
      /\bcompare\b|\bcomparison\b/,
      /\bsurvey\b/,
      /\bfind out\b/,
      /\btrends?\b/,
      /\bstate of the art\b/,
      /\bsummari[sz]e/,
      /\bexplore\b/,
    ],
  ],
  [
    'docs',
    [
      /\bdocument/,
      /\breadme\b/,
      /\bdocs\b/,
      /\btutorial\b/,
      /\bchangelog\b/,
      /\bjsdoc\b|\btsdoc\b|\bdocstrings?\b/,
      /\bguide\b/,
    ],
  ],
];

/**
 * Classifies a task: the agent's role first, then its name (reviewer → review, coder →
 * code, tester → test, planner/architect → plan, security-auditor → security, researcher →
 * research; OpenCode's `build` → code, `plan` → plan, `explore` → research), then keywords in
 * the task text (most matching patterns wins; ties go security > code > test > review > plan
 * > research > docs). Nothing matched: `general`.
 *
 * @example
 * ```ts
 * classifyTask({ agent: 'reviewer', task: 'Look at src/' });        // 'review'
 * classifyTask({ agent: 'general', task: 'Write unit tests for x' }); // 'test'
 * classifyTask({ task: 'Say hello' });                                // 'general'
 * ```
 */
export function classifyTask(input: ClassifyInput): TaskType {
  const byRole = fromName(input.role) ?? fromName(input.agent);
  if (byRole) return byRole;
  return fromText(input.task);
}

function fromName(name: string | undefined): TaskType | undefined {
  if (!name) return undefined;
  const lower = name.toLowerCase();
  for (const [re, type] of ROLE_PATTERNS) if (re.test(lower)) return type;
  return undefined;
}

function fromText(task: string): TaskType {
  const text = task.toLowerCase();
  let best: TaskType = 'general';
  let bestScore = 0;
  for (const [type, patterns] of KEYWORDS) {
    let score = 0;
    for (const re of patterns) if (re.test(text)) score++;
    // Strictly greater: earlier entries of KEYWORDS win ties.
    if (score > bestScore) {
      best = type;
      bestScore = score;
    }
  }
  return best;
}
