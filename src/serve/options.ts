import { z } from 'zod';
import { InputPolicySchema } from '../config/agent.js';
import { isServerUrlList, SERVER_URLS_EXPECTED } from '../config/server-urls.js';
import type { ServeLogger } from './logger.js';
import { isLoopbackHost } from './loopback.js';

/** What happens to running flows when the server is asked to stop (SIGTERM/SIGINT). */
export const ON_SHUTDOWN = ['cancel', 'wait', 'persist'] as const;
export type OnShutdown = (typeof ON_SHUTDOWN)[number];

/** A pool replica's lease, heartbeat and poll periods (ms); the heartbeat must be well inside the lease. */
export const PoolTimingSchema = z
  .object({
    leaseMs: z.number().int().min(500).max(3_600_000).optional(),
    heartbeatMs: z.number().int().min(100).max(600_000).optional(),
    pollMs: z.number().int().min(100).max(600_000).optional(),
  })
  .strict()
  .refine((t) => (t.heartbeatMs ?? 2000) * 2 <= (t.leaseMs ?? 10_000), {
    message: 'expected a heartbeat at most half the lease',
  });

/** Default request body limit of `POST /flows`: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Bearer tokens shorter than this are refused: they could be guessed over the network. */
export const MIN_TOKEN_LENGTH = 16;

const TokenSchema = z
  .string()
  .min(MIN_TOKEN_LENGTH, {
    message: `expected a token of at least ${MIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 24\`)`,
  })
  .regex(/^[\x21-\x7e]+$/, { message: 'expected a token of printable ASCII characters without spaces' });

/**
 * Options of the HTTP app itself ({@link createServeApp}), independent of how it listens.
 *
 * @example
 * ```ts
 * ServeAppOptionsSchema.parse({ token: process.env.OPENCODE_FLOW_TOKEN, maxFlows: 8 });
 * ```
 */
export const ServeAppOptionsSchema = z
  .object({
    /** Bearer token every route but `/healthz`, `/readyz` and `/` requires. None: open, loopback `Host` only. */
    token: TokenSchema.optional(),
    /** Flows running at once; more are refused with 429. */
    maxFlows: z
      .number({ message: 'expected a number of flows' })
      .int({ message: 'expected a whole number of flows' })
      .min(1, { message: 'expected at least 1 flow' })
      .max(1000)
      .default(4),
    /** Finished flows kept in memory for `GET /flows/:id` (oldest dropped first). */
    keepFinished: z.number().int().min(1).max(100_000).default(100),
    /** Largest accepted request body (bytes); larger → 413. */
    maxBodyBytes: z.number().int().min(1024).default(DEFAULT_MAX_BODY_BYTES),
    /** `cancel` running flows on shutdown (default), or `wait` for them to finish. */
    /**
     * On shutdown: `cancel` running flows, `wait` for them, or `persist` them (a replica of a
     * pool hands them to the others at once). Default `cancel`; `persist` for a replica.
     */
    onShutdown: z.enum(ON_SHUTDOWN, { message: 'expected "cancel", "wait" or "persist"' }).optional(),
    /** Events kept per flow for replay; text deltas beyond it are streamed live only. */
    maxEventsPerFlow: z.number().int().min(100).default(10_000),
    /**
     * With a Postgres flow store, this server is a replica of a pool sharing it (default):
     * lease, heartbeat and poll times (ms), or `false` to run alone as with any other store.
     */
    replicas: z.union([z.literal(false), PoolTimingSchema]).optional(),
    /** This replica's id in the pool (default: host, pid and a random part). */
    replicaId: z.string().min(1).max(200).optional(),
    /** Progress lines of the pool replica (runs taken over, leases lost). */
    log: z.custom<(line: string) => void>((v) => typeof v === 'function').optional(),
    /**
     * Structured log lines (requests, flows started and finished, listening, shutdown, errors):
     * a pino logger or anything with its `debug`/`info`/`warn`/`error`. Default: none printed.
     */
    logger: z
      .custom<ServeLogger>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          (['debug', 'info', 'warn', 'error'] as const).every((m) => typeof (v as ServeLogger)[m] === 'function'),
        { message: 'expected a logger with debug, info, warn and error methods' },
      )
      .optional(),
  })
  .strict();

export type ServeAppOptions = z.input<typeof ServeAppOptionsSchema>;
export type ResolvedServeAppOptions = z.output<typeof ServeAppOptionsSchema>;

/**
 * Options of {@link startServe} and `opencode-flow serve`: the app's options plus where to
 * listen and which OpenCode server to use. Binding a non-loopback address requires a token.
 *
 * @example
 * ```ts
 * ServeOptionsSchema.parse({ port: 5000, host: '0.0.0.0', token: 'a-long-random-token-value' });
 * ```
 */
export const ServeOptionsSchema = ServeAppOptionsSchema.extend({
  port: z
    .number({ message: 'expected a port number' })
    .int({ message: 'expected a whole port number' })
    .min(0)
    .max(65535, { message: 'expected a port from 0 to 65535' })
    .default(5000),
  host: z.string().min(1, { message: 'expected a host name or address' }).default('127.0.0.1'),
  /** Attach to this OpenCode server; absent → start an embedded `opencode serve`. */
  server: z.string().refine(isServerUrlList, { message: SERVER_URLS_EXPECTED }).optional(),
  /** Options of the `OpencodeFlow` behind the API (memory, default model, ...); `server` wins over `serverUrl`. */
  flowOptions: z.record(z.string(), z.unknown()).optional(),
  /**
   * How agents without a policy of their own answer permission requests and questions
   * (default: reject). `{ onPermission: 'ask', onQuestion: 'ask' }` puts them in
   * `GET /flows/:id/requests` and on the dashboard, for a person to answer.
   */
  inputPolicy: InputPolicySchema.optional(),
})
  .strict()
  .superRefine((o, ctx) => {
    if (!o.token && !isLoopbackHost(o.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `binding ${o.host} exposes the API beyond this machine: set a token (--token or OPENCODE_FLOW_TOKEN), or bind 127.0.0.1`,
      });
    }
  });

export type ServeOptions = z.input<typeof ServeOptionsSchema>;
export type ResolvedServeOptions = z.output<typeof ServeOptionsSchema>;
