/**
 * deploy/docker/healthcheck.mjs, the image's HEALTHCHECK: it reads `serve`'s address from
 * the process's argv exactly as the real `serve` command parses it, asks a real HTTP server
 * for /healthz, and passes a container that runs a flow instead. /proc is a fake directory
 * here: this machine runs other `serve` processes that must not count.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveCommand } from '../../src/cli/serve.js';
import { ServeOptionsSchema } from '../../src/serve/options.js';
import { execForm, parseDockerfile } from './dockerfile.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'deploy/docker/healthcheck.mjs');

interface Address {
  port: number;
  host: string;
}
interface Healthcheck {
  DEFAULT_PORT: number;
  DEFAULT_HOST: string;
  serveAddress(argv: string[]): Address | undefined;
  healthUrl(a: Address): string;
  main(o: { proc: string; out: (line: string) => void }): Promise<number>;
}
// A plain .mjs with no type declarations: imported by URL, typed by the interface above.
const hc = (await import(pathToFileURL(SCRIPT).href)) as Healthcheck;

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
/** The argv the image's ENTRYPOINT gives the CLI, before the container's args. */
const entrypoint = execForm(dockerfile.at(-1)!.instructions.find((i) => i.cmd === 'ENTRYPOINT')!.args);

/** What the real `serve` command makes of these args (parse only, nothing started). */
function commanderAddress(args: string[]): Address {
  const cmd = serveCommand()
    .action(() => {})
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  cmd.parse(args, { from: 'user' });
  const o = cmd.opts<{ port: string; host: string }>();
  return { port: Number(o.port), host: o.host };
}

describe("healthcheck: reading serve's address", () => {
  it("defaults to serve's own port and host", () => {
    expect(commanderAddress([])).toEqual({ port: hc.DEFAULT_PORT, host: hc.DEFAULT_HOST });
    expect(ServeOptionsSchema.parse({})).toMatchObject({ port: hc.DEFAULT_PORT, host: hc.DEFAULT_HOST });
  });

  it.each([
    [[]],
    [['--port', '8080']],
    [['--port=8081']],
    [['-p', '8082']],
    [['-p8083']],
    [['--host', '0.0.0.0', '--port', '5001']],
    [['--host=::', '-p', '5002']],
    [['--token', 'a-token-of-24-characters', '--max-flows', '8', '--port', '5003', '--host', '10.1.2.3']],
    [['--server', 'http://opencode:4096', '--model', 'anthropic/claude', '--keep-sessions', '-p', '5004']],
  ])('serve %j: the same port and host as the serve command', (args) => {
    expect(hc.serveAddress([...entrypoint, 'serve', ...args])).toEqual(commanderAddress(args));
  });

  it('finds nothing to check in other commands, flow runs included', () => {
    for (const argv of [
      [...entrypoint, '--agents', 'reviewer', '--task', 'Review PR #123', '--json'],
      [...entrypoint, 'run', 'code-review'],
      [...entrypoint, '--help'],
      ['node', '/app/healthcheck.mjs'],
      ['/sbin/docker-init', '--', 'sh', '-c', 'sleep 1'],
      [],
    ]) {
      expect(hc.serveAddress(argv), argv.join(' ')).toBeUndefined();
    }
    // Installed globally the CLI is `opencode-flow serve`.
    expect(hc.serveAddress(['node', '/usr/local/bin/opencode-flow', 'serve', '-p', '7000'])).toEqual({
      port: 7000,
      host: '127.0.0.1',
    });
  });

  it('agrees with deploy/k8s: the API container serves on its probe port, the Job has nothing to check', () => {
    const containers = ['api.yaml', 'job-code-review.yaml'].flatMap((f) =>
      parseAllDocuments(readFileSync(join(ROOT, 'deploy/k8s', f), 'utf8'))
        .map(
          (d) =>
            d.toJS() as {
              kind: string;
              spec?: {
                template?: {
                  spec: { containers: { args?: string[]; ports?: { name: string; containerPort: number }[] }[] };
                };
              };
            },
        )
        .filter((o) => o.kind === 'Deployment' || o.kind === 'Job')
        .flatMap((o) => o.spec!.template!.spec.containers),
    );
    const [api, job] = [
      containers.find((c) => c.args?.[0] === 'serve')!,
      containers.find((c) => c.args?.[0] !== 'serve')!,
    ];
    expect(hc.serveAddress([...entrypoint, ...api.args!])).toEqual({
      port: api.ports!.find((p) => p.name === 'http')!.containerPort,
      host: '0.0.0.0',
    });
    expect(hc.serveAddress([...entrypoint, ...job.args!])).toBeUndefined();
  });

  it('asks a wildcard bind on loopback and an IPv6 address in brackets', () => {
    expect(hc.healthUrl({ port: 5000, host: '0.0.0.0' })).toBe('http://127.0.0.1:5000/healthz');
    expect(hc.healthUrl({ port: 5000, host: '::' })).toBe('http://127.0.0.1:5000/healthz');
    expect(hc.healthUrl({ port: 5000, host: '::1' })).toBe('http://[::1]:5000/healthz');
    expect(hc.healthUrl({ port: 5000, host: 'localhost' })).toBe('http://localhost:5000/healthz');
  });
});

