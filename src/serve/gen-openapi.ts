/**
 * Regenerates the checked-in OpenAPI document of the serve API, `schema/openapi.json`, from
 * the zod schemas its routes are described with. A test fails when the file drifts from
 * them, so run this after changing a route or a schema of `src/serve/`:
 *
 * ```bash
 * npm run openapi
 * ```
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpencodeFlow } from '../flow/index.js';
import { packageInfo } from '../package-root.js';
import { createServeApp } from './app.js';
import { openApiDocument, type OpenApiDocument } from './openapi.js';

/** The document of a serve app, built on an `OpencodeFlow` that is never started. */
export async function serveOpenApiDocument(): Promise<OpenApiDocument> {
  const dir = await mkdtemp(join(tmpdir(), 'ocf-openapi-'));
  try {
    const flow = new OpencodeFlow({ serverUrl: 'http://127.0.0.1:9', flowsDir: dir, memory: false });
    const { app, handle } = createServeApp(flow);
    const doc = await openApiDocument(app);
    await handle.close();
    return doc;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The file's exact text: two-space JSON and a final newline. */
export const openApiFileText = (doc: OpenApiDocument): string => `${JSON.stringify(doc, null, 2)}\n`;

/** Path of the checked-in document in the package. */
export const openApiFilePath = (): string => join(packageInfo().root, 'schema', 'openapi.json');

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(openApiFilePath(), openApiFileText(await serveOpenApiDocument()));
  process.stderr.write(`wrote ${openApiFilePath()}\n`);
}
