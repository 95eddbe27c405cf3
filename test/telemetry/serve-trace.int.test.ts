import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { childEnv, cliArgv, removeMemoryFiles, root } from '../cli/helpers.js';
import { printTree, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';
import { call, TOKEN, waitFor } from '../serve/helpers.js';

/** The runs' store: a temp dir, never the working tree. */
const STORE_DIR = join(tmpdir(), `ocf-trace-store-${process.pid}`);
const STORE = { OPENCODE_FLOW_STORE: `file:${STORE_DIR}` };
/**
 * `opencode-flow serve` as a process exporting to a loopback OTLP receiver: a `POST /flows`
 * sent with a `traceparent` runs as a continuation of the client's trace, and SIGTERM flushes
 * every span before the process exits.
 */

let llm: ScriptedLLM;
let oc: TestOpencode;
let otlp: OtlpReceiver;

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'served answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  otlp = await startOtlpReceiver();
});
afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await otlp?.close();
  await removeMemoryFiles();
  await rm(STORE_DIR, { recursive: true, force: true });
});

describe('serve continues a client trace', () => {
  it('POST /flows with traceparent: the run is a child of the client span; SIGTERM exports it', async () => {
    const child = spawn(
      process.execPath,
      cliArgv(['serve', '--port', '0', '--server', oc.url, '--model', 'scripted/small', '--token', TOKEN]),
      {
        cwd: root,
        env: childEnv({ ...STORE, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '60000' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | null>((r) => child.on('close', r));
    try {
      const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], {
        what: 'serve to listen',
        timeoutMs: 90_000,
      });
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const clientSpan = '00f067aa0ba902b7';
      const created = await call(url, 'POST', '/flows', {
        body: { task: 'SERVE-TRACE', agents: ['coder'] },
        headers: { traceparent: `00-${traceId}-${clientSpan}-01` },
      });
      expect(created.status, created.text).toBe(202);
      const id = (created.body as { id: string }).id;
      await waitFor(async () => (await call(url, 'GET', `/flows/${id}`)).body.status === 'completed', {
        what: 'the flow to complete',
        timeoutMs: 90_000,
      });
      child.kill('SIGTERM');
      expect(await exit, stderr).toBe(0);
      const wf = otlp.spans.find((s) => s.name === 'invoke_workflow parallel');
      expect(wf, printTree(otlp.spans)).toBeDefined();
      expect(wf!.traceId).toBe(traceId);
      expect(wf!.parentSpanId).toBe(clientSpan);
      expect(wf!.attributes['opencode_flow.flow.id']).toBe(id);
      const agent = otlp.spans.find((s) => s.name === 'invoke_agent coder');
      expect(agent?.parentSpanId).toBe(wf!.spanId);
      expect(otlp.spans.every((s) => s.traceId === traceId)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
