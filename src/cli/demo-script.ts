import { join } from 'node:path';
import type { ScriptedModel, ScriptedReply, ScriptedRequest, ScriptedRule } from '../testing/index.js';

/** The demo's scripted models, priced like a cheap, a mid and a flagship tier (USD per 1M tokens). */
export const DEMO_MODELS: ScriptedModel[] = [
  { id: 'small', cost: { input: 0.1, output: 0.4 }, context: 128_000 },
  { id: 'medium', cost: { input: 1, output: 4 }, context: 200_000 },
  { id: 'large', cost: { input: 3, output: 15 }, context: 200_000 },
];

/**
 * Quality and speed scores of the demo's scripted models, so the router has real choices:
 * in `cost` mode the researcher (floor 70) gets `small`, the reviewer (floor 80) `medium`.
 */
export const DEMO_MODEL_SCORES: Record<string, { quality: number; speed: number }> = {
  'scripted/small': { quality: 72, speed: 90 },
  'scripted/medium': { quality: 84, speed: 75 },
  'scripted/large': { quality: 95, speed: 60 },
};

/** The file of the bundled sample the demo reviews. */
export const DEMO_FILE = 'src/users.ts';

/** 1-based line of the first line containing `needle` (0 when absent). */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

/** Streams like a model: a short think before the first token, then steady chunks. */
function say(text: string): ScriptedReply {
  return { text, delayMs: 300, chunks: Math.min(60, Math.ceil(text.length / 24)), chunkDelayMs: 20 };
}

function researcherMap(file: string, source: string): string {
  const l = (s: string) => `${file}:${lineOf(source, s)}`;
  return [
    '## Map of src/',
    '',
    `- \`${file}\` (${source.trimEnd().split('\n').length} lines) is the user service; \`src/db.ts\` only declares the \`Db.query(sql, params?)\` interface.`,
    `- Entry points: \`findUserByEmail\` (${l('export async function findUserByEmail')}), \`login\` (${l('export async function login')}), \`hashPassword\` (${l('export function hashPassword')}), \`paginate\` (${l('export function paginate')}), \`recentUsers\` (${l('export function recentUsers')}).`,
    "- Data flow: `login` → `findUserByEmail` → `db.query` with the caller's e-mail; the stored hash is compared with `hashPassword(password)`.",
    '',
    '## Risky spots (facts, for the reviewer to judge)',
    '',
    `- ${l('SELECT * FROM users')}: the SQL text is built with a template string from \`email\`; \`Db.query\` takes \`params\` but they are not used.`,
    `- ${l("createHash('md5')")}: passwords are hashed with MD5, no salt.`,
    `- ${l('user.passwordHash ==')}: hashes are compared with \`==\`.`,
    `- ${l('items.slice(start')}: the page ends at \`start + size - 1\`.`,
    `- ${l('.sort((a, b)')}: sorts ascending by \`createdAt\`; the doc comment says newest first.`,
    '- `test/users.test.ts` covers `hashPassword` stability and that page 0 is non-empty; nothing else.',
    '',
    'Confidence: high for all of the above (read directly from the files).',
  ].join('\n');
}

function reviewFindings(file: string, source: string) {
  const at = (s: string) => lineOf(source, s);
  return [
    {
      severity: 'blocker',
      file,
      line: at('SELECT * FROM users'),
      problem: 'SQL injection: the e-mail is interpolated into the SQL text',
      fix: "db.query('SELECT * FROM users WHERE email = $1', [email])",
    },
    {
      severity: 'blocker',
      file,
      line: at("createHash('md5')"),
      problem: 'passwords hashed with unsalted MD5, crackable offline in seconds',
      fix: 'use scrypt or argon2 with a per-user salt (node:crypto scrypt)',
    },
    {
      severity: 'major',
      file,
      line: at('user.passwordHash =='),
      problem: 'timing-unsafe comparison of password hashes',
      fix: 'crypto.timingSafeEqual on equal-length buffers',
    },
    {
      severity: 'major',
      file,
      line: at('items.slice(start'),
      problem: 'off-by-one: every page drops its last item',
      fix: 'items.slice(start, start + size)',
    },
    {
      severity: 'minor',
      file,
      line: at('.sort((a, b)'),
      problem: 'sorted oldest first, the doc says newest first',
      fix: 'compare b to a',
    },
  ];
}

