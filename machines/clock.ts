import type { AnyActorRef } from 'xstate';

/**
 * The time as a machine reads it: from the clock its actor system was created with (the one
 * XState schedules `after` delays on, `createActor(machine, { clock })`) — a `SimulatedClock`
 * in tests, the run's clock in a flow — and only when that clock cannot tell the time (XState's
 * default one only sets timeouts), the wall clock. Machines never call `Date.now()` themselves.
 *
 * @example
 * ```ts
 * entry: assign({ finishedAt: ({ self }) => nowOf(self) }),
 * ```
 */
export function nowOf(self: AnyActorRef): number {
  const clock = self.system._clock as { now?: () => number };
  return typeof clock.now === 'function' ? clock.now() : wallClock.now();
}

/** A clock XState can schedule delays on that also tells the time (`SimulatedClock` is one). */
/** XState's own `Clock` takes `any` for the callback and the timer id. */
export interface TellingClock {
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  clearTimeout(id: any): void;
  now(): number;
}

/** A clock for `createActor(…, { clock })` that tells the time (Node's timers, the wall clock). */
export const wallClock: TellingClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  now: (): number => Date.now(),
};
