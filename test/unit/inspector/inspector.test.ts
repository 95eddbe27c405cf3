import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { assign, createActor, sendParent, setup, type InspectionEvent } from 'xstate';
import { startFlowInspector, type FlowInspector } from '../../../src/inspector/inspector.js';

/** A real actor system: a parent spawns children that each send it many events. */
const child = setup({ types: { input: {} as { n: number } } }).createMachine({
  id: 'worker',
  context: ({ input }) => ({ n: input.n }),
  initial: 'working',
  states: {
    working: {
      always: [
        { guard: ({ context }) => context.n <= 0, target: 'done' },
        {
          actions: [sendParent({ type: 'tick' }), assign({ n: ({ context }) => context.n - 1 })],
          reenter: true,
          target: 'working',
        },
      ],
    },
    done: { type: 'final' },
  },
});
const parent = setup({ actors: { child } }).createMachine({
  id: 'supervisor',
  context: { ticks: 0 },
  invoke: [
    { id: 'agent-a', src: 'child', input: { n: 300 } },
    { id: 'agent-b', src: 'child', input: { n: 300 } },
  ],
  on: { tick: { actions: assign({ ticks: ({ context }) => context.ticks + 1 }) } },
});

interface Msg {
  type: string;
  name?: string;
  sessionId: string;
  rootId?: string;
}

async function readAll(
  url: string,
  headers: Record<string, string> = {},
  quietMs = 400,
  onOpen?: () => void,
): Promise<Msg[]> {
  return (await readTexts(url, headers, quietMs, onOpen)).map((t) => JSON.parse(t) as Msg);
}

async function readTexts(
  url: string,
  headers: Record<string, string> = {},
  quietMs = 400,
  onOpen?: () => void,
): Promise<string[]> {
  const ws = new WebSocket(url, { headers });
  if (onOpen) ws.on('open', onOpen);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(finish, quietMs * 3);
    function finish() {
      ws.close();
      resolve();
    }
    ws.on('message', (d) => {
      got.push(d.toString());
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    });
    ws.on('error', reject);
  });
  return got;
}

/**
 * The relay's `inspect`, counting the inspection events in flight: the relay sends each on
 * its own next macrotask (`setTimeout(…, 0)`), and a marker timer set after it fires after it,
 * so `relayed()` resolves once every event so far has gone out (no bet on a duration).
 */
function tracked(inspector: FlowInspector) {
  let inFlight = 0;
  return {
    inspect: {
      next(e: InspectionEvent) {
        inspector.inspect.next?.(e);
        inFlight++;
        setTimeout(() => inFlight--, 0);
      },
    },
    relayed: () => vi.waitFor(() => expect(inFlight).toBe(0), { timeout: 10_000, interval: 5 }),
  };
}

let inspector: FlowInspector | undefined;
afterEach(() => inspector?.stop());

describe('flow inspector relay', () => {
  it('replays a live run from its start to a viewer who connects after many events', async () => {
    inspector = await startFlowInspector();
    const relay = tracked(inspector);
    let early!: Promise<Msg[]>;
    // The viewer is connected before the run starts.
    await new Promise<void>((open) => (early = readAll(inspector!.wsUrl, {}, 1200, open)));
    const actor = createActor(parent, { id: 'flow_late', inspect: relay.inspect });
    actor.start();
    await vi.waitFor(() => expect(actor.getSnapshot().context.ticks).toBe(600), { interval: 5 });
    await relay.relayed();
    const live = await early;
    expect(live.length).toBeGreaterThan(1200); // far past the 200 the stock relay replays

    const late = await readAll(inspector.wsUrl);
    expect(late.length).toBe(live.length);
    // The very first messages are the supervisor coming to life, then its agents.
    expect(late[0]).toMatchObject({ type: '@xstate.actor', name: 'flow_late' });
    const names = late.filter((m) => m.type === '@xstate.actor').map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['flow_late', 'agent-a', 'agent-b']));
    expect(late.map((m) => `${m.type}:${m.sessionId}`)).toEqual(live.map((m) => `${m.type}:${m.sessionId}`));
    actor.stop();
  });

  it("drops a finished flow's history once newer flows have finished, and bounds a flow's bytes", async () => {
    inspector = await startFlowInspector({ history: { maxFinishedRoots: 1, maxBytesPerRoot: 64 * 1024 } });
    const relay = tracked(inspector);
    const first = createActor(parent, { id: 'flow_one', inspect: relay.inspect }).start();
    await vi.waitFor(() => expect(first.getSnapshot().context.ticks).toBe(600), { interval: 5 });
    first.stop();
    await relay.relayed();
    let names = (await readAll(inspector.wsUrl)).filter((m) => m.type === '@xstate.actor').map((m) => m.name);
    expect(names).toContain('flow_one'); // finished, but the most recent finished flow is kept

    const second = createActor(parent, { id: 'flow_two', inspect: relay.inspect }).start();
    await vi.waitFor(() => expect(second.getSnapshot().context.ticks).toBe(600), { interval: 5 });
    second.stop();
    await relay.relayed();
    const texts = await readTexts(inspector.wsUrl);
    const replay = texts.map((t) => JSON.parse(t) as Msg);
    names = replay.filter((m) => m.type === '@xstate.actor').map((m) => m.name);
    expect(names).not.toContain('flow_one');
    // flow_two passed 64 KiB (a run is about 1300 messages), so it was compacted to each
    // actor and its latest snapshot and kept under the cap; its actors are still there.
    expect(names).toEqual(expect.arrayContaining(['flow_two', 'agent-a', 'agent-b']));
    expect(texts.reduce((n, t) => n + t.length, 0)).toBeLessThanOrEqual(64 * 1024);
    expect(replay.length).toBeLessThan(600);
  });

  it('listens on 127.0.0.1 only and refuses pages of other origins', async () => {
    inspector = await startFlowInspector();
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inspector.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(inspector.url).port);
    const page = await fetch(inspector.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('stately.ai/inspect');

    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4');
    if (external) {
      await expect(fetch(`http://${external.address}:${port}/`)).rejects.toThrow();
    } else {
      console.warn('no non-loopback IPv4 interface here: the all-interfaces check is skipped');
    }

    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(inspector!.wsUrl, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => resolve(-1));
      });
    expect(await refused({ origin: 'https://evil.example' })).toBe(401);
    expect(await refused({ host: `evil.example:${port}` })).toBe(401);
    expect(await refused({ origin: 'http://localhost:9999' })).toBe(101);
    expect(await refused({})).toBe(101);
  });
});