function reviewText(findings: ReturnType<typeof reviewFindings>): string {
  return [
    '## Verdict',
    '',
    '**request changes** — two blockers: an SQL injection on the login path and unsalted MD5 password hashes.',
    '',
    '## Findings',
    '',
    ...findings.map((f, i) => `${i + 1}. [${f.severity}] ${f.file}:${f.line} — ${f.problem}. Fix: \`${f.fix}\`.`),
    '6. [minor] test/users.test.ts:10 — `paginate` is only checked for a non-empty page; a test of the exact page contents would have caught finding 4.',
    '',
    '## What is good',
    '',
    '- Small, typed functions with clear names; the `Db` interface keeps the service testable.',
    '',
    'Recorded in shared memory: `review/verdict` and `review/findings`.',
  ].join('\n');
}

/**
 * The scripted replies of `opencode-flow demo`: the code-review flow (researcher, then
 * reviewer) on the bundled sample, as a capable model would run it. The agents really call
 * OpenCode's `read` tool on the sample and the `flow_memory_set` tool of shared memory;
 * every line number quoted is computed from what the read tool returned.
 *
 * @param project - The directory the demo's OpenCode server works in (a copy of the sample).
 *
 * @example
 * ```ts
 * const llm = await startScriptedLLM({ rules: demoRules(projectDir) });
 * ```
 */
export function demoRules(project: string): ScriptedRule[] {
  const path = join(project, DEMO_FILE);
  // What OpenCode's read tool returned for the file ("12: line" per line): the replies are
  // built from it, so they quote what the agent really read.
  const source = (req: ScriptedRequest) => {
    const read = req.toolResults.find((t) => t.content.includes(path) && /^\d+: /m.test(t.content));
    if (!read) return undefined;
    return read.content
      .split('\n')
      .flatMap((l) => {
        const m = /^(\d+): ?(.*)$/.exec(l);
        return m ? [m[2]!] : [];
      })
      .join('\n');
  };
  const unread = `I could not read ${DEMO_FILE}, so I cannot say anything about it.`;
  const researcher = (req: ScriptedRequest) => /You are the \*\*researcher\*\*/.test(req.system);
  const reviewer = (req: ScriptedRequest) => /You are the \*\*reviewer\*\*/.test(req.system);
  return [
    {
      name: 'researcher reads',
      match: { when: (r) => researcher(r) && r.toolResults.length === 0 },
      reply: {
        text: 'Mapping the module first.\n',
        delayMs: 300,
        toolCalls: [
          { name: 'read', arguments: { filePath: path } },
          { name: 'read', arguments: { filePath: join(project, 'test/users.test.ts') } },
        ],
      },
    },
    {
      name: 'researcher maps',
      match: { when: researcher },
      reply: (req) => {
        const text = source(req);
        return say(text === undefined ? unread : researcherMap(DEMO_FILE, text));
      },
    },
    {
      name: 'reviewer reads',
      match: { when: (r) => reviewer(r) && r.toolResults.length === 0 },
      reply: {
        text: 'Reading the code the researcher mapped.\n',
        delayMs: 300,
        toolCalls: [{ name: 'read', arguments: { filePath: path } }],
      },
    },
    {
      name: 'reviewer records',
      match: { when: (r) => reviewer(r) && r.toolResults.length === 1 },
      reply: (req) => {
        const text = source(req);
        if (text === undefined) return say(unread);
        const findings = reviewFindings(DEMO_FILE, text);
        return {
          delayMs: 300,
          toolCalls: [
            {
              name: 'flow_memory_set',
              arguments: {
                key: 'review/verdict',
                value: {
                  verdict: 'request changes',
                  blockers: 2,
                  summary: 'SQL injection and unsalted MD5 hashes on the login path',
                },
              },
            },
            { name: 'flow_memory_set', arguments: { key: 'review/findings', value: findings } },
          ],
        };
      },
    },
    {
      name: 'reviewer answers',
      match: { when: reviewer },
      reply: (req) => {
        const text = source(req);
        return say(text === undefined ? unread : reviewText(reviewFindings(DEMO_FILE, text)));
      },
    },
  ];
}
