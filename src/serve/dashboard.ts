/**
 * The live dashboard: one self-contained HTML page (inline CSS and JS, no CDN, no
 * framework). It lists the server's flows, and for each its agents' state and model,
 * tokens and cost per agent and per model, and totals, updated from each running flow's
 * SSE stream; running flows have a cancel button.
 *
 * The page itself is public, its data is not: API calls carry `Authorization: Bearer`.
 * The token comes from the login field or from the URL fragment (`/#token=…`, which
 * browsers never send to a server); the page keeps it in `sessionStorage` and removes it
 * from the address bar. Event streams are read with `fetch` (not `EventSource`, which
 * cannot send headers), so the token never appears in a URL.
 *
 * @example
 * ```ts
 * const nonce = randomBytes(16).toString('base64');
 * c.header('Content-Security-Policy', dashboardCsp(nonce));
 * return c.html(dashboardHtml(nonce));
 * ```
 */
export function dashboardHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>opencode-flow</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header>
  <h1>opencode-flow</h1>
  <div class="totals">
    <span>running <b id="running-count">0</b></span>
    <span>flows <b id="flow-count">0</b></span>
    <span>tokens <b id="total-tokens">0 / 0</b></span>
    <span>cost <b id="total-cost">$0</b></span>
  </div>
  <span id="conn" class="conn">connecting…</span>
</header>
<form id="login" class="login hidden" autocomplete="off">
  <label for="token">API token</label>
  <input id="token" type="password" placeholder="bearer token" spellcheck="false">
  <button type="submit">Use token</button>
  <span id="login-msg"></span>
</form>
<main id="flows"><p class="empty" id="empty">No flows yet. Start one with <code>POST /flows</code>.</p></main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

/**
 * The Content-Security-Policy of the dashboard: nothing but its own nonce'd script and
 * style, and requests to its own origin.
 *
 * @example
 * ```ts
 * dashboardCsp('abc'); // "default-src 'none'; script-src 'nonce-abc'; ..."
 * ```
 */
export function dashboardCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const STYLE = `
:root { --bg:#0f1115; --panel:#171a21; --line:#272b35; --text:#e6e8ee; --dim:#8b93a7; --ok:#3fb950; --bad:#f85149; --run:#58a6ff; --warn:#d29922; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; align-items:center; gap:24px; padding:14px 24px; border-bottom:1px solid var(--line); background:var(--panel); position:sticky; top:0; z-index:1; }
h1 { font-size:17px; margin:0; letter-spacing:.3px; }
.totals { display:flex; gap:18px; color:var(--dim); }
.totals b { color:var(--text); font-variant-numeric:tabular-nums; }
.conn { margin-left:auto; color:var(--dim); font-size:12px; }
.conn.ok { color:var(--ok); } .conn.bad { color:var(--bad); }
main { padding:20px 24px; display:flex; flex-direction:column; gap:18px; }
.empty { color:var(--dim); }
.hidden { display:none !important; }
.login { display:flex; gap:10px; align-items:center; padding:12px 24px; background:#1f1a10; border-bottom:1px solid var(--line); }
.login input { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:6px; padding:6px 10px; width:320px; }
button { background:#21262d; color:var(--text); border:1px solid #363b45; border-radius:6px; padding:5px 12px; cursor:pointer; font:inherit; }
button:hover { border-color:var(--dim); }
button.cancel { border-color:#6e2b2b; color:#ffb3ad; }
.request { margin:8px 0; padding:8px 10px; border:1px solid #8a6d1f; border-radius:6px; display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
.request-text { flex:1; }
button:disabled { opacity:.5; cursor:default; }
section.flow { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.flow-head { display:flex; align-items:center; gap:12px; flex-wrap:wrap; }
.flow-id { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; }
.task { color:var(--dim); flex:1 1 300px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.meta { color:var(--dim); font-size:12px; }
.flow-cost { font-weight:600; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; border:1px solid currentColor; }
.s-running,.s-prompting,.s-streaming,.s-spawning,.s-ready { color:var(--run); }
.s-done,.s-completed { color:var(--ok); }
.s-failed,.s-budget_exceeded { color:var(--bad); }
.s-cancelled,.s-fallback,.s-pending,.s-cleanup,.s-stopped { color:var(--warn); }
.s-pending { color:var(--dim); }
.reason { color:var(--bad); font-size:12px; margin-top:6px; }
table { width:100%; border-collapse:collapse; margin-top:10px; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:5px 8px; border-top:1px solid var(--line); vertical-align:top; }
th { color:var(--dim); font-weight:500; font-size:12px; }
td.num, th.num { text-align:right; }
td.out { color:var(--dim); font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; max-width:420px; white-space:pre-wrap; word-break:break-word; }
tr.total td { font-weight:600; }
.models { margin-top:6px; }
h3 { font-size:12px; color:var(--dim); font-weight:500; margin:12px 0 0; text-transform:uppercase; letter-spacing:.5px; }
`;

