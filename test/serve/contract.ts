/**
 * The serve API's contract, checked by tools we did not write: every answer a serve test
 * gets is validated against the checked-in OpenAPI document (`schema/openapi.json`) with
 * openapi-backend (its router finds the operation, its Ajv validators check the JSON body),
 * and every SSE message against the document's `FlowEventMessage` with Ajv. An answer with
 * a status, a media type or a body the document does not give its route throws.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
// The named export: 5.20's default export types as a namespace under NodeNext resolution.
import { OpenAPIBackend } from 'openapi-backend';

const DOC_PATH = fileURLToPath(new URL('../../schema/openapi.json', import.meta.url));

interface Doc {
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, ResponseDoc> }>>;
}
interface ResponseDoc {
  content?: Record<string, unknown>;
}

let backend: Promise<OpenAPIBackend> | undefined;
let doc: Doc | undefined;
let ajv: Ajv | undefined;

const load = (): Doc => (doc ??= JSON.parse(readFileSync(DOC_PATH, 'utf8')) as Doc);

function api(): Promise<OpenAPIBackend> {
  backend ??= (async () => {
    // `quick` skips its own check of the document, which knows 3.0's schema objects only (it
    // refuses 3.1's `propertyNames`); Redocly CLI lints the document instead (openapi.test.ts).
    // The answers are still validated, by Ajv validators compiled on first use.
    const b = new OpenAPIBackend({ definition: structuredClone(load()) as never, quick: true, validate: true });
    await b.init();
    return b;
  })();
  return backend;
}

/** Ajv over the document's components: `ref('FlowEventMessage')` checks a value against one. */
function componentValidator(name: string) {
  if (!ajv) {
    ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema(load() as object, 'openapi.json');
  }
  return (
    ajv.getSchema(`openapi.json#/components/schemas/${name}`) ??
    ajv.compile({ $ref: `openapi.json#/components/schemas/${name}` })
  );
}

export class ContractViolation extends Error {
  override readonly name = 'ContractViolation';
}

const show = (errors: unknown) => JSON.stringify(errors, null, 1).slice(0, 2000);

/**
 * Throw unless an answer is one the document gives: its route (or, for a path that is no
 * route, a 404 `not_found` error body), a documented status, a documented media type, and
 * a JSON body its schema accepts.
 */
export async function assertConforms(answer: {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: unknown;
}): Promise<void> {
  const { method, status } = answer;
  const path = answer.path.split('?')[0]!;
  const b = await api();
  const op = b.router.matchOperation({ method, path, headers: {} });
  const where = `${method} ${path} → ${status}`;
  if (!op) {
    // Outside every route: the app's 404 (or the listener's refusal) in the error shape.
    if (status !== 404 && status !== 400)
      throw new ContractViolation(`${where}: no route of the document answers this`);
    const check = componentValidator('ApiError');
    if (!check(answer.body)) throw new ContractViolation(`${where}: not an ApiError body: ${show(check.errors)}`);
    return;
  }
  const responses = load().paths[op.path]?.[op.method]?.responses ?? {};
  const documented = responses[String(status)];
  if (!documented)
    throw new ContractViolation(
      `${where}: status ${status} is not documented for ${op.operationId} (documented: ${Object.keys(responses).join(', ')})`,
    );
  const media = answer.contentType.split(';')[0]!.trim().toLowerCase();
  const types = Object.keys(documented.content ?? {});
  if (!types.includes(media))
    throw new ContractViolation(`${where}: content type "${media}" is not documented (${types.join(', ') || 'none'})`);
  if (media !== 'application/json') return;
  const result = b.validateResponse(answer.body, op, status);
  if (!result.valid) throw new ContractViolation(`${where}: the body is outside the document: ${show(result.errors)}`);
}

/** Throw unless one SSE message (`id`, `event`, parsed `data`) is a `FlowEventMessage` of the document. */
export function assertEventConforms(e: { id: number; event: string; data: unknown }): void {
  const check = componentValidator('FlowEventMessage');
  if (!check(e))
    throw new ContractViolation(`SSE event ${e.id} "${e.event}" is outside the document: ${show(check.errors)}`);
}

/**
 * A `fetch` for the typed client that checks every answer against the document like
 * `call` does (JSON answers read from a clone; an event stream's messages are checked as
 * the test reads them, with `assertEventConforms`).
 */
export const contractFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const contentType = res.headers.get('content-type') ?? '';
  const body: unknown = contentType.includes('json') ? await res.clone().json() : undefined;
  await assertConforms({ method: init?.method ?? 'GET', path: url.pathname, status: res.status, contentType, body });
  return res;
};
