/**
 * bench/scale: 10, 50 and 100 agents at once on ONE real OpenCode server (scripted LLM,
 * no added latency), through `OpencodeFlow.execute({ mode: 'parallel', maxConcurrent: N })`
 * versus a bare @opencode-ai/sdk `Promise.all` making the same calls (create session,
 * promptAsync, wait for idle via one SSE subscription, read messages, delete). Arms are
 * interleaved (order alternates per round) after a warm-up; each N reports the median of
 * its rounds, the ratio flow/sdk (goal ≤ 1.1) and the failures of each arm (goal 0 at
 * N=100), with the distinct error messages, and the median CPU time each arm cost this
 * process and the OpenCode server (from /proc, Linux only). On two cores OpenCode itself
 * is the bottleneck and other load stretches wall times: absolute times mean little; the
 * ratio, the CPU lines and the failures are the point. The model runs in a child process
 * and each arm is charged a full GC at its end, so an arm's CPU is its own client work and
 * its own garbage. Takes about 5 minutes.
 *
 * `npx tsx bench/scale.ts [--rounds 3] [--sizes 10,50,100] [--budget-s 240] [--chunks N]`
 * (`--chunks 200`: every answer streams as 200 tokens, as a real model's does)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import { createOpencodeClient, type Event } from '@opencode-ai/sdk/v2';
import { OpencodeFlow } from '../src/flow/index.js';
import { startTestOpencode, type ScriptedReply } from '../src/testing/index.js';
import { startScriptedLLMProcess } from './clients/scripted-llm.js';

/** What one arm of one round did. */
export interface ArmRun {
  ms: number;
  /** CPU time of this process (both arms' client side runs here) during the arm. */
  cpuMs?: number;
  /** CPU time of the OpenCode server process tree during the arm (Linux only). */
  serverCpuMs?: number;
  failures: number;
  /** Distinct error messages → how many agents hit each. */
  errors: Map<string, number>;
}

function tally(errors: Map<string, number>, message: string) {
  // Session ids etc. make every message unique: fold them so equal causes group.
  const key = message
    .replace(/ses_[A-Za-z0-9]+/g, 'ses_…')
    .replace(/msg_[A-Za-z0-9]+/g, 'msg_…')
    .slice(0, 400);
  errors.set(key, (errors.get(key) ?? 0) + 1);
}

/** Throw on an SDK `{ error }` answer (the bare SDK does not throw on HTTP errors). */
function ok<T>(what: string, r: { data?: T; error?: unknown; response?: Response }): T {
  if (r.error !== undefined || (r.response && !r.response.ok)) {
    const e = r.error as { data?: { message?: string }; message?: string } | undefined;
    throw new Error(
      `${what}: HTTP ${r.response?.status ?? '?'} ${e?.data?.message ?? e?.message ?? JSON.stringify(r.error ?? '').slice(0, 200)}`,
    );
  }
  return r.data as T;
}

/**
 * The bare-SDK arm (bench/overhead uses it too): create a session, prompt, wait for idle
 * on one event subscription, read messages, delete — the calls the flow makes. Per-agent
 * failures are counted instead of failing the whole `Promise.all`; the stream is read
 * until OpenCode's `server.connected` before the first prompt (so no `session.idle` can
 * be missed; the flow's EventHub waits the same way); a deadline turns a never-seen idle
 * into a failure instead of a hang.
 */