// Plain ES2020, no template literals: it lives inside a TypeScript template string.
const SCRIPT = `
(function () {
  'use strict';
  var TOKEN_KEY = 'opencode-flow-token';
  var token = sessionStorage.getItem(TOKEN_KEY) || '';
  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
  var flows = new Map();   // id -> flow state
  var streams = new Map(); // id -> AbortController
  var authFailed = false;
  var scheduled = false;

  function $(id) { return document.getElementById(id); }
  function usd(n) { n = n || 0; if (n === 0) return '$0'; if (n < 0.01) return '$' + n.toFixed(6); return '$' + n.toFixed(4); }
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'cls') e.className = attrs[k];
      else if (k === 'onclick') e.addEventListener('click', attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i] != null) e.appendChild(arguments[i]);
    return e;
  }
  function setConn(text, cls) { var c = $('conn'); c.textContent = text; c.className = 'conn ' + (cls || ''); }

  function api(path, init) {
    init = init || {};
    var headers = Object.assign({}, init.headers || {});
    if (token) headers.authorization = 'Bearer ' + token;
    return fetch(path, Object.assign({}, init, { headers: headers })).then(function (res) {
      if (res.status === 401) { showLogin('The server wants a valid token.'); throw new Error('unauthorized'); }
      return res;
    });
  }

  function showLogin(msg) {
    authFailed = true;
    $('login').classList.remove('hidden');
    $('login-msg').textContent = msg || '';
    setConn('not signed in', 'bad');
    streams.forEach(function (c) { c.abort(); });
    streams.clear();
  }
  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    authFailed = false;
    $('login').classList.add('hidden');
    refresh();
  });

  function newAgent(name) { return { agent: name, status: 'pending', state: 'pending', model: '', tokens: { input: 0, output: 0 }, cost: 0, output: '', fallbacks: 0, error: '' }; }
  function ensureFlow(s) {
    var f = flows.get(s.id);
    if (!f) {
      f = { id: s.id, status: s.status, task: s.task, mode: '', startedAt: s.startedAt, agents: new Map(), requests: new Map(), reason: '', cost: s.cost || 0, loaded: false };
      s.agents.forEach(function (a) { f.agents.set(a, newAgent(a)); });
      flows.set(s.id, f);
    }
    return f;
  }
  function fromReport(f, r) {
    f.status = r.status; f.mode = r.mode; f.reason = r.reason || ''; f.cost = r.cost.total;
    r.results.forEach(function (res) {
      var a = f.agents.get(res.agent) || newAgent(res.agent);
      a.status = res.status; a.state = res.status; a.model = res.model; a.tokens = res.tokens; a.cost = res.cost;
      a.output = (res.output || '').slice(-400); a.error = res.error || ''; a.fallbacks = Math.max(0, res.attempts.length - 1);
      f.agents.set(res.agent, a);
    });
    if (r.mode === 'hierarchical') f.agents.forEach(function (a, n) { if (a.status === 'pending') f.agents.delete(n); });
    f.agents.forEach(function (a) { if (a.status === 'pending' || a.status === 'running') { a.status = r.status === 'completed' ? a.status : 'cancelled'; } });
    f.loaded = true;
  }
  function apply(f, type, d) {
    var a = d.agent !== undefined ? (f.agents.get(d.agent) || newAgent(d.agent)) : null;
    if (a) f.agents.set(d.agent, a);
    switch (type) {
      case 'flow.started':
        f.mode = d.mode; f.task = d.task;
        // A hierarchical flow runs its agents per subtask (coder:s1), as they appear.
        if (d.mode === 'hierarchical') d.agents.forEach(function (n) { var x = f.agents.get(n); if (x && x.status === 'pending') f.agents.delete(n); });
        else d.agents.forEach(function (n) { if (!f.agents.has(n)) f.agents.set(n, newAgent(n)); });
        break;
      case 'agent.state':
        a.state = d.state; if (d.model) a.model = d.model;
        if (a.status === 'pending') a.status = 'running';
        break;
      case 'agent.delta':
        a.output = (a.output + d.text).slice(-400);
        break;
      case 'agent.fallback':
        a.model = d.to; a.fallbacks++;
        break;
      case 'agent.done':
      case 'agent.failed':
        a.status = type === 'agent.done' ? 'done' : 'failed';
        a.model = d.result.model || a.model; a.tokens = d.result.tokens; a.cost = d.result.cost;
        if (d.result.output) a.output = d.result.output.slice(-400);
        if (type === 'agent.failed') a.error = d.error;
        break;
      case 'agent.input_required':
        f.requests.set(d.request.id, { agent: d.agent, request: d.request });
        break;
      case 'agent.input_answered':
        f.requests.delete(d.record.request.id);
        break;
      case 'flow.done':
        f.requests.clear();
        fromReport(f, d);
        break;
    }
    if (type !== 'flow.done') {
      var total = 0; f.agents.forEach(function (x) { total += x.cost; }); f.cost = total;
    }
    schedule();
  }

  function stream(f) {
    if (streams.has(f.id) || authFailed) return;
    var ctl = new AbortController();
    streams.set(f.id, ctl);
    // The stream replays the flow from its start: rebuild the agents from it.
    f.agents.forEach(function (a, n) { f.agents.set(n, newAgent(n)); });
    f.requests.clear();
    api('/flows/' + encodeURIComponent(f.id) + '/events', { signal: ctl.signal, headers: { accept: 'text/event-stream' } })
      .then(function (res) {
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        var buf = '';
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) return;
            buf += r.value.replace(/\\r\\n/g, '\\n');
            var i;
            while ((i = buf.indexOf('\\n\\n')) >= 0) {
              var block = buf.slice(0, i); buf = buf.slice(i + 2);
              var type = 'message', data = [];
              block.split('\\n').forEach(function (line) {
                if (line.indexOf('event:') === 0) type = line.slice(6).trim();
                else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
              });
              if (data.length) { try { apply(f, type, JSON.parse(data.join('\\n'))); } catch (e) { console.error(e); } }
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function (e) { if (e.name !== 'AbortError') console.warn('stream', f.id, e.message); })
      .then(function () { streams.delete(f.id); });
  }

  function refresh() {
    if (authFailed) return;
    api('/flows').then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (body) {
      setConn('live', 'ok');
      var seen = new Set();
      body.flows.forEach(function (s) {
        seen.add(s.id);
        var f = ensureFlow(s);
        if (s.status === 'running') stream(f);
        else if (!f.loaded && !streams.has(f.id)) {
          f.loaded = true;
          api('/flows/' + encodeURIComponent(s.id)).then(function (r) { return r.json(); }).then(function (r) { fromReport(f, r); schedule(); });
        }
      });
      flows.forEach(function (_, id) { if (!seen.has(id)) { flows.delete(id); var c = streams.get(id); if (c) c.abort(); } });
      schedule();
    }).catch(function (e) { if (e.message !== 'unauthorized') setConn('offline: ' + e.message, 'bad'); });
  }

  function answer(f, rid, value, box) {
    box.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    api('/flows/' + encodeURIComponent(f.id) + '/requests/' + encodeURIComponent(rid), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ answer: value }),
    }).then(function (res) {
      if (res.status === 200 || res.status === 404) { f.requests.delete(rid); schedule(); }
      else box.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
    });
  }

  function renderRequest(f, rid, r) {
    var q = r.request;
    var text = q.kind === 'permission'
      ? r.agent + ' asks to use ' + q.permission + ': ' + (q.patterns || []).join(' ')
      : r.agent + ' asks: ' + q.questions.map(function (x) { return x.question; }).join(' / ');
    var box = el('div', { cls: 'request', 'data-request-id': rid }, el('span', { cls: 'request-text', text: text }));
    var choices = q.kind === 'permission'
      ? [['Allow once', 'once'], ['Allow always', 'always'], ['Reject', 'reject']]
      : (q.questions.length === 1 ? q.questions[0].options.map(function (o) { return [o.label, [[o.label]]]; }) : []).concat([['Reject', 'reject']]);
    choices.forEach(function (c) {
      var b = el('button', { type: 'button', cls: 'answer', text: c[0] });
      b.addEventListener('click', function () { answer(f, rid, c[1], box); });
      box.appendChild(b);
    });
    return box;
  }

  function cancelFlow(f, btn) {
    btn.disabled = true; btn.textContent = 'cancelling…';
    api('/flows/' + encodeURIComponent(f.id), { method: 'DELETE' }).then(function (res) {
      return res.json().then(function (body) { if (res.status === 200) { fromReport(f, body); schedule(); } });
    }).catch(function () { btn.disabled = false; btn.textContent = 'cancel'; });
  }

  function schedule() { if (!scheduled) { scheduled = true; requestAnimationFrame(render); } }

  function render() {
    scheduled = false;
    var list = Array.from(flows.values()).sort(function (a, b) {
      var ra = a.status === 'running' ? 1 : 0, rb = b.status === 'running' ? 1 : 0;
      if (ra !== rb) return rb - ra;
      return a.startedAt < b.startedAt ? 1 : -1;
    });
    var totalCost = 0, tin = 0, tout = 0, running = 0;
    var main = $('flows');
    var frag = document.createDocumentFragment();
    list.forEach(function (f) {
      if (f.status === 'running') running++;
      totalCost += f.cost;
      f.agents.forEach(function (a) { tin += a.tokens.input; tout += a.tokens.output; });
      frag.appendChild(renderFlow(f));
    });
    main.textContent = '';
    if (list.length === 0) main.appendChild(el('p', { cls: 'empty', id: 'empty', text: 'No flows yet. Start one with POST /flows.' }));
    main.appendChild(frag);
    $('running-count').textContent = String(running);
    $('flow-count').textContent = String(list.length);
    $('total-tokens').textContent = tin + ' / ' + tout;
    $('total-cost').textContent = usd(totalCost);
  }

  function renderFlow(f) {
    var head = el('div', { cls: 'flow-head' },
      el('span', { cls: 'badge flow-status s-' + f.status, text: f.status }),
      el('span', { cls: 'flow-id', text: f.id }),
      el('span', { cls: 'task', title: f.task, text: f.task }),
      el('span', { cls: 'meta', text: (f.mode || '') + ' · ' + new Date(f.startedAt).toLocaleTimeString() }),
      el('span', { cls: 'flow-cost', text: usd(f.cost) }));
    if (f.status === 'running') {
      var btn = el('button', { cls: 'cancel', type: 'button', text: 'cancel' });
      btn.addEventListener('click', function () { cancelFlow(f, btn); });
      head.appendChild(btn);
    }
    var rows = el('tbody');
    var byModel = new Map();
    var fin = 0, fout = 0;
    f.agents.forEach(function (a) {
      fin += a.tokens.input; fout += a.tokens.output;
      var mk = a.model || 'default';
      var bm = byModel.get(mk) || { agents: 0, input: 0, output: 0, cost: 0 };
      bm.agents++; bm.input += a.tokens.input; bm.output += a.tokens.output; bm.cost += a.cost;
      byModel.set(mk, bm);
      var shown = (a.status === 'done' || a.status === 'failed' || a.status === 'cancelled') ? a.status : a.state;
      rows.appendChild(el('tr', { 'data-agent': a.agent },
        el('td', { cls: 'agent-name', text: a.agent }),
        el('td', null, el('span', { cls: 'badge agent-state s-' + shown, text: shown })),
        el('td', { cls: 'agent-model', text: (a.model || 'default') + (a.fallbacks ? ' (' + a.fallbacks + ' fallback' + (a.fallbacks > 1 ? 's' : '') + ')' : '') }),
        el('td', { cls: 'num', text: String(a.tokens.input) }),
        el('td', { cls: 'num', text: String(a.tokens.output) }),
        el('td', { cls: 'num agent-cost', text: usd(a.cost) }),
        el('td', { cls: 'out', text: a.error ? 'error: ' + a.error : a.output.slice(-160) })));
    });
    rows.appendChild(el('tr', { cls: 'total' },
      el('td', { text: 'total' }), el('td'), el('td'),
      el('td', { cls: 'num', text: String(fin) }), el('td', { cls: 'num', text: String(fout) }),
      el('td', { cls: 'num', text: usd(f.cost) }), el('td')));
    var agents = el('table', { cls: 'agents' },
      el('thead', null, el('tr', null, el('th', { text: 'agent' }), el('th', { text: 'state' }), el('th', { text: 'model' }),
        el('th', { cls: 'num', text: 'tokens in' }), el('th', { cls: 'num', text: 'tokens out' }), el('th', { cls: 'num', text: 'cost' }), el('th', { text: 'output' }))),
      rows);
    var mrows = el('tbody');
    byModel.forEach(function (bm, model) {
      mrows.appendChild(el('tr', { 'data-model': model },
        el('td', { text: model }), el('td', { cls: 'num', text: String(bm.agents) }),
        el('td', { cls: 'num', text: String(bm.input) }), el('td', { cls: 'num', text: String(bm.output) }),
        el('td', { cls: 'num model-cost', text: usd(bm.cost) })));
    });
    var models = el('table', { cls: 'models' },
      el('thead', null, el('tr', null, el('th', { text: 'model' }), el('th', { cls: 'num', text: 'agents' }),
        el('th', { cls: 'num', text: 'tokens in' }), el('th', { cls: 'num', text: 'tokens out' }), el('th', { cls: 'num', text: 'cost' }))),
      mrows);
    var sec = el('section', { cls: 'flow', 'data-flow-id': f.id, 'data-status': f.status }, head);
    f.requests.forEach(function (r, rid) { sec.appendChild(renderRequest(f, rid, r)); });
    sec.appendChild(agents); sec.appendChild(el('h3', { text: 'by model' })); sec.appendChild(models);
    if (f.reason) sec.appendChild(el('div', { cls: 'reason', text: f.reason }));
    return sec;
  }

  refresh();
  setInterval(refresh, 2000);
})();
`;
