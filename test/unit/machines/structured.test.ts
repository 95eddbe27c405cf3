import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OutputSchemaError, StructuredChecks, toOutputJsonSchema } from '../../../machines/structured.js';
import { jsonSchemaProblem } from '../../../machines/structured.js';

const format = (schema: Record<string, unknown>) => ({ type: 'json_schema' as const, schema });

describe('structured output schemas', () => {
  it('a JSON Schema is checked against its meta-schema: an unknown type is refused with its path', () => {
    expect(jsonSchemaProblem({ type: 'object', properties: { x: { type: 'nonsense' } } })).toEqual({
      path: 'properties.x.type',
      message: 'must be one of "array", "boolean", "integer", "null", "number", "object", "string" (got "nonsense")',
    });
    expect(jsonSchemaProblem({ type: 'object', required: 'x' })).toEqual({
      path: 'required',
      message: 'must be array (got "x")',
    });
    expect(() => toOutputJsonSchema({ type: 'object', properties: { x: { type: 'nonsense' } } })).toThrow(
      OutputSchemaError,
    );
    expect(jsonSchemaProblem({ type: 'object', properties: { x: { type: ['string', 'null'] } } })).toBeUndefined();
  });

  it('a draft-07 schema is read as draft 7 (its tuple `items`), and sent without `$schema`', () => {
    const draft7 = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }] } },
    };
    expect(jsonSchemaProblem(draft7)).toBeUndefined();
    expect(toOutputJsonSchema(draft7)).not.toHaveProperty('$schema');
  });

  it('an answer to a schema zod cannot read is checked by Ajv, not passed unchecked', () => {
    const checks = new StructuredChecks();
    const schema = checks.register({
      type: 'object',
      properties: { verdict: { type: 'string' } },
      required: ['verdict'],
      if: { properties: { verdict: { const: 'reject' } } },
      then: { required: ['reason'] },
    });
    expect(() => z.fromJSONSchema(schema as never)).toThrow();
    expect(checks.check(format(schema), { verdict: 'approve' })).toEqual({ value: { verdict: 'approve' } });
    expect(checks.check(format(schema), { verdict: 'reject' })).toEqual({
      error: "the structured output does not fit the schema: (root): must have required property 'reason'",
    });
  });

  it('a zod schema is used as is: its output replaces the answer', () => {
    const checks = new StructuredChecks();
    const schema = checks.register(z.object({ n: z.number().default(3) }));
    expect(checks.check(format(schema), {})).toEqual({ value: { n: 3 } });
    expect(checks.check(format(schema), { n: 'x' })).toMatchObject({ error: expect.stringContaining('n:') });
  });
});
