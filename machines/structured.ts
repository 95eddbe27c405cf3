import { createRequire } from 'node:module';
import { z } from 'zod';
import type { AgentTask } from './agent.js';

/**
 * Structured output: the schema an agent's answer must fill. A zod schema (its JSON Schema is
 * made with zod 4's own `z.toJSONSchema`) or a JSON Schema object; either way of type
 * `object`, since OpenCode hands it to the model as the arguments of its `StructuredOutput`
 * tool. Pure: no I/O.
 */
export type OutputSchema = z.ZodType | Record<string, unknown>;

/** The value a schema describes: zod's output for a zod schema, `unknown` for a JSON Schema. */
export type StructuredOf<S> = S extends z.ZodType ? z.output<S> : unknown;

/** A task's `format`: what OpenCode's `format` field takes. */
export type OutputFormat = NonNullable<AgentTask['format']>;

/** Thrown for a schema that cannot be used for structured output. */
export class OutputSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputSchemaError';
  }
}

/** The part of Ajv this module uses (the validator's types stay out of the published ones). */
interface JsonSchemaValidator {
  validateSchema(schema: object): boolean | Promise<unknown>;
  compile(schema: object): ((value: unknown) => boolean) & { errors?: AjvError[] | null };
  errors?: AjvError[] | null;
}
interface AjvError {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

const validators = new Map<string, JsonSchemaValidator>();
/**
 * Ajv for a JSON Schema's draft (2020-12 unless its `$schema` names draft 4 to 7), loaded on the
 * first plain JSON Schema: Ajv takes ~0.1 s to load and a zod schema never needs it.
 */
function validatorFor(schema: Record<string, unknown>): JsonSchemaValidator {
  const draft = typeof schema.$schema === 'string' && /draft-0[4-7]/.test(schema.$schema) ? '07' : '2020';
  let ajv = validators.get(draft);
  if (!ajv) {
    const require = createRequire(import.meta.url);
    const Ajv = (
      require(draft === '07' ? 'ajv' : 'ajv/dist/2020') as { default: new (o: object) => JsonSchemaValidator }
    ).default;
    ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
    validators.set(draft, ajv);
  }
  return ajv;
}

/** Compile a schema sent without its `$schema`: as 2020-12, else as draft 7 (`items: [...]`). */
function compileAnyDraft(schema: Record<string, unknown>) {
  try {
    return validatorFor(schema).compile(schema);
  } catch {
    return validatorFor({ ...schema, $schema: 'http://json-schema.org/draft-07/schema#' }).compile(schema);
  }
}

/** `/properties/x/type` → `properties.x.type`. */
const dotted = (pointer: string) =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');

/**
 * What makes `schema` not a JSON Schema (checked against its draft's meta-schema: an unknown
 * `type` such as `"nonsense"`, a `required` that is not a list, ...), with the path inside it;
 * undefined for a valid one.
 *
 * @example
 * ```ts
 * jsonSchemaProblem({ type: 'object', properties: { x: { type: 'nonsense' } } });
 * // { path: 'properties.x.type', message: 'must be one of "array", "boolean", ... (got "nonsense")' }
 * ```
 */
export function jsonSchemaProblem(schema: Record<string, unknown>): { path: string; message: string } | undefined {
  const ajv = validatorFor(schema);
  if (ajv.validateSchema(schema) === true) return undefined;
  const first = ajv.errors?.[0];
  if (!first) return { path: '', message: 'is not a JSON Schema' };
  const path = dotted(first.instancePath);
  const allowed = first.params.allowedValues;
  const got = path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], schema);
  const message = Array.isArray(allowed)
    ? `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')} (got ${JSON.stringify(got)})`
    : `${first.message ?? 'is not valid'} (got ${JSON.stringify(got)})`;
  return { path, message };
}

/** True for a zod schema (any version-4 type), false for a plain JSON Schema object. */
export function isZodSchema(schema: unknown): schema is z.ZodType {
  return typeof schema === 'object' && schema !== null && '_zod' in schema;
}

/**
 * The JSON Schema of an output schema, as sent to OpenCode: zod's input side (what the model
 * writes; defaults and transforms apply when the answer is parsed), without `$schema`.
 * Throws {@link OutputSchemaError} for a schema that is not of type `object`.
 *
 * @example
 * ```ts
 * toOutputJsonSchema(z.object({ verdict: z.enum(['approve', 'reject']) }));
 * // { type: 'object', properties: { verdict: { type: 'string', enum: [...] } }, required: ['verdict'], additionalProperties: false }
 * ```
 */
