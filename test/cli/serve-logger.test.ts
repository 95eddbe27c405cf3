import { describe, expect, it } from 'vitest';
import { createServeLogger, maskSecrets, prettyLine } from '../../src/cli/serve-logger.js';
import { loggedPath } from '../../src/serve/request-log.js';
import { requestIdFrom } from '../../src/serve/request-id.js';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { FlowError } from '../../src/errors.js';

const TOKEN = 'serve-test-token-0123456789abcdef';
const PASSWORD = 'hunter2-store-pw';

/** Every line one logger wrote, for one format. */
function capture(format: 'json' | 'pretty', level: 'info' | 'warn' = 'info') {
  let text = '';
  const logger = createServeLogger({ level, format, secrets: [TOKEN], out: { write: (s) => (text += s) } });
  return { logger, text: () => text };
}

/** One of each way a secret could reach a line. */
function logSecrets(logger: ReturnType<typeof capture>['logger']) {
  logger.info({ headers: { authorization: `Bearer ${TOKEN}` }, path: `/flows?token=${TOKEN}&after=2` }, 'request');
  logger.info({ token: TOKEN, store: `postgres://flows:${PASSWORD}@db:5432/flows` }, `listening with ${TOKEN}`);
  logger.error(
    { err: new Error(`cannot reach postgres://flows:${PASSWORD}@db/flows (Authorization: Bearer ${TOKEN})`) },
    'boom',
  );
}

describe('serve logger', () => {
  it.each(['json', 'pretty'] as const)(
    'never prints a token, Authorization, ?token= or a store password (%s)',
    (format) => {
      const { logger, text } = capture(format);
      logSecrets(logger);
      const out = text();
      // Three entries (pretty: an error's stack lines are indented under it).
      expect(out.split('\n').filter((l) => l && !l.startsWith(' '))).toHaveLength(3);
      expect(out).not.toContain(TOKEN);
      expect(out).not.toContain(PASSWORD);
      expect(out).toContain('postgres://flows:***@db');
      expect(out).toContain('after=2');
    },
  );

  it('writes JSON lines with a level label, an ISO time and the fields', () => {
    const { logger, text } = capture('json');
    logger.info({ reqId: 'r1', status: 200 }, 'request');
    const line = JSON.parse(text());
    expect(line).toMatchObject({ level: 'info', msg: 'request', reqId: 'r1', status: 200 });
    expect(new Date(line.time).toISOString()).toBe(line.time);
    const err = capture('json');
    err.logger.error({ err: new Error('kaput') }, 'request failed');
    expect(JSON.parse(err.text())).toMatchObject({ level: 'error', err: { type: 'Error', message: 'kaput' } });
  });

  it('drops lines under its level', () => {
    const { logger, text } = capture('json', 'warn');
    logger.info({}, 'request');
    logger.warn({ flowId: 'f' }, 'flow finished');
    expect(
      text()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).msg),
    ).toEqual(['flow finished']);
  });

  it('formats one readable line per entry, an error stack under it', () => {
    const line = prettyLine(
      JSON.stringify({
        level: 'info',
        time: '2025-01-01T12:00:03.120Z',
        pid: 1,
        msg: 'request',
        reqId: 'r1',
        path: '/flows',
        task: 'two words',
      }),
    );
    expect(line).toMatch(/^\d\d:\d\d:03\.120 INFO  request reqId=r1 path=\/flows task="two words"\n$/);
    const failed = prettyLine(
      JSON.stringify({
        level: 'error',
        msg: 'boom',
        err: { message: 'kaput', stack: 'Error: kaput\n    at f (x.ts:1:1)' },
      }),
    );
    expect(failed).toMatch(/ERROR boom err="kaput"\n {4}at f \(x\.ts:1:1\)\n$/);
  });

  it('masks secrets in nested values, leaving the rest alone', () => {
    expect(maskSecrets({ a: [`x ${TOKEN} y`], n: 3, ok: true }, [TOKEN])).toEqual({ a: ['x *** y'], n: 3, ok: true });
    expect(maskSecrets('redis://u:pw@h:6379')).toBe('redis://u:***@h:6379');
  });
});

describe('request path and id', () => {
  it('keeps the query but not a secret parameter', () => {
    expect(loggedPath(new URL(`http://h/flows/f1/events?token=${TOKEN}&after=3`))).toBe(
      '/flows/f1/events?token=***&after=3',
    );
    expect(loggedPath(new URL('http://h/flows?Password=x&api_key=y'))).toBe('/flows?Password=***&api_key=***');
    expect(loggedPath(new URL('http://h/healthz'))).toBe('/healthz');
  });

  it("takes a client's sane id, else makes one", () => {
    expect(requestIdFrom('test-req-1')).toBe('test-req-1');
    expect(requestIdFrom('a'.repeat(128))).toBe('a'.repeat(128));
    for (const bad of ['a'.repeat(129), 'two words', 'x"y', '', undefined, 'é'])
      expect(requestIdFrom(bad)).toMatch(/^req_[0-9a-f]{16}$/);
  });
});

describe('serve log flags', () => {
  it('default to info, come from the variables, and exit 2 naming the flag and the allowed values', () => {
    expect(parseServeOptions({}, {}).logging).toEqual({ logLevel: 'info' });
    expect(
      parseServeOptions({}, { OPENCODE_FLOW_LOG_LEVEL: 'debug', OPENCODE_FLOW_LOG_FORMAT: 'pretty' }).logging,
    ).toEqual({
      logLevel: 'debug',
      logFormat: 'pretty',
    });
    expect(parseServeOptions({ logLevel: 'warn' }, { OPENCODE_FLOW_LOG_LEVEL: 'debug' }).logging.logLevel).toBe('warn');
    const bad = (raw: Record<string, unknown>, env = {}) => {
      try {
        parseServeOptions(raw, env);
      } catch (e) {
        expect(e).toBeInstanceOf(FlowError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ logLevel: 'nope' })).toMatch(
      /--log-level: expected one of trace, debug, info, warn, error, fatal, silent, found "nope"/,
    );
    expect(bad({}, { OPENCODE_FLOW_LOG_FORMAT: 'xml' })).toMatch(
      /OPENCODE_FLOW_LOG_FORMAT: expected one of json, pretty, found "xml"/,
    );
    // Reported with the other flags' mistakes, in one message.
    expect(bad({ maxFlows: '0', logFormat: 'xml' })).toMatch(/--max-flows: .*; --log-format: /);
  });
});
