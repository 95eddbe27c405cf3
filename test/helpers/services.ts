import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/**
 * The external services some tests need (Redis, PostgreSQL), asked whether they answer
 * before a test file declares its tests. A test that needs one is declared with
 * `it.skipIf(!redis.up)` / `describe.skipIf(...)`, so on a machine without the service the
 * file still runs what it can and says, once, what it skipped and how to get it. CI starts
 * both services and fails on a skip it did not expect (`.ci/run`), so there a missing
 * service is a failure, not a quiet pass.
 */

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** PostgreSQL to test against (`DATABASE_URL`; `POSTGRES_URL` is still read as a fallback). */
export const DATABASE_URL =
  process.env.DATABASE_URL || process.env.POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Service {
  name: string;
  url: string;
  up: boolean;
}

const HINTS: Record<string, string> = {
  Redis: 'start one (Debian: apt-get install redis-server, then redis-server --daemonize yes) or set REDIS_URL',
  PostgreSQL: `start one (Debian: apt-get install postgresql, then pg_ctlcluster --skip-systemctl-redirect <version> main start; trust auth for 127.0.0.1) or set DATABASE_URL`,
};

/** Host and port of a redis:// or postgres:// URL (its default port when none is given). */
function endpoint(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port || defaultPort) };
}

/**
 * Sends `request` to host:port and resolves with the verdict of `answers` on the bytes
 * back: it returns true or false once it can tell, undefined while it needs more. False on
 * refusal, reset, or no verdict within `timeoutMs`.
 */
export function probe(
  host: string,
  port: number,
  request: Buffer,
  answers: (reply: Buffer) => boolean | undefined,
  timeoutMs = 1500,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]);
      const verdict = answers(reply);
      if (verdict !== undefined) done(verdict);
      else if (reply.length > 256) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(answers(reply) ?? false));
  });
}

/** Whether a Redis server answers PING at `url` (+PONG, or -NOAUTH: it is there, and wants a password). */
export function redisAnswers(url = REDIS_URL, timeoutMs?: number): Promise<boolean> {
  const { host, port } = endpoint(url, 6379);
  const firstLine = (r: Buffer) => (r.includes('\r\n') ? /^(\+PONG|-NOAUTH)/.test(r.toString('latin1')) : undefined);
  return probe(host, port, Buffer.from('*1\r\n$4\r\nPING\r\n'), firstLine, timeoutMs);
}

/**
 * Whether a PostgreSQL server answers at `url`: it is sent the protocol's SSLRequest and
 * replies with one byte, `S` or `N` (no driver needed to ask).
 */
export function postgresAnswers(url = DATABASE_URL, timeoutMs?: number): Promise<boolean> {
  const { host, port } = endpoint(url, 5432);
  const sslRequest = Buffer.alloc(8);
  sslRequest.writeInt32BE(8, 0);
  sslRequest.writeInt32BE(80877103, 4);
  return probe(host, port, sslRequest, (r) => r.length === 1 && (r[0] === 0x53 || r[0] === 0x4e), timeoutMs);
}

async function service(
  name: 'Redis' | 'PostgreSQL',
  url: string,
  answers: (url: string) => Promise<boolean>,
): Promise<Service> {
  const up = await answers(url);
  if (!up) {
    // Once per test file that asks; vitest shows it next to that file's results.
    console.warn(
      `[skip] ${name} does not answer at ${redact(url)}: the tests that need it are skipped. To run them, ${HINTS[name]}.`,
    );
  }
  return { name, url, up };
}

/** A URL with its password hidden, for the notice. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Redis at REDIS_URL, asked once; warns when it does not answer. */
export const needRedis = (url = REDIS_URL): Promise<Service> => service('Redis', url, (u) => redisAnswers(u));
/** PostgreSQL at DATABASE_URL, asked once; warns when it does not answer. */
export const needPostgres = (url = DATABASE_URL): Promise<Service> =>
  service('PostgreSQL', url, (u) => postgresAnswers(u));

/**
 * A fresh database on the server at `url` (`opencode_flow_test_<random>`), for one test file:
 * its URL, and `drop` to remove it (connections to it are ended first).
 */
export async function createTestDatabase(url = DATABASE_URL): Promise<{ url: string; drop: () => Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = `opencode_flow_test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
