/**
 * A trial, not a test (it is long and random): `npx tsx test/trials/replica-kill.ts [flows]`.
 * Three `serve` replicas on one PostgreSQL store and one real OpenCode (scripted model);
 * flows of three sequential agents go in by rounds of 20, and in each round one replica is
 * killed with SIGKILL three times, at random moments, and started again. Then it checks, for
 * every flow: completed, each agent prompted exactly once (the model's own
 * log), and each agent's cost and the total equal to OpenCode's bill for its session. Prints
 * one line per round and the totals; exits 1 on any unclean flow. Needs PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OpencodeClient } from '../../src/opencode/client.js';
import { startScriptedLLM, startTestOpencode } from '../../src/testing/index.js';
import { createTestDatabase, DATABASE_URL } from '../helpers/services.js';

const root = resolve(import.meta.dirname, '../..');
const TOKEN = 'trial-token-0123456789abcdef0123';
const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const AGENTS = ['alpha', 'beta', 'gamma'].map((name) => ({ name, systemPrompt: `ROLE-${name.toUpperCase()}` }));

const until = async <T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 120_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

interface Replica {
  child: ChildProcess;
  url: string;
  exit: Promise<unknown>;
}

async function startReplica(db: string, oc: string, memDir: string, n: number): Promise<Replica> {
  const args = ['serve', '--port', '0', '--server', oc, '--model', 'scripted/small', '--token', TOKEN];
  const child = spawn(
    process.execPath,
    [
      '--import',
      tsx,
      join(root, 'src/cli/index.ts'),
      ...args,
      '--keep-sessions',
      '--store',
      db,
      '--max-flows',
      '4',
      '--lease',
      '2',
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        OPENCODE_SERVER_URL: '',
        NO_COLOR: '1',
        OPENCODE_FLOW_MEMORY: `file:${join(memDir, `m${n}.json`)}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise((r) => child.on('close', r));
  const url = await until('serve to listen', () => /listening on (http:\/\/\S+)/.exec(out)?.[1], 60_000);
  return { child, url, exit };
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function main(total = Number(process.argv[2] ?? 60)) {
  const asked = new Map<string, number>();
  const llm = await startScriptedLLM({ fallback: { text: 'fallback' } });
  llm.script({
    match: { allText: /TRIAL-\d+/ },
    reply: (req) => {
      const flow = /TRIAL-\d+/.exec(req.allText)![0];
      const role = /ROLE-[A-Z]+/.exec(req.system)?.[0] ?? 'ROLE-?';
      const key = `${flow} ${role}`;
      asked.set(key, (asked.get(key) ?? 0) + 1);
      return { text: `${role} done ${flow}`, delayMs: 300 + Math.floor(Math.random() * 2500) };
    },
  });
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const db = await createTestDatabase(DATABASE_URL);
  const memDir = await mkdtemp(join(tmpdir(), 'ocf-trial-'));
  const replicas: Replica[] = [];
  let bad = 0;
  try {
    for (let i = 0; i < 3; i++) replicas.push(await startReplica(db.url, oc.url, memDir, i));
    const ids: string[] = [];
    let next = 0;
    for (let round = 0; next < total; round++) {
      const mine: string[] = [];
      for (let k = 0; k < 20 && next < total; k++, next++) {
        const r = await api(replicas[next % 3]!.url, 'POST', '/flows', {
          task: `Do TRIAL-${next}`,
          agents: AGENTS,
          mode: 'sequential',
        });
        if (r.status !== 202) throw new Error(`POST /flows: ${r.status} ${JSON.stringify(r.body)}`);
        mine.push(r.body.id);
      }
      ids.push(...mine);
      // Three kills in the round, each at a random moment, the victim started again at once.
      for (let kill = 0; kill < 3; kill++) {
        await new Promise((r) => setTimeout(r, 1500 + Math.random() * 3000));
        const v = Math.floor(Math.random() * 3);
        replicas[v]!.child.kill('SIGKILL');
        await replicas[v]!.exit;
        replicas[v] = await startReplica(db.url, oc.url, memDir, v);
      }
      let lastSaid = 0;
      await until(
        `round ${round} to finish`,
        async () => {
          const open: string[] = [];
          for (const id of mine) {
            const v = await api(replicas[0]!.url, 'GET', `/flows/${id}`);
            if (v.body.status === 'running' || v.body.status === 'queued')
              open.push(
                `${id} ${v.body.status} ${(v.body.agents ?? []).map((a: { agent: string; state: string }) => `${a.agent}:${a.state}`).join(',')}`,
              );
          }
          if (open.length && Date.now() - lastSaid > 30_000) {
            lastSaid = Date.now();
            console.log(`  waiting on ${open.length}:\n    ${open.slice(0, 5).join('\n    ')}`);
          }
          return open.length === 0 ? true : undefined;
        },
        300_000,
      );
      console.log(`round ${round}: ${mine.length} flows in, 3 replicas killed, all finished`);
    }
    const opencode = new OpencodeClient({ url: oc.url });
    let agents = 0;
    let clean = 0;
    for (let i = 0; i < ids.length; i++) {
      const report = (await api(replicas[0]!.url, 'GET', `/flows/${ids[i]}`)).body;
      let total = 0;
      let flowClean = report.status === 'completed';
      for (const r of report.results as Array<{ agent: string; sessionID: string; cost: number; status: string }>) {
        agents++;
        const billed = (await opencode.messages(r.sessionID)).reduce(
          (n, m) => n + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0),
          0,
        );
        total += billed;
        const prompts = asked.get(`TRIAL-${i} ROLE-${r.agent.toUpperCase()}`) ?? 0;
        const ok = r.status === 'done' && prompts === 1 && Math.abs(r.cost - billed) < 1e-12;
        if (ok) clean++;
        else {
          flowClean = false;
          console.log(
            `  unclean: ${ids[i]} ${r.agent}: ${r.status}, prompted ${prompts}×, report $${r.cost} vs billed $${billed}`,
          );
        }
      }
      if (Math.abs(report.cost.total - total) >= 1e-12) {
        flowClean = false;
        console.log(`  unclean: ${ids[i]} total $${report.cost.total} vs billed $${total}`);
      }
      if (!flowClean) bad++;
    }
    console.log(`${ids.length} flows, ${agents} agents: ${clean} clean agents, ${ids.length - bad} clean flows`);
  } finally {
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exit));
    await oc.stop();
    await llm.close();
    await db.drop().catch(() => undefined);
    await rm(memDir, { recursive: true, force: true });
  }
  process.exit(bad ? 1 : 0);
}

await main();
