/**
 * bench/pool: `serve` replicas on one PostgreSQL flow store (scripted LLM, one real OpenCode
 * server behind them all), against one `serve` on the file store as the baseline, in the same
 * run:
 * - flows per minute with 1, 2 and 3 replicas (each ratio against the file-store baseline);
 * - queue pick-up latency, p50/p99: on an idle pool, from `POST /flows` to the flow no longer
 *   `queued`, as a client sees it (baseline: the same on the file store); and, with every flow
 *   posted at once, from `queued_at` to `flow.started` as the store records them (mostly the
 *   wait for a free slot);
 * - failover time, p50/p99: from `kill -9` of a replica to each of its running flows being
 *   leased by another replica.
 * Every replica runs the built CLI (`node dist/cli.js serve --store …`, run `npm run build`
 * first). On two cores the OpenCode server and the replicas share the same CPUs: more
 * replicas add workers, not cores, so flows per minute are bounded by OpenCode's own CPU.
 *
 * Needs PostgreSQL (`DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres): a
 * database of its own is created and dropped.
 *
 * `npx tsx bench/pool.ts [--flows 24] [--failover-rounds 3] [--lease 3]`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Client } from 'pg';
import { startScriptedLLM, startTestOpencode, type TestOpencode } from '../src/testing/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli.js');
const TOKEN = randomBytes(24).toString('hex');
const DATABASE_URL =
  process.env.DATABASE_URL ?? process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Replica {
  child: ChildProcess;
  url: string;
  /** Its replica id in the pool (the store's `lease_owner`); absent on the file store. */
  id?: string;
  exited: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'n/a');

