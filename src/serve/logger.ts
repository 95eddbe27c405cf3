/**
 * What `serve` logs through: the few methods of a pino logger it calls, so the library never
 * depends on a logging package. `opencode-flow serve` hands it a pino logger (src/cli/serve-logger.ts);
 * code embedding the API passes its own, or nothing and nothing is printed.
 */

/** One leveled log method: fields first, then the message (pino's order). */
export type LogMethod = (fields: Record<string, unknown>, msg: string) => void;

/**
 * A structured logger as `serve` uses it; a `pino.Logger` is one.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * await startServe({ port: 5000, logger: pino() });
 * ```
 */
export interface ServeLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const quiet: LogMethod = () => {};

/**
 * The default of a library: every line dropped.
 *
 * @example
 * ```ts
 * createServeApp(flow, { logger: SILENT_LOGGER }); // same as no logger
 * ```
 */
export const SILENT_LOGGER: ServeLogger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
