import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { packageInfo } from '../../src/package-root.js';
import { createServeApp } from '../../src/serve/index.js';
import { openApiFilePath, openApiFileText, serveOpenApiDocument } from '../../src/serve/gen-openapi.js';
import { ROUTE_DOCS } from '../../src/serve/openapi.js';
import { assertConforms, assertEventConforms, ContractViolation } from './contract.js';
import { TOKEN } from './helpers.js';

/** The app over an `OpencodeFlow` that is never started: these routes answer without OpenCode. */
let app: Hono;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocf-openapi-test-'));
  app = createServeApp(new OpencodeFlow({ serverUrl: 'http://127.0.0.1:9', flowsDir: dir, memory: false }), {
    token: TOKEN,
  }).app;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** One request to the app, its answer checked against the document like every serve test's. */
async function ask(method: string, path: string, init: { token?: boolean; body?: string } = {}) {
  const headers: Record<string, string> = { host: '127.0.0.1' };
  if (init.token !== false) headers.authorization = `Bearer ${TOKEN}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(`http://127.0.0.1${path}`, { method, headers, body: init.body });
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const body: unknown = contentType.includes('json') ? JSON.parse(text) : text;
  await assertConforms({ method, path, status: res.status, contentType, body });
  return { status: res.status, headers: res.headers, body, text };
}

const execFileP = promisify(execFile);
const redoclyBin = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

describe('the OpenAPI document', () => {
  it('schema/openapi.json is what the routes generate (run `npm run openapi` after changing a route or schema)', async () => {
    const generated = openApiFileText(await serveOpenApiDocument());
    expect(await readFile(openApiFilePath(), 'utf8')).toBe(generated);
  });

  it('GET /openapi.json: OpenAPI 3.1, the package version, bearer auth, every route; public', async () => {
    const r = await ask('GET', '/openapi.json', { token: false });
    expect(r.status).toBe(200);
    const doc = r.body as Record<string, any>;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe(packageInfo().version);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const ops = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) =>
      Object.values(item).map((op) => op.operationId),
    );
    expect(ops.sort()).toEqual(Object.keys(ROUTE_DOCS).sort());
    // The same document as the checked-in one.
    expect(`${JSON.stringify(doc, null, 2)}\n`).toBe(await readFile(openApiFilePath(), 'utf8'));
    // The rate limit, the SSE stream and the error shape are described.
    expect(doc.paths['/flows'].post.responses['429'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ApiError',
    });
    expect(Object.keys(doc.paths['/flows/{id}/events'].get.responses['200'].content)).toEqual(['text/event-stream']);
  });

  it(
    'the served document passes Redocly CLI’s recommended rules with no error and no warning',
    { timeout: 60_000 },
    async () => {
      const r = await ask('GET', '/openapi.json', { token: false });
      const file = join(dir, 'served-openapi.json');
      await writeFile(file, r.text);
      const { stdout } = await execFileP(
        process.execPath,
        [redoclyBin, 'lint', file, '--extends', 'recommended', '--format', 'json'],
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }, timeout: 50_000 },
      ).catch((e: { stdout?: string; stderr?: string }) => {
        throw new Error(`redocly lint failed: ${e.stdout ?? ''}${e.stderr ?? ''}`);
      });
      const report = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: unknown[] };
      expect(report.problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    },
  );

  it('GET /docs: a readable reference of every route and schema, self-contained (no script, nothing loaded)', async () => {
    const r = await ask('GET', '/docs', { token: false });
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    const nonce = /style-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(r.text).toContain(`<style nonce="${nonce}">`);
    expect(r.text).not.toMatch(/<script|<link|\ssrc=|url\(/i);
    for (const op of Object.keys(ROUTE_DOCS)) expect(r.text).toContain(`id="op-${op}"`);
    expect(r.text).toContain('id="schema-CreateFlowBody"');
    expect(r.text).toContain('<a href="#schema-ApiError">ApiError</a>');
    expect(r.text).toContain(`opencode-flow serve <span class="dim">${packageInfo().version}</span>`);
  });
});

describe('the contract check (what every serve test’s answers go through)', () => {
  it('error answers of the app conform: 401, 404 of a flow, 404 of no route, 400 of a bad reply', async () => {
    expect((await ask('GET', '/flows', { token: false })).status).toBe(401);
    expect((await ask('GET', '/flows/flow_nope')).status).toBe(404);
    expect((await ask('GET', '/flows/flow_nope/cost')).status).toBe(404);
    expect((await ask('GET', '/nothing/here')).status).toBe(404);
    expect((await ask('POST', '/flows/flow_nope/requests/per_1', { body: '{"answer":"once"}' })).status).toBe(404);
    expect((await ask('POST', '/flows', { body: '{"task":""}' })).status).toBe(400);
    const list = await ask('GET', '/flows');
    expect(list.body).toEqual({ flows: [] });
    expect((await ask('GET', '/healthz', { token: false })).status).toBe(200);
  });

  it('refuses an answer outside its route’s shape, status or media type', async () => {
    const json = 'application/json';
    await expect(
      assertConforms({ method: 'GET', path: '/flows', status: 200, contentType: json, body: { flows: [{ id: 1 }] } }),
    ).rejects.toThrow(ContractViolation);
    // A field the document does not name.
    await expect(
      assertConforms({
        method: 'GET',
        path: '/healthz',
        status: 200,
        contentType: json,
        body: { status: 'ok', uptimeSeconds: 1, pid: 7 },
      }),
    ).rejects.toThrow(/outside the document/);
    await expect(
      assertConforms({ method: 'GET', path: '/flows/flow_1', status: 418, contentType: json, body: {} }),
    ).rejects.toThrow(/not documented/);
    await expect(
      assertConforms({ method: 'GET', path: '/flows', status: 200, contentType: 'text/plain', body: '' }),
    ).rejects.toThrow(/content type/);
    await expect(
      assertConforms({ method: 'PUT', path: '/flows', status: 200, contentType: json, body: {} }),
    ).rejects.toThrow(/no route/);
    // And lets a conforming one through.
    await assertConforms({
      method: 'GET',
      path: '/healthz',
      status: 200,
      contentType: json,
      body: { status: 'ok', uptimeSeconds: 1 },
    });
  });

  it('refuses an SSE message outside FlowEventMessage', () => {
    expect(() => assertEventConforms({ id: 1, event: 'agent.delta', data: { agent: 'a' } })).toThrow(ContractViolation);
    expect(() => assertEventConforms({ id: 1, event: 'agent.nope', data: {} })).toThrow(ContractViolation);
    assertEventConforms({ id: 2, event: 'agent.delta', data: { flowId: 'f', agent: 'a', sessionID: 's', text: 'hi' } });
  });
});