async function admin(sql: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database for one arm; dropped by the returned function. */
async function database(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `opencode_flow_bench_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(DATABASE_URL);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function startReplica(store: string, oc: TestOpencode, home: string, lease: number): Promise<Replica> {
  const memory = `file:${join(home, `memory-${randomBytes(4).toString('hex')}.json`)}`;
  const args = [CLI, 'serve', '--port', '0', '--server', oc.url, '--model', 'scripted/small', '--token', TOKEN];
  args.push('--store', store, '--max-flows', '4');
  if (!store.startsWith('file:')) args.push('--lease', String(lease));
  const child = spawn(process.execPath, args, {
    cwd: home,
    env: {
      ...process.env,
      OPENCODE_SERVER_URL: '',
      OPENCODE_FLOW_TOKEN: '',
      NO_COLOR: '1',
      OPENCODE_FLOW_MEMORY: memory,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  for (let i = 0; i < 600; i++) {
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    const id = /pool +replica (\S+):/.exec(out)?.[1];
    if (url && (id || store.startsWith('file:'))) return { child, url, exited, ...(id ? { id } : {}) };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not start:\n${out}\n${err}`);
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

const FINAL = new Set(['completed', 'failed', 'cancelled', 'budget_exceeded']);

/** Post `n` flows round-robin over the replicas (retrying a 429 from a full replica), wait for all to end. */
async function throughput(
  replicas: Replica[],
  n: number,
  tag: string,
): Promise<{ ms: number; ids: string[]; failed: number }> {
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    for (;;) {
      const r = await api(replicas[i % replicas.length]!.url, 'POST', '/flows', {
        task: `BENCH-${tag}-${i}`,
        agents: [{ name: 'worker', systemPrompt: 'BENCH-WORKER' }],
      });
      if (r.status === 202 || r.status === 201) {
        ids.push(r.body.id);
        break;
      }
      if (r.status !== 429) throw new Error(`POST /flows: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      await sleep(50);
    }
  }
  let failed = 0;
  for (const id of ids) {
    for (;;) {
      const r = await api(replicas[0]!.url, 'GET', `/flows/${id}`);
      if (r.status === 200 && FINAL.has(r.body.status)) {
        if (r.body.status !== 'completed') failed++;
        break;
      }
      await sleep(100);
    }
  }
  return { ms: performance.now() - t0, ids, failed };
}

/**
 * Pick-up latency on an idle pool, as a client sees it: from sending `POST /flows` to the flow
 * no longer `queued` (polled every 10 ms), one flow at a time (each waits for the previous one
 * to end), so no flow waits for a free slot.
 */
async function idlePickup(replicas: Replica[], n: number, tag: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await api(replicas[i % replicas.length]!.url, 'POST', '/flows', {
      task: `BENCH-PICKUP-${tag}-${i}`,
      agents: [{ name: 'worker', systemPrompt: 'BENCH-WORKER' }],
    });
    if (r.status !== 202 && r.status !== 201) throw new Error(`POST /flows: HTTP ${r.status}`);
    let picked = false;
    for (;;) {
      const g = await api(replicas[(i + 1) % replicas.length]!.url, 'GET', `/flows/${r.body.id}`);
      if (!picked && g.status === 200 && g.body.status !== 'queued') {
        picked = true;
        out.push(performance.now() - t0);
      }
      if (g.status === 200 && FINAL.has(g.body.status)) break;
      await sleep(10);
    }
  }
  return out;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      flows: { type: 'string', default: '24' },
      'failover-rounds': { type: 'string', default: '3' },
      lease: { type: 'string', default: '3' },
    },
  });
  const flows = Number(values.flows);
  const rounds = Number(values['failover-rounds']);
  const lease = Number(values.lease);
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  const { default: pg } = await import('pg');
  try {
    await admin('SELECT 1');
  } catch (e) {
    console.log(
      `PostgreSQL is not reachable at ${DATABASE_URL} (${(e as Error).message}): bench/pool needs it, skipped`,
    );
    return;
  }
  console.log(
    `bench/pool — serve replicas on one PostgreSQL store vs one serve on the file store; load ${loadavg()[0]!.toFixed(2)}`,
  );
  const llm = await startScriptedLLM({ fallback: { text: 'done', delayMs: 300 } });
  llm.script({ match: { system: 'BENCH-SLOW' }, reply: { text: 'slow done', delayMs: 8000 } });
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const home = await mkdtemp(join(tmpdir(), 'ocf-bench-pool-'));
  const started: Replica[] = [];
  const start = async (store: string) => {
    const r = await startReplica(store, oc, home, lease);
    started.push(r);
    return r;
  };
  const stopAll = async () => {
    for (const r of started.splice(0)) {
      r.child.kill('SIGTERM');
      await Promise.race([r.exited, sleep(10_000).then(() => r.child.kill('SIGKILL'))]);
    }
  };
  try {
    // Warm OpenCode (first prompts pay its own start-up work).
    const warm = await start(`file:${join(home, 'warm')}`);
    await throughput([warm], 2, 'warm');
    await stopAll();

    const base = await start(`file:${join(home, 'flows-base')}`);
    const b = await throughput([base], flows, 'base');
    const basePick = await idlePickup([base], 12, 'base');
    await stopAll();
    const basePerMin = (flows / b.ms) * 60_000;
    console.log(
      `  file store, 1 serve:        ${basePerMin.toFixed(1)} flows/min (${flows} flows, ${b.failed} failed)  [baseline]`,
    );
    console.log(
      `    idle pick-up (POST → not queued, client side): p50 ${ms(pct(basePick, 50))} p99 ${ms(pct(basePick, 99))}  [baseline]`,
    );

    const pickups: number[] = [];
    for (const n of [1, 2, 3]) {
      const db = await database();
      try {
        const replicas: Replica[] = [];
        for (let i = 0; i < n; i++) replicas.push(await start(db.url));
        const t = await throughput(replicas, flows, `r${n}`);
        const perMin = (flows / t.ms) * 60_000;
        const sql: Client = new pg.Client({ connectionString: db.url });
        await sql.connect();
        const { rows } = await sql.query<{ ms: number }>(
          `SELECT EXTRACT(EPOCH FROM (e.at - r.queued_at)) * 1000 AS ms
             FROM opencode_flow_runs r
             JOIN LATERAL (SELECT min(at) AS at FROM opencode_flow_events WHERE flow_id = r.flow_id AND type = 'flow.started') e ON true
            WHERE r.queued_at IS NOT NULL AND e.at IS NOT NULL`,
        );
        await sql.end();
        const lat = rows.map((r) => Number(r.ms));
        const idle = await idlePickup(replicas, 12, `r${n}`);
        pickups.push(...lat);
        console.log(
          `  postgres store, ${n} replica${n > 1 ? 's' : ' '}: ${perMin.toFixed(1)} flows/min = ${(perMin / basePerMin).toFixed(2)}× baseline (${t.failed} failed); queued → started, all posted at once: p50 ${ms(pct(lat, 50))} p99 ${ms(pct(lat, 99))}`,
        );
        console.log(
          `    idle pick-up (POST → not queued, client side): p50 ${ms(pct(idle, 50))} p99 ${ms(pct(idle, 99))} = ${(pct(idle, 50) / pct(basePick, 50)).toFixed(2)}× baseline p50`,
        );
        await stopAll();
      } finally {
        await stopAll();
        await db.drop();
      }
    }
    console.log(
      `  queued → started with every flow posted at once (mostly waiting for a free slot), all runs: p50 ${ms(pct(pickups, 50))}, p99 ${ms(pct(pickups, 99))} (n=${pickups.length})`,
    );

    // Failover: two replicas; flows with a slow agent; kill -9 the one leasing the most.
    const failovers: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const db = await database();
      try {
        const replicas = [await start(db.url), await start(db.url)];
        const sql: Client = new pg.Client({ connectionString: db.url });
        await sql.connect();
        try {
          const ids: string[] = [];
          for (let i = 0; i < 4; i++) {
            const r = await api(replicas[i % 2]!.url, 'POST', '/flows', {
              task: `BENCH-FAILOVER-${round}-${i}`,
              agents: [{ name: 'slow', systemPrompt: 'BENCH-SLOW' }],
            });
            ids.push(r.body.id);
          }
          // Wait until every flow is leased and running.
          let owners = new Map<string, string>();
          for (let i = 0; i < 300; i++) {
            const { rows } = await sql.query<{ flow_id: string; lease_owner: string | null; status: string }>(
              'SELECT flow_id, lease_owner, status FROM opencode_flow_runs',
            );
            owners = new Map(
              rows.filter((r) => r.lease_owner && r.status === 'running').map((r) => [r.flow_id, r.lease_owner!]),
            );
            if (owners.size === ids.length) break;
            await sleep(100);
          }
          const counts = new Map<string, number>();
          for (const o of owners.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
          const victimId = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
          const victimFlows = [...owners].filter(([, o]) => o === victimId).map(([f]) => f);
          const target = replicas.find((r) => r.id === victimId);
          if (!target) throw new Error(`no replica has the id ${victimId} (${replicas.map((r) => r.id).join(', ')})`);
          const killedAt = Date.now();
          target.child.kill('SIGKILL');
          const pending = new Set(victimFlows);
          while (pending.size && Date.now() - killedAt < 60_000) {
            const { rows } = await sql.query<{ flow_id: string; lease_owner: string | null }>(
              'SELECT flow_id, lease_owner FROM opencode_flow_runs WHERE flow_id = ANY($1)',
              [[...pending]],
            );
            for (const r of rows) {
              if (r.lease_owner && r.lease_owner !== victimId) {
                failovers.push(Date.now() - killedAt);
                pending.delete(r.flow_id);
              }
            }
            await sleep(50);
          }
          if (pending.size) console.log(`  round ${round}: ${pending.size} flow(s) not taken over within 60 s`);
        } finally {
          await sql.end();
        }
      } finally {
        await stopAll();
        await db.drop();
      }
    }
    console.log(
      `  failover (kill -9 → leased by another replica, lease ${lease} s): p50 ${ms(pct(failovers, 50))}, p99 ${ms(pct(failovers, 99))} (n=${failovers.length}); ratio to the lease: p50 ${(pct(failovers, 50) / (lease * 1000)).toFixed(2)}×`,
    );
  } finally {
    await stopAll();
    await oc.stop();
    await llm.close();
    await rm(home, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
