import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpencodeServer } from '../../../src/opencode/server.js';
import { isolatedOpencodeEnv } from '../../../src/testing/index.js';

/** The real binary, started on a port somebody else already holds. */
let holder: Server;
let port: number;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'opencode-flow-port-'));
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  port = (holder.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => holder.close(r));
  await rm(root, { recursive: true, force: true });
});

describe('startOpencodeServer on a taken port', () => {
  it('names the port in use instead of a bare ServeError', async () => {
    const start = startOpencodeServer({ port, cwd: root, env: isolatedOpencodeEnv(join(root, 'home')) });
    await expect(start).rejects.toThrow(`OpenCode could not listen on 127.0.0.1:${port}: the port is in use`);
  });
});
