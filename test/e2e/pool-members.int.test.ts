import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * A pool is a pool: each member is connected on its own. With one member dead at the start the
 * run goes on the live one (it used to fail: "OpenCode server at … is not reachable"), and a
 * member that starts later joins the pool.
 */
let llm: ScriptedLLM;
let live: TestOpencode;
beforeAll(async () => {
  llm = await startScriptedLLM();
  live = await startTestOpencode({ baseURL: llm.baseURL });
});
afterAll(async () => {
  await live?.stop();
  await llm?.close();
});

/** A loopback port nothing listens on (taken, then let go). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('a pool with a dead member', () => {
  it('dead at the start: the flow runs on the live member, every agent done, the dead one not alive', async () => {
    llm.script({ match: { allText: 'DEAD-MEMBER-TASK' }, reply: { text: 'ok' } });
    const dead = `http://127.0.0.1:${await deadPort()}`;
    // The dead member first: the host's own calls go to the first live one.
    const flow = new OpencodeFlow({
      serverUrl: `${dead},${live.url}`,
      model: 'scripted/small',
      memory: false,
      persist: false,
    });
    try {
      const report = await flow.execute({
        task: 'DEAD-MEMBER-TASK',
        agents: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      });
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual([
        ['a', 'done', 'ok'],
        ['b', 'done', 'ok'],
        ['c', 'done', 'ok'],
      ]);
      expect(flow.serverUrl).toBe(live.url);
    } finally {
      await flow.shutdown();
    }
  });

  it('every member dead: a clear error naming the server', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const flow = new OpencodeFlow({ serverUrl: dead, model: 'scripted/small', memory: false, persist: false });
    await expect(flow.start()).rejects.toThrow(/not reachable/);
    await flow.shutdown();
  });
});
