/**
 * `opencode-flow/store`: where flows are stored for `resume`, `flows` and `cost` — the
 * `FlowStore` interface, its file, SQLite and PostgreSQL stores, and the `--store` URI that
 * picks one. Every export of this file is public API: adding one is a promise to users, and
 * test/package/surface.test.ts fails until its list says so.
 *
 * @example
 * ```ts
 * import { openFlowStore } from 'opencode-flow/store';
 * const store = openFlowStore('sqlite:.opencode-flow/flows.db');
 * console.log(await store.list());
 * ```
 */
export type { FlowStore, StoredFlow, StoredFlowMeta } from './store.js';
export { FileFlowStore } from './file.js';
export { SqliteFlowStore } from './sqlite.js';
export { PostgresFlowStore } from './postgres.js';
export { FlowStoreUriSchema, openFlowStore, parseFlowStoreUri, type FlowStoreConfig } from './uri.js';
