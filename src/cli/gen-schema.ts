/**
 * Regenerates `schema/flow.config.schema.json` from the zod schema of the flow config and
 * the README's config reference between its `config-reference` markers. A test fails when
 * either drifts from the schema, so run this after changing `src/config/flow-config.ts`:
 *
 * ```bash
 * npx tsx src/cli/gen-schema.ts
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flowConfigJsonSchema } from '../config/flow-config.js';
import { packageInfo } from '../package-root.js';
import { configReference, replaceConfigReference } from './config-reference.js';

/** The schema file's exact text: two-space JSON and a final newline. */
export function schemaFileText(): string {
  return `${JSON.stringify(flowConfigJsonSchema(), null, 2)}\n`;
}

/** Path of the published schema in the package. */
export function schemaFilePath(): string {
  return join(packageInfo().root, 'schema', 'flow.config.schema.json');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(schemaFilePath(), schemaFileText());
  const readme = join(packageInfo().root, 'README.md');
  writeFileSync(readme, replaceConfigReference(readFileSync(readme, 'utf8'), configReference(flowConfigJsonSchema())));
  process.stderr.write(`wrote ${schemaFilePath()} and the README config reference\n`);
}
