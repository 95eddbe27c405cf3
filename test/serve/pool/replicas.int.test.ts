import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'pg';
import {
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type TestOpencode,
} from '../../../src/testing/index.js';
import { OpencodeClient } from '../../../src/opencode/client.js';
import { cliArgv } from '../../cli/helpers.js';
import { createTestDatabase, needPostgres } from '../../helpers/services.js';
import { call, readEvents, tempMemory, TOKEN, waitFor } from '../helpers.js';

/**
 * `serve --store postgres://…` processes as a pool of replicas: three real CLI processes on
 * one database and one real OpenCode (scripted model). One is killed with SIGKILL while its
 * flows run; the others take them over and finish each exactly once.
 */
const root = resolve(import.meta.dirname, '../../..');
const postgres = await needPostgres();

interface Replica {
  child: ChildProcess;
  url: string;
  id: string;
  out: { stdout: string; stderr: string };
  exit: Promise<unknown>;
}

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void>> = [];

async function startReplica(dbUrl: string, ocUrl: string): Promise<Replica> {
  const mem = await tempMemory('pool');
  cleanups.push(mem.cleanup);
  // Sessions kept, so the test can read OpenCode's own bill for every agent.
  const args = [
    'serve',
    '--port',
    '0',
    '--server',
    ocUrl,
    '--model',
    'scripted/small',
    '--token',
    TOKEN,
    '--keep-sessions',
  ];
  const child = spawn(process.execPath, cliArgv([...args, '--store', dbUrl, '--max-flows', '2', '--lease', '2']), {
    cwd: root,
    env: {
      ...process.env,
      OPENCODE_SERVER_URL: '',
      OPENCODE_FLOW_TOKEN: '',
      NO_COLOR: '1',
      OPENCODE_FLOW_MEMORY: mem.uri,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise((r) => child.on('close', (code, signal) => (children.delete(child), r({ code, signal }))));
  const url = await Promise.race([
    waitFor(() => /listening on (http:\/\/\S+)/.exec(out.stdout)?.[1], { what: 'serve to listen', timeoutMs: 30_000 }),
    exit.then(() => {
      throw new Error(`serve exited early: ${out.stderr}`);
    }),
  ]);
  const id = /pool {7}replica (\S+):/.exec(out.stdout)?.[1];
  if (!id) throw new Error(`serve did not say it is a replica:\n${out.stdout}`);
  // A replica hands its flows to the others on SIGTERM unless told otherwise.
  if (!out.stdout.includes('on shutdown: persist'))
    throw new Error(`a replica should persist on shutdown:\n${out.stdout}`);
  return { child, url, id, out, exit };
}

describe.skipIf(!postgres.up)('serve replicas on one Postgres store', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let llm: ScriptedLLM;
  let oc: TestOpencode;
  let sql: Client;
  let replicas: Replica[] = [];
  /** Prompts of the second agent, per task marker: the first one of each flow answers slowly. */
  const secondAsked = new Map<string, number>();

  beforeAll(async () => {
    db = await createTestDatabase(postgres.url);
    llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
    llm.script([
      { match: { system: 'ROLE-FIRST' }, reply: { text: 'first step done' } },
      {
        match: { system: 'ROLE-SECOND', allText: /POOL-\d+/ },
        reply: (req) => {
          const marker = /POOL-\d+/.exec(req.allText)![0];
          const n = (secondAsked.get(marker) ?? 0) + 1;
          secondAsked.set(marker, n);
          // Long enough for a replica to be killed in the middle of it.
          return n === 1
            ? { text: `second step done ${marker}`, delayMs: 6000 }
            : { text: `second step done ${marker}` };
        },
      },
      { match: { system: 'ROLE-SECOND', allText: 'HANG-TASK' }, reply: { hang: true } },
      {
        match: { allText: 'POOL-ASK', hasToolResult: false },
        reply: { toolCalls: [{ name: 'bash', arguments: { command: 'echo POOL-ASK-RAN', description: 'marker' } }] },
      },
      {
        match: { allText: 'POOL-ASK', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${req.toolResults.at(-1)?.content ?? ''}` }),
      },
    ]);
    oc = await startTestOpencode({ baseURL: llm.baseURL });
    const { default: pg } = await import('pg');
    replicas = await Promise.all([0, 1, 2].map(() => startReplica(db.url, oc.url)));
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await sql?.end().catch(() => undefined);
    for (const c of cleanups.splice(0)) await c();
    await oc?.stop();
    await llm?.close();
    await db?.drop();
  });

  const agents = [
    { name: 'first', systemPrompt: 'ROLE-FIRST' },
    { name: 'second', systemPrompt: 'ROLE-SECOND' },
  ];

  it('a replica killed with SIGKILL mid-flow: the others finish each of its flows exactly once, without running finished agents again', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await call(replicas[i % 3]!.url, 'POST', '/flows', {
        body: { task: `Do POOL-${i}`, agents, mode: 'sequential' },
      });
      expect(r.status).toBe(202);
      expect(r.body.status).toBe('queued');
      ids.push(r.body.id);
    }
    // Every flow taken, its first agent finished, its second one answering (slowly).
    await waitFor(
      async () => {
        const { rows } = await sql.query(
          `SELECT count(DISTINCT flow_id)::int AS n FROM opencode_flow_events WHERE type = 'agent.done' AND data->>'agent' = 'first'`,
        );
        return rows[0].n === 6;
      },
      { what: 'every first agent to finish', timeoutMs: 60_000 },
    );
    const owners = async () =>
      new Map(
        (
          await sql.query<{ flow_id: string; lease_owner: string }>(
            'SELECT flow_id, lease_owner FROM opencode_flow_runs',
          )
        ).rows.map((r) => [r.flow_id, r.lease_owner]),
      );
    const before = await owners();
    // --max-flows 2 on each of 3 replicas: 6 flows, 2 each.
    for (const r of replicas) expect([...before.values()].filter((o) => o === r.id)).toHaveLength(2);
    // Every replica answers for every flow.
    for (const r of replicas) {
      const list = await call(r.url, 'GET', '/flows');
      expect(list.body.flows.map((f: { id: string }) => f.id).sort()).toEqual([...ids].sort());
    }
    const victim = replicas[1]!;
    const itsFlows = ids.filter((id) => before.get(id) === victim.id);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exit;
    const survivors = [replicas[0]!, replicas[2]!];

    const takenOverAt = await waitFor(
      async () => {
        const now = await owners();
        return itsFlows.every((id) => now.get(id) !== victim.id) ? Date.now() : undefined;
      },
      { what: "the killed replica's flows to be taken over", timeoutMs: 30_000 },
    );
    for (const id of ids) {
      const report = await waitFor(
        async () => {
          const v = await call(survivors[0]!.url, 'GET', `/flows/${id}`);
          return v.body.status === 'completed' ? v.body : undefined;
        },
        { what: `flow ${id} to complete`, timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(report.results.map((r: { agent: string; status: string }) => [r.agent, r.status])).toEqual([
        ['first', 'done'],
        ['second', 'done'],
      ]);
    }
    const doneAt = Date.now();
    console.log(
      `pool failover: ${itsFlows.length} flows of the killed replica taken over ${takenOverAt - killedAt} ms after SIGKILL, all 6 completed ${doneAt - killedAt} ms after it`,
    );

    // A flow reads completed as soon as its final save lands; its owner then stores the last
    // events (flow.done among them) and only then drops the lease: wait for that end.
    await waitFor(
      async () =>
        (await sql.query(`SELECT count(*)::int AS n FROM opencode_flow_runs WHERE lease_expires_at IS NOT NULL`))
          .rows[0].n === 0,
      { what: 'every owner to record the end of its flows', timeoutMs: 30_000 },
    );
    // The store: one completion each, report intact, one flow.done each; the killed replica's taken twice.
    const { rows } = await sql.query<{ flow_id: string; status: string; report: any; claims: number; dones: number }>(
      `SELECT r.flow_id, r.status, r.report, r.claims,
         (SELECT count(*)::int FROM opencode_flow_events e WHERE e.flow_id = r.flow_id AND e.type = 'flow.done') AS dones
       FROM opencode_flow_runs r`,
    );
    expect(rows).toHaveLength(6);
    for (const row of rows) {
      expect(row.status, row.flow_id).toBe('completed');
      expect(row.dones, row.flow_id).toBe(1);
      expect(row.report.results.map((r: { output: string }) => r.output)).toEqual([
        'first step done',
        expect.stringContaining('second step done'),
      ]);
      expect(row.claims, row.flow_id).toBe(itsFlows.includes(row.flow_id) ? 2 : 1);
      expect(row.report.results[1].output).toContain(`second step done POOL-${ids.indexOf(row.flow_id)}`);
    }
    // The model's log: each flow's agents were prompted once, the killed ones' included: the
    // second agent, mid-prompt when its replica died, found its prompt in its session (by the
    // message id it stored before sending) and took the answer instead of buying it again.
    for (let i = 0; i < 6; i++) {
      const firsts = llm
        .promptRequests()
        .filter((r) => r.system.includes('ROLE-FIRST') && r.allText.includes(`POOL-${i}`));
      expect(firsts, `POOL-${i}`).toHaveLength(1);
      expect(secondAsked.get(`POOL-${i}`), `POOL-${i}`).toBe(1);
    }
    // The report is the bill: per agent and in total, what OpenCode says the sessions cost.
    const opencode = new OpencodeClient({ url: oc.url });
    for (const row of rows) {
      let total = 0;
      for (const r of row.report.results as Array<{ agent: string; sessionID: string; cost: number }>) {
        const billed = (await opencode.messages(r.sessionID)).reduce(
          (n, m) => n + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0),
          0,
        );
        expect(billed, `${row.flow_id} ${r.agent}`).toBeGreaterThan(0);
        expect(r.cost, `${row.flow_id} ${r.agent}`).toBeCloseTo(billed, 12);
        total += billed;
      }
      expect(row.report.cost.total, row.flow_id).toBeCloseTo(total, 12);
    }
    // The SSE stream of a taken-over flow, read from any replica, runs through to flow.done with ids in order.
    const stream = await readEvents(survivors[1]!.url, itsFlows[0]!);
    expect(stream.ended).toBe(true);
    expect(stream.events.at(-1)?.event).toBe('flow.done');
    const seen = stream.events.map((e) => e.id);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(stream.events.filter((e) => e.event === 'agent.done').map((e) => e.data.agent)).toEqual(['first', 'second']);
  }, 180_000);

  /** The replicas still running (one may have been killed by an earlier test). */
  const liveReplicas = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);

  /** A live replica other than the one that took flow `id` (waits until one has). */
  const notOwning = async (id: string, live: typeof replicas) => {
    const owner = await waitFor(
      async () =>
        (await sql.query('SELECT lease_owner FROM opencode_flow_runs WHERE flow_id = $1', [id])).rows[0]?.lease_owner,
      { what: 'the flow to be taken' },
    );
    return live.find((x) => x.id !== owner)!;
  };

  it('the event stream and DELETE of a flow work through a replica that does not run it', async () => {
    const live = liveReplicas();
    const r = await call(live[0]!.url, 'POST', '/flows', { body: { task: 'HANG-TASK', agents, mode: 'sequential' } });
    expect(r.status).toBe(202);
    const id: string = r.body.id;
    const other = await notOwning(id, live);
    let streaming!: () => void;
    const secondStreaming = new Promise<void>((res) => (streaming = res));
    const stream = readEvents(other.url, id, {
      onEvent: (e) => {
        if (e.event === 'agent.state' && e.data.agent === 'second' && e.data.state === 'streaming') streaming();
      },
    });
    await secondStreaming;
    const requests = await call(other.url, 'GET', `/flows/${id}/requests`);
    expect(requests.body).toEqual({ flowId: id, requests: [] });
    const del = await call(other.url, 'DELETE', `/flows/${id}`);
    expect(del.status).toBe(200);
    expect(del.body.status).toBe('cancelled');
    const { events, ended } = await stream;
    expect(ended).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: 'flow.done', data: { status: 'cancelled' } });
    expect(events.map((e) => e.event)).toContain('flow.started');
    // Every replica sees it ended, and a second DELETE is refused.
    for (const x of live) expect((await call(x.url, 'GET', `/flows/${id}`)).body.status).toBe('cancelled');
    expect((await call(other.url, 'DELETE', `/flows/${id}`)).status).toBe(409);
  }, 120_000);

  it('a permission request is listed and answered through a replica that does not run the flow', async () => {
    const live = liveReplicas();
    const agent = {
      name: 'runner',
      agent: 'build',
      permissions: { bash: 'ask' },
      inputPolicy: { onPermission: 'ask' },
    };
    const r = await call(live[0]!.url, 'POST', '/flows', { body: { task: 'POOL-ASK', agents: [agent] } });
    expect(r.status).toBe(202);
    const id: string = r.body.id;
    const other = await notOwning(id, live);
    const pending = await waitFor(
      async () => {
        const q = await call(other.url, 'GET', `/flows/${id}/requests`);
        return q.body.requests.length ? q.body.requests : undefined;
      },
      { what: 'the request on another replica', timeoutMs: 60_000 },
    );
    expect(pending[0]).toMatchObject({
      flowId: id,
      agent: 'runner',
      request: { kind: 'permission', permission: 'bash' },
    });
    const rid = pending[0].request.id;
    expect((await call(other.url, 'POST', `/flows/${id}/requests/${rid}`, { body: { answer: [['x']] } })).status).toBe(
      400,
    );
    expect((await call(other.url, 'POST', `/flows/${id}/requests/${rid}`, { body: { answer: 'once' } })).status).toBe(
      200,
    );
    const report = await waitFor(
      async () => {
        const v = await call(other.url, 'GET', `/flows/${id}`);
        return v.body.status !== 'running' ? v.body : undefined;
      },
      { what: 'the flow to finish', timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(report.status).toBe('completed');
    expect(report.results[0].output).toContain('POOL-ASK-RAN');
    expect(report.results[0].inputs[0].by).toBe('user');
    expect((await call(other.url, 'GET', `/flows/${id}/requests`)).body.requests).toEqual([]);
  }, 120_000);
});
