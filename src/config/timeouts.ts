import { z } from 'zod';

/** The longest delay Node's timers hold (about 24.8 days); past it they fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** {@link MAX_TIMER_MS} in whole seconds, for the surfaces that take seconds (CLI, config, serve). */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/**
 * A timeout in milliseconds, as the library takes it: a positive whole number a timer can hold.
 *
 * @example
 * ```ts
 * z.object({ timeoutMs: timeoutMsSchema('the flow') });
 * ```
 */
export const timeoutMsSchema = (what: string) =>
  z
    .number({ message: `expected a number of milliseconds for ${what}` })
    .int({ message: 'expected a whole number of milliseconds' })
    .positive({ message: 'expected a positive number of milliseconds' })
    .max(MAX_TIMER_MS, {
      message: `expected at most ${MAX_TIMER_MS} ms (about 24.8 days): longer delays cannot be timed`,
    });

/**
 * A timeout in seconds, as the CLI, config files and serve take it: positive, at most
 * {@link MAX_TIMER_SECONDS}.
 *
 * @example
 * ```ts
 * z.object({ timeout: timeoutSecondsSchema() });
 * ```
 */
export const timeoutSecondsSchema = () =>
  z
    .number({ message: 'expected a number of seconds' })
    .positive({ message: 'expected a positive number of seconds' })
    .max(MAX_TIMER_SECONDS, {
      message: `expected at most ${MAX_TIMER_SECONDS} seconds (about 24.8 days): longer delays cannot be timed`,
    });

/** Seconds (CLI, config, serve) → the library's milliseconds; at least 1 ms. */
export const secondsToMs = (s: number | undefined): number | undefined =>
  s === undefined ? undefined : Math.max(1, Math.round(s * 1000));