export async function sdkBaseline(url: string, n: number, task: string, deadlineMs: number): Promise<ArmRun> {
  const t0 = performance.now();
  const c = createOpencodeClient({ baseUrl: url });
  const ac = new AbortController();
  const idle = new Map<string, () => void>();
  let connected!: () => void;
  const isConnected = new Promise<void>((r) => (connected = r));
  const sub = await c.event.subscribe({}, { signal: ac.signal });
  const pump = (async () => {
    try {
      for await (const e of sub.stream as AsyncIterable<Event>) {
        if (e.type === 'server.connected') connected();
        else if (e.type === 'session.idle') idle.get(e.properties.sessionID)?.();
      }
    } catch {
      /* aborted */
    }
  })();
  const errors = new Map<string, number>();
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no session.idle within ${deadlineMs} ms`)), deadlineMs);
  });
  deadline.catch(() => {});
  try {
    await Promise.race([isConnected, deadline]);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        let sessionID: string | undefined;
        try {
          const s = ok('session.create', await c.session.create({ title: `baseline-${i}` }));
          sessionID = s.id;
          const done = new Promise<void>((r) => idle.set(s.id, r));
          ok(
            'session.promptAsync',
            await c.session.promptAsync({
              sessionID: s.id,
              parts: [{ type: 'text', text: task }],
              model: { providerID: 'scripted', modelID: 'small' },
            }),
          );
          await Promise.race([done, deadline]);
          ok('session.messages', await c.session.messages({ sessionID: s.id }));
          ok('session.delete', await c.session.delete({ sessionID: s.id }));
        } catch (e) {
          failures++;
          tally(
            errors,
            e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` : String(e),
          );
          if (sessionID) await c.session.delete({ sessionID }).catch(() => {});
        }
      }),
    );
  } catch (e) {
    // Only the connect wait can land here.
    failures = n;
    tally(errors, `event stream: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    clearTimeout(timer);
    ac.abort();
    await pump;
  }
  return { ms: performance.now() - t0, failures, errors };
}

/** The flow arm: one `execute` over `bench-0..N-1`, failures read from the report. */
export async function viaFlow(flow: OpencodeFlow, n: number, task: string): Promise<ArmRun> {
  const t0 = performance.now();
  const agents = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const errors = new Map<string, number>();
  let failures = 0;
  try {
    const report = await flow.execute({ task, agents, mode: 'parallel', maxConcurrent: n });
    for (const r of report.results) {
      if (r.status === 'done') continue;
      failures++;
      tally(errors, r.error ?? 'failed (no error message)');
    }
    const missing = n - report.results.length;
    if (missing > 0) {
      failures += missing;
      errors.set(`no result (flow ${report.status}${report.reason ? `: ${report.reason}` : ''})`, missing);
    }
  } catch (e) {
    failures = n;
    tally(errors, `execute threw: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { ms: performance.now() - t0, failures, errors };
}

/**
 * CPU time (ms) of a process and its live descendants, from /proc; undefined where there
 * is no /proc. The box may be shared: CPU time says how much work an arm caused even when
 * the wall clock is stretched by other load.
 */
function treeCpuMs(rootPid: number | undefined): number | undefined {
  if (rootPid === undefined) return undefined;
  try {
    const stats = new Map<number, { ppid: number; ticks: number }>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const raw = readFileSync(`/proc/${d}/stat`, 'utf8');
        // Fields after the parenthesised command name: state ppid ... utime(14) stime(15).
        const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
        stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        /* exited meanwhile */
      }
    }
    if (!stats.has(rootPid)) return undefined;
    let ticks = 0;
    const todo = [rootPid];
    while (todo.length) {
      const pid = todo.pop()!;
      ticks += stats.get(pid)?.ticks ?? 0;
      for (const [child, s] of stats) if (s.ppid === pid) todo.push(child);
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * A full garbage collection, when it can be had (`--expose-gc` turned on at run time): each arm
 * starts with a clean heap and pays, inside its own figure, for the garbage it made, instead of
 * leaving it to be collected (and counted) in the next arm.
 */
const fullGc: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

/** Run an arm and add the CPU it cost here (its garbage collected included) and in the OpenCode server. */
async function measured(serverPid: number | undefined, run: () => Promise<ArmRun>): Promise<ArmRun> {
  fullGc?.();
  const cpu0 = process.cpuUsage();
  const srv0 = treeCpuMs(serverPid);
  const r = await run();
  fullGc?.();
  const cpu = process.cpuUsage(cpu0);
  const srv1 = treeCpuMs(serverPid);
  return {
    ...r,
    cpuMs: (cpu.user + cpu.system) / 1000,
    serverCpuMs: srv0 !== undefined && srv1 !== undefined ? srv1 - srv0 : undefined,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export interface ScaleRow {
  n: number;
  rounds: number;
  sdk: number;
  flow: number;
  ratio: number;
  sdkFailures: number[];
  flowFailures: number[];
  sdkErrors: Record<string, number>;
  flowErrors: Record<string, number>;
}

export async function main({
  sizes = [10, 50, 100],
  rounds = 3,
  budgetMs = 240_000,
  deadlineMs = 600_000,
  reply = { text: 'ok' },
}: {
  sizes?: number[];
  /** What the model answers every prompt (default `ok`, one chunk); `--chunks N` streams N tokens. */
  reply?: ScriptedReply;
  /** Rounds per N (each round runs both arms). */
  rounds?: number;
  /** Per N: start no further round once this much time went into it (at least one round runs). */
  budgetMs?: number;
  /** SDK arm: give up waiting for an agent's idle after this long (the flow's own prompt timeout is 10 min). */
  deadlineMs?: number;
} = {}): Promise<ScaleRow[]> {
  // The model runs in a child process, so this process's CPU is the client's alone.
  const llm = await startScriptedLLMProcess(reply);
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const flow = new OpencodeFlow({
    serverUrl: oc.url,
    model: 'scripted/small',
    maxConcurrent: Math.max(...sizes),
    memory: false,
    persist: false,
  });
  try {
    for (let i = 0; i < Math.max(...sizes); i++) await flow.spawn({ name: `bench-${i}`, agent: 'build' });
    // Warm-up: the first prompt in a directory boots OpenCode's instance.
    for (const w of [await sdkBaseline(oc.url, 2, 'warm up', deadlineMs), await viaFlow(flow, 2, 'warm up')]) {
      if (w.failures) throw new Error(`warm-up failed: ${[...w.errors.keys()].join('; ')}`);
    }
    console.log('bench/scale — N parallel agents on one OpenCode server, OpencodeFlow vs bare SDK, interleaved');
    console.log(
      `load average at start: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (wall times stretch with other load; the CPU lines do less)`,
    );
    console.log(
      '     N  rounds  sdk median ms  flow median ms  ratio (goal ≤ 1.1)  sdk fail/round  flow fail/round (goal 0)',
    );
    const out: ScaleRow[] = [];
    for (const n of sizes) {
      const sdk: ArmRun[] = [];
      const fl: ArmRun[] = [];
      const started = performance.now();
      for (let r = 0; r < rounds; r++) {
        if (r > 0 && performance.now() - started > budgetMs) break;
        const order = r % 2 === 0 ? (['sdk', 'flow'] as const) : (['flow', 'sdk'] as const);
        for (const which of order) {
          const task = `scale task n=${n} r=${r}`;
          if (which === 'sdk') sdk.push(await measured(oc.server.pid, () => sdkBaseline(oc.url, n, task, deadlineMs)));
          else fl.push(await measured(oc.server.pid, () => viaFlow(flow, n, task)));
        }
      }
      const merge = (runs: ArmRun[]) => {
        const m: Record<string, number> = {};
        for (const run of runs) for (const [k, v] of run.errors) m[k] = (m[k] ?? 0) + v;
        return m;
      };
      const row: ScaleRow = {
        n,
        rounds: sdk.length,
        sdk: median(sdk.map((x) => x.ms)),
        flow: median(fl.map((x) => x.ms)),
        ratio: median(fl.map((x) => x.ms)) / median(sdk.map((x) => x.ms)),
        sdkFailures: sdk.map((x) => x.failures),
        flowFailures: fl.map((x) => x.failures),
        sdkErrors: merge(sdk),
        flowErrors: merge(fl),
      };
      out.push(row);
      console.log(
        `${String(n).padStart(6)}  ${String(row.rounds).padStart(6)}  ${row.sdk.toFixed(0).padStart(13)}  ${row.flow.toFixed(0).padStart(14)}  ` +
          `${row.ratio.toFixed(3).padStart(18)}  ${row.sdkFailures.join('/').padStart(14)}  ${row.flowFailures.join('/').padStart(15)}` +
          (row.rounds < rounds
            ? `  (${row.rounds} of ${rounds} rounds: over the ${Math.round(budgetMs / 1000)} s budget)`
            : ''),
      );
      console.log(
        `        rounds ms  sdk ${sdk.map((x) => x.ms.toFixed(0)).join(', ')}  flow ${fl.map((x) => x.ms.toFixed(0)).join(', ')}`,
      );
      const cpu = (runs: ArmRun[], k: 'cpuMs' | 'serverCpuMs') => {
        const xs = runs.map((x) => x[k]).filter((v): v is number => v !== undefined);
        return xs.length === runs.length ? median(xs) : undefined;
      };
      const [sc, fc, ss, fs] = [cpu(sdk, 'cpuMs'), cpu(fl, 'cpuMs'), cpu(sdk, 'serverCpuMs'), cpu(fl, 'serverCpuMs')];
      if (sc !== undefined && fc !== undefined) {
        console.log(
          `        median CPU ms  bench process: sdk ${sc.toFixed(0)}, flow ${fc.toFixed(0)} (ratio ${(fc / sc).toFixed(3)}, goal ≤ 1.2)` +
            (ss !== undefined && fs !== undefined
              ? `;  opencode: sdk ${ss.toFixed(0)}, flow ${fs.toFixed(0)};  total ratio ${((fc + fs) / (sc + ss)).toFixed(3)}`
              : ''),
        );
      }
      for (const [arm, errs] of [
        ['sdk', row.sdkErrors],
        ['flow', row.flowErrors],
      ] as const) {
        for (const [msg, count] of Object.entries(errs)) console.log(`        ${arm} error ×${count}: ${msg}`);
      }
    }
    return out;
  } finally {
    await flow.shutdown();
    await oc.stop();
    await llm.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      sizes: { type: 'string' },
      'budget-s': { type: 'string' },
      chunks: { type: 'string' },
    },
  });
  main({
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.sizes ? { sizes: values.sizes.split(',').map(Number) } : {}),
    ...(values['budget-s'] ? { budgetMs: Number(values['budget-s']) * 1000 } : {}),
    ...(values.chunks ? { reply: { text: 'word '.repeat(Number(values.chunks)), chunks: Number(values.chunks) } } : {}),
  }).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
