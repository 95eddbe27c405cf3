import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlowConfig } from '../../src/config/flow-config.js';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import { FUZZ_SEED, mutate, mutateText, randomJson, Rng, STACK_TRACE, TERMINAL_CONTROL } from '../helpers/fuzz.js';
import { cli, removeMemoryFiles, tempDir } from './helpers.js';

/** Valid configs the fuzzer starts from: every section, each in more than one form. */
const VALID: unknown[] = [
  {
    task: 'Review src/',
    agents: [
      'reviewer',
      {
        name: 'strict',
        preset: 'reviewer',
        model: 'anthropic/claude-sonnet-4',
        temperature: 0,
        permissions: { edit: 'deny', bash: { 'git diff*': 'allow', '*': 'ask' } },
      },
    ],
    modelRouter: { mode: 'cost', maxCost: 0.5, fallbackChain: ['openai/gpt-5-mini'] },
    memory: 'sqlite:./flow.db',
    coordination: { mode: 'sequential', timeout: 60, maxConcurrent: 2, onAgentFailure: 'fail' },
  },
  {
    agents: [
      {
        name: 'x',
        model: 'claude-sonnet-4',
        provider: 'anthropic',
        tools: ['read', 'grep'],
        inputPolicy: { onPermission: 'reject', onQuestion: 'first-option' },
      },
    ],
    memory: { backend: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: 'ci:' },
    server: 'http://127.0.0.1:4097',
    model: 'openai/gpt-5-mini',
    fallback: ['anthropic/claude-haiku-4'],
    keepSessions: true,
    inputPolicy: { onPermission: 'ask', onQuestion: 'ask', inputTimeoutMs: 1000, onInputTimeout: 'fail' },
  },
];

const CASES = { objects: 200, texts: 150, roots: 80 };
const CLI_CASES = 5;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-config-fuzz-')));
afterAll(async () => {
  await cleanup();
  await removeMemoryFiles();
});

interface Case {
  name: string;
  text: string;
}

function generate(): Case[] {
  const rng = new Rng(FUZZ_SEED);
  const cases: Case[] = [];
  for (let i = 0; i < CASES.objects; i++)
    cases.push({
      name: `object-${i}`,
      text: JSON.stringify(mutate(rng, rng.pick(VALID)), null, rng.chance(0.5) ? 2 : 0),
    });
  for (let i = 0; i < CASES.texts; i++)
    cases.push({ name: `text-${i}`, text: mutateText(rng, JSON.stringify(rng.pick(VALID), null, 2)) });
  for (let i = 0; i < CASES.roots; i++)
    cases.push({ name: `root-${i}`, text: JSON.stringify(randomJson(rng, 5)) ?? 'null' });
  return cases;
}

/** What every refused config must look like: a FlowError whose lines each start with a field path or a position. */
function checkRefusal(e: unknown, file: string, where: string): void {
  expect(e, where).toBeInstanceOf(FlowError);
  const { code, message } = e as FlowError;
  expect(code, where).toBe(FlowErrorCode.InvalidConfig);
  expect(message, where).not.toMatch(STACK_TRACE);
  expect(message, where).not.toMatch(TERMINAL_CONTROL);
  expect(message, where).not.toMatch(/Maximum call stack|undefined is not|Cannot read prop/);
  expect(message.length, where).toBeLessThan(20_000);
  expect(message, where).not.toContain(':PW@'); // the generators put passwords in URLs, keys and values
  const json = `config ${file} is not valid JSON: line `;
  if (message.startsWith(json)) {
    expect(message, where).toMatch(/^config \S+ is not valid JSON: line \d+, column \d+: \S/);
    return;
  }
  const [head, ...lines] = message.split('\n');
  expect(head, where).toBe(`invalid config ${file}:`);
  expect(lines.length, where).toBeGreaterThan(0);
  // `  agents[1].model: expected …` — a field path (or "(root)"), then what is wrong. Odd keys
  // are quoted (`["git diff*"]`), so a path never holds a space outside quotes.
  const PATH = /(\(root\)|([^\s.[\]"]+|\["([^"\\]|\\.)*(…)?"?\])(\.[^\s.[\]"]+|\[\d+\]|\["([^"\\]|\\.)*(…)?"?\])*…?)/;
  for (const line of lines) expect(line, where).toMatch(new RegExp(`^ {2}${PATH.source}: \\S`));
}

describe('config loader fuzz', () => {
  it(
    `${CASES.objects + CASES.texts + CASES.roots} generated configs (seed ${FUZZ_SEED}): each loads or is an invalid_config naming a field path or a position`,
    { timeout: 90_000 },
    async () => {
      const outcomes = { loaded: 0, refused: 0 };
      for (const [i, c] of generate().entries()) {
        const file = `${c.name}.json`;
        await writeFile(join(dir, file), c.text);
        const where = `seed ${FUZZ_SEED}, case ${i} (${c.name}): ${c.text.slice(0, 300)}`;
        try {
          await loadFlowConfig(file, dir);
          outcomes.loaded++;
        } catch (e) {
          checkRefusal(e, file, where);
          outcomes.refused++;
        }
      }
      // The generators aim at errors: nearly every case must be one.
      expect(outcomes.refused).toBeGreaterThan(0.8 * (CASES.objects + CASES.texts + CASES.roots));
    },
  );

  it(
    `the real CLI exits 2 on ${CLI_CASES} of them, with one clear error and no stack trace`,
    { timeout: 120_000 },
    async () => {
      const picked: Array<{ file: string; text: string }> = [];
      const cases = generate();
      // One of each kind, then the deepest text: different roads to the same exit.
      for (const prefix of ['object-', 'text-', 'root-', 'object-', 'text-']) {
        for (const c of cases) {
          if (!c.name.startsWith(prefix) || picked.some((p) => p.file === `cli-${c.name}.json`)) continue;
          const path = join(dir, `cli-${c.name}.json`);
          await writeFile(path, c.text);
          const refused = await loadFlowConfig(path).then(
            () => false,
            () => true,
          );
          if (!refused) continue;
          picked.push({ file: `cli-${c.name}.json`, text: c.text });
          break;
        }
      }
      expect(picked).toHaveLength(CLI_CASES);
      for (const { file, text } of picked) {
        const r = await cli(['--config', join(dir, file), '--task', 'fuzz'], { cwd: dir, timeoutMs: 60_000 });
        const where = `${file}: ${text.slice(0, 200)}\nstderr: ${r.stderr.slice(0, 500)}`;
        expect(r.code, where).toBe(2);
        expect(r.stdout, where).toBe('');
        expect(r.stderr, where).toMatch(/^opencode-flow: error: (invalid config |config )/);
        expect(r.stderr, where).not.toMatch(STACK_TRACE);
        expect(r.stderr, where).not.toMatch(TERMINAL_CONTROL);
      }
    },
  );
});
