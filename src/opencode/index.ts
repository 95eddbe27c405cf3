/**
 * `opencode-flow/opencode`: the OpenCode layer on its own — start an embedded
 * `opencode serve` or attach to one, the typed client over `@opencode-ai/sdk`, and the event
 * stream with reconnect. It knows nothing of flows. Every export of this file is public
 * API: adding one is a promise to users, and test/package/surface.test.ts fails until its
 * list says so.
 *
 * @example
 * ```ts
 * import { OpencodeClient, startOpencodeServer } from 'opencode-flow/opencode';
 * const server = await startOpencodeServer();
 * const client = new OpencodeClient(server);
 * await server.close();
 * ```
 */
export { OpencodeClient, outcomeOf, type ModelRef, type OpencodeClientOptions, type PromptOutcome } from './client.js';
export { EventHub, type EventHubOptions } from './events.js';
export {
  attachOpencodeServer,
  startOpencodeServer,
  checkHealth,
  resolveOpencodeBinary,
  type OpencodeServer,
  type ServerEndpoint,
  type StartServerOptions,
} from './server.js';
