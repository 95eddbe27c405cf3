import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { createApp } from '../src/server.js';

test('GET /health answers ok', async () => {
  const server = createApp().listen(0);
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, todos: 0 });
  server.close();
});
