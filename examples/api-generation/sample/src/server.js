import { createServer } from 'node:http';
import { TodoStore } from './todos.js';

/**
 * A tiny HTTP service. It has a health check; the todos API is what the flow adds.
 * @param {TodoStore} store
 */
export function createApp(store = new TodoStore()) {
  return createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, todos: store.size }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 3000);
  createApp().listen(port, () => console.log(`listening on http://127.0.0.1:${port}`));
}
