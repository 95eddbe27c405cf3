import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_INPUT_DEPTH, findTooDeep } from '../../src/config/depth.js';
import { OpencodeFlow } from '../../src/flow/index.js';
import { CreateFlowBodySchema, createServeApp, type ApiErrorBody } from '../../src/serve/index.js';
import { FUZZ_SEED, mutate, mutateText, randomJson, Rng, STACK_TRACE, TERMINAL_CONTROL } from '../helpers/fuzz.js';
import { assertConforms } from './contract.js';
import { TOKEN } from './helpers.js';

/** Bodies the fuzzer starts from: every field of `POST /flows`. */
const VALID: unknown[] = [
  {
    task: 'Review src/',
    agents: [
      'reviewer',
      { name: 'scout', model: 'anthropic/claude-sonnet-4', systemPrompt: 'Find TODOs', permissions: { edit: 'deny' } },
    ],
    mode: 'parallel',
    maxConcurrent: 2,
    onAgentFailure: 'continue',
    optimize: 'cost',
    maxCost: 0.5,
    fallback: ['openai/gpt-5-mini'],
    timeout: 600,
  },
  { task: 'Plan it', agents: ['planner', 'coder'], mode: 'hierarchical', model: 'anthropic/claude-sonnet-4' },
];

const CASES = { objects: 220, texts: 150, roots: 80 };
const PATH = /^(\(root\)|([^\s.[\]"]+|\["([^"\\]|\\.)*(…)?"?\])(\.[^\s.[\]"]+|\[\d+\]|\["([^"\\]|\\.)*(…)?"?\])*…?)$/;

/**
 * The app over an `OpencodeFlow` that is never started: every body here is refused before
 * a flow would start, so no OpenCode is needed (bodies the schema accepts are not sent).
 */
let app: Hono;
beforeAll(() => {
  const flow = new OpencodeFlow({
    serverUrl: 'http://127.0.0.1:9',
    flowsDir: join(tmpdir(), `ocf-body-fuzz-${process.pid}`),
  });
  app = createServeApp(flow, { token: TOKEN }).app;
});

/** Would the server start a flow for this text? (Then it is not a refusal case.) */
function accepted(text: string): boolean {
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, '')); // the body is decoded as UTF-8, which drops a BOM
  } catch {
    return false;
  }
  return !findTooDeep(data, MAX_INPUT_DEPTH) && CreateFlowBodySchema.safeParse(data).success;
}

function generate(): Array<{ name: string; text: string; type?: string }> {
  const rng = new Rng(FUZZ_SEED ^ 0xb0d1);
  const cases: Array<{ name: string; text: string; type?: string }> = [];
  for (let i = 0; i < CASES.objects; i++)
    cases.push({ name: `object-${i}`, text: JSON.stringify(mutate(rng, rng.pick(VALID))) });
  for (let i = 0; i < CASES.texts; i++)
    cases.push({ name: `text-${i}`, text: mutateText(rng, JSON.stringify(rng.pick(VALID))) });
  for (let i = 0; i < CASES.roots; i++)
    cases.push({ name: `root-${i}`, text: JSON.stringify(randomJson(rng, 5)) ?? 'null' });
  // The envelope: no or wrong content type, an oversized body, nested past the limit.
  cases.push({ name: 'no-type', text: JSON.stringify(VALID[0]), type: '' });
  cases.push({ name: 'text-type', text: JSON.stringify(VALID[0]), type: 'text/plain' });
  cases.push({ name: 'json-ish-type', text: JSON.stringify(VALID[0]), type: 'application/jsonp' });
  cases.push({ name: 'huge', text: JSON.stringify({ ...(VALID[0] as object), task: 'x'.repeat(2 * 1024 * 1024) }) });
  cases.push({
    name: 'deep',
    text: `{"task":"x","agents":["coder"],"timeout":${'['.repeat(5000)}${']'.repeat(5000)}}`,
  });
  cases.push({
    name: 'deep-object',
    text: `{"task":"x","agents":[{"name":"a","permissions":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}]}`,
  });
  return cases;
}

describe('POST /flows body fuzz', () => {
  it(
    `${CASES.objects + CASES.texts + CASES.roots + 6} generated bodies (seed ${FUZZ_SEED}): each refused with a 4xx JSON error, paths on every issue, never a 500`,
    { timeout: 90_000 },
    async () => {
      const seen = { sent: 0, skipped: 0, byStatus: new Map<number, number>() };
      for (const [i, c] of generate().entries()) {
        if (c.type === undefined && accepted(c.text)) {
          seen.skipped++;
          continue;
        }
        const where = `seed ${FUZZ_SEED}, case ${i} (${c.name}): ${c.text.slice(0, 300)}`;
        const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1' };
        if (c.type !== '') headers['content-type'] = c.type ?? 'application/json';
        const res = await app.request('http://127.0.0.1/flows', { method: 'POST', headers, body: c.text });
        seen.sent++;
        seen.byStatus.set(res.status, (seen.byStatus.get(res.status) ?? 0) + 1);
        expect([400, 413, 415], where).toContain(res.status);
        expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
        const body = (await res.json()) as ApiErrorBody;
        const contentType = res.headers.get('content-type') ?? '';
        await assertConforms({ method: 'POST', path: '/flows', status: res.status, contentType, body });
        const { code, message, issues } = body.error;
        expect(typeof code, where).toBe('string');
        expect(message, where).not.toMatch(STACK_TRACE);
        expect(message, where).not.toMatch(TERMINAL_CONTROL);
        expect(message, where).not.toContain(':PW@');
        expect(message.length, where).toBeLessThan(20_000);
        if (code === 'invalid_body') {
          expect(issues?.length, where).toBeGreaterThan(0);
          for (const issue of issues!) {
            expect(issue.path, where).toMatch(PATH);
            expect(issue.message, where).toMatch(/\S/);
            expect(issue.message, where).not.toMatch(TERMINAL_CONTROL);
            expect(issue.message, where).not.toContain(':PW@');
          }
        } else if (code === 'invalid_json') {
          // No field to name in text that is not JSON: the position instead.
          expect(message, where).toMatch(/^request body is not valid JSON: (line \d+, column \d+: \S|.)/);
        } else {
          expect(['payload_too_large', 'unsupported_media_type'], where).toContain(code);
        }
      }
      // Bounded, and aimed at refusals: nearly every case was sent and refused.
      expect(seen.sent).toBeGreaterThan(0.8 * (CASES.objects + CASES.texts + CASES.roots));
      expect(seen.byStatus.get(413)).toBe(1);
      expect(seen.byStatus.get(415)).toBe(3);
    },
  );

  it('a body nested past the limit names where, as an invalid_body issue', async () => {
    const res = await app.request('http://127.0.0.1/flows', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', host: '127.0.0.1' },
      body: `{"task":"x","agents":[{"name":"a","permissions":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}]}`,
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as ApiErrorBody;
    expect(error.code).toBe('invalid_body');
    expect(error.issues).toEqual([
      { path: 'agents[0].permissions.a.a.a.a.a…', message: `nested deeper than ${MAX_INPUT_DEPTH} levels` },
    ]);
  });
});
