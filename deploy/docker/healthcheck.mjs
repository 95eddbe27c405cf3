// The opencode-flow image's Docker HEALTHCHECK (see the Dockerfile and deploy/README.md).
//
// It asks GET /healthz of the `opencode-flow serve` running in this container, at the port
// and address that process was started with, read from its argv in /proc: `serve` takes its
// port from --port only (no env var), so `serve --port 8080` is checked on 8080 with no
// extra setting here.
//
// A container that runs no `serve` (one flow: `docker run IMAGE --agents … --task …`) has
// no endpoint to ask and is reported healthy: a check that always failed would get flow
// containers replaced in the middle of their run where health is acted on (Docker Swarm).
// Kubernetes ignores HEALTHCHECK altogether; deploy/k8s gives the API its own probes.
//
// Plain Node 20 (global fetch), no dependencies: it runs in node:20-alpine as it is.
import { readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** `serve`'s defaults (src/cli/serve.ts); test/deploy checks they still agree. */
export const DEFAULT_PORT = 5000;
export const DEFAULT_HOST = '127.0.0.1';
/** Below the HEALTHCHECK --timeout, so a hung server gets this message, not Docker's. */
export const TIMEOUT_MS = 4000;

/**
 * Where a process listens if its argv is `… cli.js serve [options]` (or `opencode-flow
 * serve`), in commander's spellings of --port/-p and --host; undefined for anything else.
 */
export function serveAddress(argv) {
  const cli = argv.findIndex((a) => /(^|\/)(cli\.js|opencode-flow)$/.test(a));
  if (cli < 0) return undefined;
  const serve = argv.indexOf('serve', cli + 1);
  if (serve < 0) return undefined;
  let port = String(DEFAULT_PORT);
  let host = DEFAULT_HOST;
  const rest = argv.slice(serve + 1);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--') break;
    if (a === '--port' || a === '-p') port = rest[++i] ?? port;
    else if (a.startsWith('--port=')) port = a.slice('--port='.length);
    else if (/^-p[^-]/.test(a)) port = a.slice(2);
    else if (a === '--host') host = rest[++i] ?? host;
    else if (a.startsWith('--host=')) host = a.slice('--host='.length);
  }
  return { port: Number(port), host };
}

/** The URL to ask: a wildcard bind is asked on loopback, an IPv6 literal in brackets. */
export function healthUrl({ port, host }) {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}/healthz`;
}

/** The argv of every process under `proc` (entries that vanish or hide are skipped). */
export function commandLines(proc = '/proc') {
  const out = [];
  for (const pid of readdirSync(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.at(-1) === '') argv.pop();
      if (argv.length) out.push(argv);
    } catch {
      // The process ended between readdir and read, or belongs to another user.
    }
  }
  return out;
}

/** Checks every `serve` found under `proc`; resolves to the exit code (0 healthy, 1 not). */
export async function main({ proc = '/proc', out = (line) => process.stdout.write(`${line}\n`) } = {}) {
  const targets = new Map();
  for (const argv of commandLines(proc)) {
    const t = serveAddress(argv);
    if (t) targets.set(`${t.host} ${t.port}`, t);
  }
  if (targets.size === 0) {
    out('no opencode-flow serve runs in this container: nothing to check');
    return 0;
  }
  let code = 0;
  for (const t of targets.values()) {
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) {
      out(`serve --port ${t.port}: not a fixed port this check can ask`);
      code = 1;
      continue;
    }
    const url = healthUrl(t);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      await res.body?.cancel();
      out(`${url}: HTTP ${res.status}`);
      if (!res.ok) code = 1;
    } catch (e) {
      out(`${url}: ${e?.cause?.message ?? e?.message ?? e}`);
      code = 1;
    }
  }
  return code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