export function toOutputJsonSchema(schema: OutputSchema): Record<string, unknown> {
  let json: Record<string, unknown>;
  if (isZodSchema(schema)) {
    try {
      json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
    } catch (e) {
      throw new OutputSchemaError(`the zod schema has no JSON Schema form: ${(e as Error).message}`);
    }
  } else if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    const problem = jsonSchemaProblem(schema);
    if (problem)
      throw new OutputSchemaError(
        `not a valid JSON Schema: ${problem.path ? `${problem.path} ` : ''}${problem.message}`,
      );
    json = structuredClone(schema);
  } else {
    throw new OutputSchemaError('expected a zod schema or a JSON Schema object');
  }
  delete json.$schema;
  if (json.type !== 'object')
    throw new OutputSchemaError(
      `expected a schema of type "object" (OpenCode asks the model for it as a tool's arguments), got ${json.type === undefined ? 'no type' : `type ${JSON.stringify(json.type)}`}: wrap the value in an object`,
    );
  return json;
}

/**
 * A task's `format` for a schema: give it to `promptAgent` (or any `AgentTask`) and the
 * agent's result carries the answer in `structured`.
 *
 * @example
 * ```ts
 * promptAgent('reviewer', { id: 'r1', text: 'Review it', format: outputFormat(Verdict) });
 * ```
 */
export function outputFormat(schema: OutputSchema, options: { retryCount?: number } = {}): OutputFormat {
  return {
    type: 'json_schema',
    schema: toOutputJsonSchema(schema),
    ...(options.retryCount !== undefined ? { retryCount: options.retryCount } : {}),
  };
}

/**
 * Read an agent result's structured answer through a schema: zod's parsed output, typed.
 * Throws when the result has none or it does not fit.
 *
 * @example
 * ```ts
 * const verdict = structuredOf(event.result, Verdict); // { verdict: 'approve' | 'reject' }
 * ```
 */
export function structuredOf<S extends z.ZodType>(result: { structured?: unknown }, schema: S): z.output<S> {
  if (result.structured === undefined) throw new OutputSchemaError('the result has no structured answer');
  return schema.parse(result.structured);
}

/**
 * Checks structured answers against the schemas a run was given: a zod schema registered
 * here is used as is (its output, defaults and transforms applied, replaces the answer);
 * any other JSON Schema is checked with `z.fromJSONSchema`, or with Ajv where zod cannot read
 * it (never passed unchecked). Keyed by the JSON Schema sent.
 *
 * @example
 * ```ts
 * const checks = new StructuredChecks();
 * const format = { type: 'json_schema', schema: checks.register(Verdict) } as const;
 * checks.check(format, { verdict: 'approve' }); // { value: { verdict: 'approve' } }
 * ```
 */
export class StructuredChecks {
  readonly #byJson = new Map<string, z.ZodType | ((value: unknown) => string | undefined)>();

  /** Register a schema; returns the JSON Schema to send (see {@link toOutputJsonSchema}). */
  register(schema: OutputSchema): Record<string, unknown> {
    const json = toOutputJsonSchema(schema);
    const key = JSON.stringify(json);
    if (isZodSchema(schema)) this.#byJson.set(key, schema);
    return json;
  }

  /** Check one answer: zod's output, or what is wrong with it. */
  check(format: OutputFormat, value: unknown): { value: unknown } | { error: string } {
    const key = JSON.stringify(format.schema);
    let schema = this.#byJson.get(key);
    if (!schema) {
      try {
        schema = z.fromJSONSchema(format.schema as never) as z.ZodType;
      } catch {
        // A JSON Schema zod cannot read (a keyword it does not support): Ajv checks the answer.
        const validate = compileAnyDraft(format.schema);
        schema = (v: unknown) =>
          validate(v)
            ? undefined
            : (validate.errors ?? []).map((e) => `${dotted(e.instancePath) || '(root)'}: ${e.message}`).join('; ');
      }
      this.#byJson.set(key, schema);
    }
    if (typeof schema === 'function') {
      const why = schema(value);
      return why === undefined ? { value } : { error: `the structured output does not fit the schema: ${why}` };
    }
    const r = schema.safeParse(value);
    if (r.success) return { value: r.data };
    const why = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { error: `the structured output does not fit the schema: ${why}` };
  }
}