describe('healthcheck: asking /healthz', () => {
  let server: Server;
  let port: number;
  let status = 200;
  const seen: string[] = [];
  let dir: string;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push(`${req.method} ${req.url}`);
      res
        .writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'application/json' })
        .end('{"status":"ok"}');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'healthcheck-proc-'));
  });
  afterAll(async () => {
    await new Promise((ok) => server.close(ok));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fake /proc holding these command lines (plus entries a real one has that are no process). */
  let n = 0;
  function proc(...argvs: string[][]): string {
    const p = join(dir, String(n++));
    argvs.forEach((argv, i) => {
      mkdirSync(join(p, String(100 + i)), { recursive: true });
      writeFileSync(join(p, String(100 + i), 'cmdline'), argv.map((a) => `${a}\0`).join(''));
    });
    mkdirSync(join(p, '2'), { recursive: true });
    writeFileSync(join(p, '2', 'cmdline'), ''); // a kernel thread
    mkdirSync(join(p, 'self'), { recursive: true });
    mkdirSync(join(p, '999'), { recursive: true }); // a process gone before its cmdline is read
    return p;
  }
  async function check(p: string) {
    const lines: string[] = [];
    const code = await hc.main({ proc: p, out: (l) => lines.push(l) });
    return { code, lines };
  }
  const serveArgv = (...args: string[]) => [...entrypoint, 'serve', ...args];

  it('is healthy when serve answers 200 on /healthz, at the port in its argv', async () => {
    status = 200;
    seen.length = 0;
    const r = await check(
      proc(
        ['/sbin/docker-init', '--', ...serveArgv('--host', '0.0.0.0', '--port', String(port))],
        serveArgv('--host', '0.0.0.0', '--port', String(port)),
      ),
    );
    expect(r).toEqual({ code: 0, lines: [`http://127.0.0.1:${port}/healthz: HTTP 200`] });
    expect(seen).toEqual(['GET /healthz']); // one request: the two processes are one server
  });

  it('is unhealthy when /healthz answers an error', async () => {
    status = 503;
    const r = await check(proc(serveArgv('-p', String(port))));
    expect(r).toEqual({ code: 1, lines: [`http://127.0.0.1:${port}/healthz: HTTP 503`] });
  });

  it('is unhealthy, saying why, when nothing listens there', async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const free = (closed.address() as { port: number }).port;
    await new Promise((ok) => closed.close(ok));
    const r = await check(proc(serveArgv(`--port=${free}`)));
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${free}/healthz: .*ECONNREFUSED`));
  });

  it('is unhealthy for serve --port 0, whose port it cannot know', async () => {
    const r = await check(proc(serveArgv('--port', '0')));
    expect(r).toEqual({ code: 1, lines: ['serve --port 0: not a fixed port this check can ask'] });
  });

  it('is healthy, asking nothing, in a container that runs a flow instead of serve', async () => {
    seen.length = 0;
    const r = await check(
      proc(
        [...entrypoint, '--agents', 'reviewer', '--task', 'Review PR #123', '--json'],
        ['node', '/app/healthcheck.mjs'],
      ),
    );
    expect(r).toEqual({ code: 0, lines: ['no opencode-flow serve runs in this container: nothing to check'] });
    expect(seen).toEqual([]);
  });

  it('runs as `node healthcheck.mjs`, as the HEALTHCHECK calls it, with the real /proc', async () => {
    // Other serve processes may run on this machine: the verdict is theirs, the output shape is ours.
    const r = await new Promise<{ code: number; out: string }>((done) =>
      execFile(process.execPath, [SCRIPT], { timeout: 30_000 }, (err, out) =>
        done({ code: err ? Number(err.code) : 0, out }),
      ),
    );
    expect([0, 1]).toContain(r.code);
    expect(r.out).toMatch(
      /^(no opencode-flow serve runs in this container: nothing to check|(http:\/\/\S+\/healthz|serve --port \S+): .+)\n/,
    );
  });
});
