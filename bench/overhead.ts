/**
 * bench/overhead: N agents × 1 prompt through OpencodeFlow versus a hand-written
 * @opencode-ai/sdk script making the same calls (create session, prompt, wait for idle,
 * read messages, delete), on the same real OpenCode server and scripted LLM with no
 * added latency. Runs are interleaved so machine noise hits both sides alike. A third arm
 * runs the same flow with persistence off (`persist: false`), so the share of the flow's
 * default run-state saves shows beside the rest of its work. A fourth arm runs the first
 * flow with a tracer provider registered (the OpenTelemetry SDK's batch processor and OTLP
 * protobuf exporter, to a loopback sink that only counts requests): the cost of tracing,
 * against the same flow untraced (no provider: the library's default).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpencodeFlow } from '../src/flow/index.js';
import { startScriptedLLM, startTestOpencode } from '../src/testing/index.js';
import { sdkBaseline as sdkArm } from './scale.js';

/** The bare-SDK arm (shared with bench/scale): same calls as the flow makes. */
async function sdkBaseline(url: string, n: number, task: string): Promise<void> {
  const run = await sdkArm(url, n, task, 600_000);
  if (run.failures > 0)
    throw new Error(`bare SDK arm: ${run.failures} agent(s) failed: ${[...run.errors.keys()].join('; ')}`);
}

async function viaFlow(flow: OpencodeFlow, n: number, task: string): Promise<void> {
  const agents = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const report = await flow.execute({ task, agents, mode: 'parallel', maxConcurrent: n });
  if (report.status !== 'completed')
    throw new Error(`flow ${report.status}: ${report.results.find((r) => r.error)?.error}`);
}

/** An OTLP/HTTP sink on loopback: answers 200 and counts what it got, decoding nothing. */
async function otlpSink(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => n,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function main({ rounds = 5, sizes = [1, 20] }: { rounds?: number; sizes?: number[] } = {}) {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const options = { serverUrl: oc.url, model: 'scripted/small', maxConcurrent: 100, memory: false } as const;
  const flow = new OpencodeFlow(options);
  const unsaved = new OpencodeFlow({ ...options, persist: false });
  const sink = await otlpSink();
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${sink.url}/v1/traces` }))],
  });
  /** Tracing on (the provider registered globally) or off (none: the API's no-op). */
  const tracing = (on: boolean) => {
    trace.disable();
    if (on) trace.setGlobalTracerProvider(provider);
  };
  try {
    for (const f of [flow, unsaved])
      for (let i = 0; i < Math.max(...sizes); i++) await f.spawn({ name: `bench-${i}`, agent: 'build' });
    // Warm-up: the first prompt in a directory boots OpenCode's instance.
    await sdkBaseline(oc.url, 2, 'warm up');
    await viaFlow(flow, 2, 'warm up');
    await viaFlow(unsaved, 2, 'warm up');
    console.log('bench/overhead — OpencodeFlow vs bare SDK, same server, interleaved');
    tracing(true);
    await viaFlow(flow, 2, 'warm up');
    await provider.forceFlush();
    tracing(false);
    console.log(
      'agents  rounds  sdk median ms  flow median ms  ratio (goal ≤ 1.05)  flow, persist off ms  ratio  flow, traced ms  traced/untraced',
    );
    const out: Array<{
      n: number;
      sdk: number;
      flow: number;
      ratio: number;
      unsaved: number;
      unsavedRatio: number;
      traced: number;
      tracedRatio: number;
      cpuUntraced: number;
      cpuTraced: number;
    }> = [];
    const arms = ['sdk', 'flow', 'unsaved', 'traced'] as const;
    for (const n of sizes) {
      const ms: Record<(typeof arms)[number], number[]> = { sdk: [], flow: [], unsaved: [], traced: [] };
      // This process's CPU (user + system) per run: what tracing adds to the flow's own work,
      // steadier than wall time on a busy machine.
      const cpu: Record<(typeof arms)[number], number[]> = { sdk: [], flow: [], unsaved: [], traced: [] };
      for (let r = 0; r < rounds; r++) {
        // Each arm takes each place in the order in turn.
        const order = arms.map((_, i) => arms[(i + r) % arms.length]!);
        for (const which of order) {
          if (which === 'traced') tracing(true);
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          if (which === 'sdk') await sdkBaseline(oc.url, n, `bench task ${r}`);
          else await viaFlow(which === 'unsaved' ? unsaved : flow, n, `bench task ${r}`);
          ms[which].push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu[which].push((c.user + c.system) / 1000);
          if (which === 'traced') {
            // The batch goes out after the timing (as it would in the background), before the next arm.
            await provider.forceFlush();
            tracing(false);
          }
        }
      }
      const [sdk, fl, un, tr] = [median(ms.sdk), median(ms.flow), median(ms.unsaved), median(ms.traced)];
      const row = {
        n,
        sdk,
        flow: fl,
        ratio: fl / sdk,
        unsaved: un,
        unsavedRatio: un / sdk,
        traced: tr,
        tracedRatio: tr / fl,
        cpuUntraced: median(cpu.flow),
        cpuTraced: median(cpu.traced),
      };
      out.push(row);
      console.log(
        `${String(n).padStart(6)}  ${String(rounds).padStart(6)}  ${sdk.toFixed(0).padStart(13)}  ${fl.toFixed(0).padStart(14)}  ${row.ratio.toFixed(3).padStart(18)}  ${un.toFixed(0).padStart(20)}  ${row.unsavedRatio.toFixed(3).padStart(5)}  ${tr.toFixed(0).padStart(15)}  ${row.tracedRatio.toFixed(3)}`,
      );
    }
    for (const r of out)
      console.log(
        `${r.n} agents: this process's CPU per flow, untraced ${r.cpuUntraced.toFixed(0)} ms, traced ${r.cpuTraced.toFixed(0)} ms (ratio ${(r.cpuTraced / r.cpuUntraced).toFixed(3)}; export after the timing)`,
      );
    console.log(`(the traced arm exported ${sink.requests()} OTLP requests)`);
    return out;
  } finally {
    trace.disable();
    await provider.shutdown();
    await sink.close();
    await unsaved.shutdown();
    await flow.shutdown();
    await oc.stop();
    await llm.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
