/**
 * The live dashboard: one self-contained HTML page (inline CSS and JS, no CDN, no
 * framework). It lists the server's flows, and for each its agents' state and model,
 * tokens (in/out) and cost per agent and per model, and totals, updated from each running
 * flow's SSE stream; running flows have a cancel button. Where the money goes is drawn as
 * inline SVG: cost over the run stacked by model, cost per agent coloured by its model,
 * and a budget meter when the flow has a cap. Pending agents show the model the request
 * gave them (`flow.plan`). The layout holds from 320 px phones to desktops (the agents
 * table turns into one block per agent below 640 px).
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
    <span>tokens in <b id="total-tokens-in">0</b></span>
    <span>out <b id="total-tokens-out">0</b></span>
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
html { -webkit-text-size-adjust:100%; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; flex-wrap:wrap; align-items:center; gap:8px 24px; padding:14px 24px; border-bottom:1px solid var(--line); background:var(--panel); position:sticky; top:0; z-index:1; }
h1 { font-size:17px; margin:0; letter-spacing:.3px; }
.totals { display:flex; flex-wrap:wrap; gap:4px 18px; color:var(--dim); }
.totals b { color:var(--text); font-variant-numeric:tabular-nums; }
.conn { margin-left:auto; color:var(--dim); font-size:12px; }
.conn.ok { color:var(--ok); } .conn.bad { color:var(--bad); }
main { padding:20px 24px; display:flex; flex-direction:column; gap:18px; max-width:1400px; }
.empty { color:var(--dim); }
.hidden { display:none !important; }
.login { display:flex; flex-wrap:wrap; gap:10px; align-items:center; padding:12px 24px; background:#1f1a10; border-bottom:1px solid var(--line); }
.login input { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:6px; padding:6px 10px; width:320px; max-width:100%; }
button { background:#21262d; color:var(--text); border:1px solid #363b45; border-radius:6px; padding:5px 12px; cursor:pointer; font:inherit; }
button:hover { border-color:var(--dim); }
button.cancel { border-color:#6e2b2b; color:#ffb3ad; }
.request { margin:8px 0; padding:8px 10px; border:1px solid #8a6d1f; border-radius:6px; display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
.request-text { flex:1 1 200px; min-width:0; overflow-wrap:anywhere; }
button:disabled { opacity:.5; cursor:default; }
section.flow { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
.flow-head { display:flex; align-items:center; gap:8px 12px; flex-wrap:wrap; }
.flow-id { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; overflow-wrap:anywhere; }
.task { color:var(--dim); flex:1 1 300px; min-width:0; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.meta { color:var(--dim); font-size:12px; }
.flow-cost { font-weight:600; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; border:1px solid currentColor; white-space:nowrap; }
.s-running,.s-prompting,.s-streaming,.s-spawning,.s-ready,.s-awaitingInput,.s-queued { color:var(--run); }
.s-done,.s-completed { color:var(--ok); }
.s-failed,.s-budget_exceeded { color:var(--bad); }
.s-cancelled,.s-fallback,.s-pending,.s-cleanup,.s-stopped,.s-waitingForSlot { color:var(--warn); }
.s-pending { color:var(--dim); }
.reason { color:var(--bad); font-size:12px; margin-top:6px; overflow-wrap:anywhere; }
.unsaved { color:var(--bad); border:1px solid var(--bad); border-radius:6px; padding:6px 10px; margin-top:8px; font-size:13px; overflow-wrap:anywhere; }
table { width:100%; border-collapse:collapse; margin-top:10px; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:5px 8px; border-top:1px solid var(--line); vertical-align:top; overflow-wrap:anywhere; }
th { color:var(--dim); font-weight:500; font-size:12px; }
td.num, th.num { text-align:right; white-space:nowrap; }
td.out { color:var(--dim); font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; max-width:420px; white-space:pre-wrap; word-break:break-word; }
td.agent-model.unknown { color:var(--dim); }
tr.total td { font-weight:600; }
.models { margin-top:6px; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:baseline; }
h3 { font-size:12px; color:var(--dim); font-weight:500; margin:14px 0 0; text-transform:uppercase; letter-spacing:.5px; }
.money { display:grid; grid-template-columns:minmax(0,3fr) minmax(0,2fr); gap:6px 24px; align-items:start; }
.money > div { min-width:0; }
.money svg.cost-chart, .money svg.agent-bars { display:block; width:100%; height:auto; margin-top:6px; overflow:visible; }
.money svg text { fill:var(--dim); font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
.money svg text.value { fill:var(--text); font-variant-numeric:tabular-nums; }
.money svg .grid { stroke:var(--line); stroke-width:1; }
.money svg .cap { stroke:var(--bad); stroke-width:1; stroke-dasharray:4 3; }
svg.timeline { display:block; width:100%; height:auto; margin-top:6px; overflow:visible; }
svg.timeline text { fill:var(--dim); font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
svg.timeline .grid { stroke:var(--line); stroke-width:1; }
svg.timeline .tool { fill:var(--text); opacity:.85; }
svg.timeline .tool.failed, svg.timeline .fallback { fill:var(--bad); }
.budget { margin-top:10px; display:flex; flex-wrap:wrap; align-items:center; gap:4px 12px; }
.budget meter { flex:1 1 220px; min-width:0; height:10px; }
.budget meter::-webkit-meter-bar { background:var(--line); border:0; border-radius:5px; height:10px; }
.budget meter::-webkit-meter-optimum-value { background:var(--ok); border-radius:5px; }
.budget meter::-webkit-meter-suboptimum-value { background:var(--warn); border-radius:5px; }
.budget meter::-webkit-meter-even-less-good-value { background:var(--bad); border-radius:5px; }
.budget meter::-moz-meter-bar { background:var(--ok); border-radius:5px; }
.budget-text { font-variant-numeric:tabular-nums; font-size:13px; }
.budget-text.over { color:var(--bad); }
.legend { display:flex; flex-wrap:wrap; gap:2px 16px; margin-top:4px; font-size:12px; color:var(--dim); }
.legend-item { overflow-wrap:anywhere; }
.legend b { color:var(--text); font-weight:500; font-variant-numeric:tabular-nums; }
@media (max-width: 720px) {
  .money { grid-template-columns:minmax(0,1fr); }
}
@media (max-width: 640px) {
  header { padding:10px 12px; gap:4px 14px; }
  .totals { order:3; flex-basis:100%; }
  .login { padding:10px 12px; }
  .login input { width:100%; }
  main { padding:12px; gap:12px; }
  section.flow { padding:12px; }
  .task { flex-basis:100%; white-space:normal; overflow-wrap:anywhere; }
  /* The agents table becomes one block per agent: name and state, model, in/out/cost, output. */
  table.agents thead { display:none; }
  table.agents, table.agents tbody { display:block; }
  table.agents tr { display:grid; grid-template-columns:repeat(3, minmax(0,1fr)); gap:2px 10px; padding:8px 0; border-top:1px solid var(--line); }
  table.agents td { display:block; border:0; padding:0; text-align:left; }
  table.agents td:empty { display:none; }
  table.agents td.agent-name { grid-column:1 / 3; font-weight:600; overflow-wrap:anywhere; }
  table.agents td.agent-state-cell { grid-column:3; justify-self:end; }
  table.agents td.agent-model { grid-column:1 / -1; }
  table.agents td.out { grid-column:1 / -1; max-width:none; }
  table.agents tr.total td:first-child { grid-column:1 / -1; }
  /* The models table likewise: the model's name, then in/out/cost. */
  table.models thead { display:none; }
  table.models, table.models tbody { display:block; }
  table.models tr { display:grid; grid-template-columns:repeat(3, minmax(0,1fr)); gap:2px 10px; padding:8px 0; border-top:1px solid var(--line); }
  table.models td { display:block; border:0; padding:0; text-align:left; }
  table.models td.model-name { grid-column:1 / -1; }
  table.models td.agents-count { display:none; }
  table td[data-label]::before { content:attr(data-label); display:block; color:var(--dim); font-size:11px; font-weight:400; }
}
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
  // Machine state and flow status names as a person reads them (the raw name stays in the class and title).
  var STATE_LABELS = {
    pending: 'not started', spawning: 'opening session', ready: 'ready', prompting: 'prompting',
    streaming: 'streaming', awaitingInput: 'waiting for input', fallback: 'switching model',
    cleanup: 'cleaning up', stopped: 'stopped', waitingForSlot: 'waiting for a slot', done: 'done', failed: 'failed', cancelled: 'cancelled',
    queued: 'queued', running: 'running', completed: 'completed', budget_exceeded: 'over budget'
  };
  function stateLabel(s) { return Object.prototype.hasOwnProperty.call(STATE_LABELS, s) ? STATE_LABELS[s] : String(s).replace(/_/g, ' '); }
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
  var PALETTE = ['#58a6ff', '#3fb950', '#d29922', '#bc8cff', '#f778ba', '#39c5cf', '#ff7b72', '#a5d6ff'];
  var SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    if (attrs) for (var k in attrs) { if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, String(attrs[k])); }
    for (var i = 2; i < arguments.length; i++) if (arguments[i] != null) e.appendChild(arguments[i]);
    return e;
  }
  function modelColor(f, model) {
    if (!f.colors.has(model)) f.colors.set(model, PALETTE[f.colors.size % PALETTE.length]);
    return f.colors.get(model);
  }
  function seconds(ms) { var s = Math.round(ms / 1000); if (s < 60) return s + 's'; return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : ''); }
  // Axis labels: two significant figures ($0.0051), the full figure is in the tooltip.
  function shortUsd(n) { if (n === 0) return '$0'; if (n >= 1) return '$' + n.toFixed(2); return '$' + Number(n.toPrecision(2)); }
  function swatch(color) { return svg('svg', { 'class': 'swatch', width: 10, height: 10, viewBox: '0 0 10 10', 'aria-hidden': 'true' }, svg('rect', { width: 10, height: 10, rx: 2, fill: color })); }
  function fit(text, chars) { return text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + '…' : text; }
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

  // The model the request gave an agent (a hierarchical subtask coder:s1 runs on coder's).
  function planned(f, name) { return f.plan[name] || f.plan[name.replace(/:[^:]*$/, '')] || ''; }
  function newAgent(name, f) { return { agent: name, status: 'pending', state: 'pending', model: f ? planned(f, name) : '', tokens: { input: 0, output: 0 }, cost: 0, output: '', fallbacks: 0, error: '', startedAt: 0, finishedAt: 0, seenAt: 0, tools: [], marks: [] }; }
  function ensureFlow(s) {
    var f = flows.get(s.id);
    if (!f) {
      f = { id: s.id, status: s.status, task: s.task, mode: '', startedAt: s.startedAt, finishedAt: 0, agents: new Map(), requests: new Map(), reason: '', cost: s.cost || 0, maxCost: 0, plan: {}, colors: new Map(), loaded: false };
      s.agents.forEach(function (a) { f.agents.set(a, newAgent(a, f)); });
      flows.set(s.id, f);
    }
    if (s.maxCost) f.maxCost = s.maxCost;
    if (s.finishedAt) f.finishedAt = Date.parse(s.finishedAt);
    return f;
  }
  function fromReport(f, r) {
    f.status = r.status; f.mode = r.mode; f.reason = r.reason || ''; f.cost = r.cost.total;
    if (r.unsaved) f.unsaved = r.unsaved;
    r.results.forEach(function (res) {
      var a = f.agents.get(res.agent) || newAgent(res.agent, f);
      a.status = res.status; a.state = res.status; a.model = res.model; a.tokens = res.tokens; a.cost = res.cost;
      a.startedAt = res.startedAt || 0; a.finishedAt = res.finishedAt || 0;
      a.output = (res.output || '').slice(-400); a.error = res.error || ''; a.fallbacks = Math.max(0, res.attempts.length - 1);
      f.agents.set(res.agent, a);
    });
    if (r.mode === 'hierarchical') f.agents.forEach(function (a, n) { if (a.status === 'pending') f.agents.delete(n); });
    f.agents.forEach(function (a) { if (a.status === 'pending' || a.status === 'running') { a.status = r.status === 'completed' ? a.status : 'cancelled'; } });
    if (!f.finishedAt && r.durationMs >= 0) f.finishedAt = Date.parse(f.startedAt) + r.durationMs;
    f.loaded = true;
  }
  function apply(f, type, d) {
    var a = d.agent !== undefined ? (f.agents.get(d.agent) || newAgent(d.agent, f)) : null;
    if (a) f.agents.set(d.agent, a);
    switch (type) {
      case 'flow.started':
        f.mode = d.mode; f.task = d.task;
        // A hierarchical flow runs its agents per subtask (coder:s1), as they appear.
        if (d.mode === 'hierarchical') d.agents.forEach(function (n) { var x = f.agents.get(n); if (x && x.status === 'pending') f.agents.delete(n); });
        else d.agents.forEach(function (n) { if (!f.agents.has(n)) f.agents.set(n, newAgent(n, f)); });
        break;
      case 'flow.plan':
        f.plan = d.models || {};
        if (d.maxCost) f.maxCost = d.maxCost;
        f.agents.forEach(function (x, n) { if (!x.model) x.model = planned(f, n); });
        break;
      case 'agent.state':
        a.state = d.state; if (d.model) a.model = d.model;
        if (!a.seenAt) a.seenAt = Date.now();
        if (a.status === 'pending') a.status = 'running';
        break;
      case 'agent.delta':
        a.output = (a.output + d.text).slice(-400);
        break;
      case 'agent.queued':
        // Held back by the host's concurrency caps (or a provider's cooldown) until a slot frees.
        a.state = 'waitingForSlot'; if (d.model) a.model = d.model;
        if (!a.seenAt) a.seenAt = Date.now();
        if (a.status === 'pending') a.status = 'running';
        break;
      case 'agent.fallback':
        a.model = d.to; a.fallbacks++;
        a.marks.push({ at: Date.now(), from: d.from, to: d.to });
        break;
      case 'agent.tool':
        // The timeline's tool calls: the same tool events the trace's execute_tool spans end on.
        if (d.status === 'running') a.tools.push({ tool: d.tool, start: Date.now(), end: 0, status: 'running' });
        else if (d.status === 'completed' || d.status === 'error') {
          var open = null;
          for (var ti = a.tools.length - 1; ti >= 0; ti--) if (a.tools[ti].tool === d.tool && !a.tools[ti].end) { open = a.tools[ti]; break; }
          if (!open) { open = { tool: d.tool, start: Date.now(), end: 0, status: '' }; a.tools.push(open); }
          open.end = Date.now(); open.status = d.status;
        }
        break;
      case 'agent.done':
      case 'agent.failed':
        a.status = type === 'agent.done' ? 'done' : 'failed';
        a.model = d.result.model || a.model; a.tokens = d.result.tokens; a.cost = d.result.cost;
        a.startedAt = d.result.startedAt || 0; a.finishedAt = d.result.finishedAt || 0;
        if (d.result.output) a.output = d.result.output.slice(-400);
        if (type === 'agent.failed') a.error = d.error;
        break;
      case 'agent.input_required':
        f.requests.set(d.request.id, { agent: d.agent, request: d.request });
        break;
      case 'agent.input_answered':
        f.requests.delete(d.record.request.id);
        break;
      case 'flow.persist_error':
        f.unsaved = { failures: d.failures, error: d.error, store: d.store };
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
    f.agents.forEach(function (a, n) { f.agents.set(n, newAgent(n, f)); });
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
    $('total-tokens-in').textContent = String(tin);
    $('total-tokens-out').textContent = String(tout);
    $('total-cost').textContent = usd(totalCost);
  }

  function renderFlow(f) {
    var head = el('div', { cls: 'flow-head' },
      el('span', { cls: 'badge flow-status s-' + f.status, title: f.status, text: stateLabel(f.status) }),
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
      var known = a.model || a.status !== 'pending';
      var bm = byModel.get(mk) || { agents: 0, input: 0, output: 0, cost: 0 };
      bm.agents++; bm.input += a.tokens.input; bm.output += a.tokens.output; bm.cost += a.cost;
      byModel.set(mk, bm);
      var shown = (a.status === 'done' || a.status === 'failed' || a.status === 'cancelled') ? a.status : a.state;
      rows.appendChild(el('tr', { 'data-agent': a.agent },
        el('td', { cls: 'agent-name', text: a.agent }),
        el('td', { cls: 'agent-state-cell' }, el('span', { cls: 'badge agent-state s-' + shown, title: shown, text: stateLabel(shown) })),
        known
          ? el('td', { cls: 'agent-model', text: (a.model || 'default') + (a.fallbacks ? ' (' + a.fallbacks + ' fallback' + (a.fallbacks > 1 ? 's' : '') + ')' : '') })
          : el('td', { cls: 'agent-model unknown', title: 'picked by the router (or the OpenCode default) when the agent starts', text: 'chosen at start' }),
        el('td', { cls: 'num', 'data-label': 'tokens in', text: String(a.tokens.input) }),
        el('td', { cls: 'num', 'data-label': 'tokens out', text: String(a.tokens.output) }),
        el('td', { cls: 'num agent-cost', 'data-label': 'cost', text: usd(a.cost) }),
        el('td', { cls: 'out', text: a.error ? 'error: ' + a.error : a.output.slice(-160) })));
    });
    rows.appendChild(el('tr', { cls: 'total' },
      el('td', { text: 'total' }), el('td'), el('td'),
      el('td', { cls: 'num', 'data-label': 'tokens in', text: String(fin) }), el('td', { cls: 'num', 'data-label': 'tokens out', text: String(fout) }),
      el('td', { cls: 'num', 'data-label': 'cost', text: usd(f.cost) }), el('td')));
    var agents = el('table', { cls: 'agents' },
      el('thead', null, el('tr', null, el('th', { text: 'agent' }), el('th', { text: 'state' }), el('th', { text: 'model' }),
        el('th', { cls: 'num', text: 'tokens in' }), el('th', { cls: 'num', text: 'tokens out' }), el('th', { cls: 'num', text: 'cost' }), el('th', { text: 'output' }))),
      rows);
    var mrows = el('tbody');
    byModel.forEach(function (bm, model) {
      mrows.appendChild(el('tr', { 'data-model': model },
        el('td', { cls: 'model-name' }, swatch(modelColor(f, model)), document.createTextNode(model)),
        el('td', { cls: 'num agents-count', text: String(bm.agents) }),
        el('td', { cls: 'num', 'data-label': 'tokens in', text: String(bm.input) }), el('td', { cls: 'num', 'data-label': 'tokens out', text: String(bm.output) }),
        el('td', { cls: 'num model-cost', 'data-label': 'cost', text: usd(bm.cost) })));
    });
    var models = el('table', { cls: 'models' },
      el('thead', null, el('tr', null, el('th', { text: 'model' }), el('th', { cls: 'num agents-count', text: 'agents' }),
        el('th', { cls: 'num', text: 'tokens in' }), el('th', { cls: 'num', text: 'tokens out' }), el('th', { cls: 'num', text: 'cost' }))),
      mrows);
    var sec = el('section', { cls: 'flow', 'data-flow-id': f.id, 'data-status': f.status }, head, budget(f), unsaved(f));
    f.requests.forEach(function (r, rid) { sec.appendChild(renderRequest(f, rid, r)); });
    sec.appendChild(agents);
    var w = contentWidth(), wide = window.innerWidth > 720;
    sec.appendChild(el('div', { cls: 'money' },
      el('div', { cls: 'money-chart' }, el('h3', { text: 'cost over the run, by model' }), costChart(f, wide ? Math.floor((w - 24) * 0.6) : w), legend(f)),
      el('div', { cls: 'money-agents' }, el('h3', { text: 'cost by agent' }), agentBars(f, wide ? Math.floor((w - 24) * 0.4) : w))));
    sec.appendChild(el('h3', { text: 'timeline' })); sec.appendChild(timeline(f, w));
    sec.appendChild(el('h3', { text: 'by model' })); sec.appendChild(models);
    if (f.reason) sec.appendChild(el('div', { cls: 'reason', text: f.reason }));
    return sec;
  }

  // Width of a flow card's content, so charts are drawn at about 1:1 (text stays 11 px).
  function contentWidth() {
    var main = $('flows'), cs = getComputedStyle(main);
    var w = main.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return Math.max(200, Math.floor(w - (window.innerWidth <= 640 ? 26 : 34)));
  }

  // Saves of the run's state failed: say so where the flow is, with the store's error.
  function unsaved(f) {
    if (!f.unsaved) return null;
    var u = f.unsaved, n = u.failures + ' save' + (u.failures > 1 ? 's' : '');
    return el('div', { cls: 'unsaved', role: 'alert', 'data-failures': String(u.failures),
      text: (u.reportSaved ? 'Saved in the end, but ' + n + ' failed' : 'Not saved: ' + n + ' of this flow\\'s state failed') +
        (u.store ? ' (' + u.store + ')' : '') + ': ' + u.error + (u.reportSaved ? '' : '. It cannot be resumed after a crash.') });
  }

  // The flow's budget: spent against the cap, green, then amber past 80%, red past 95%.
  function budget(f) {
    if (!f.maxCost) return null;
    var pct = f.cost / f.maxCost;
    return el('div', { cls: 'budget', 'data-max-cost': String(f.maxCost) },
      el('span', { cls: 'budget-text' + (f.cost > f.maxCost ? ' over' : ''), text: 'budget ' + usd(f.cost) + ' of ' + usd(f.maxCost) + ' (' + Math.round(pct * 100) + '%)' }),
      el('meter', { cls: 'budget-meter', min: '0', max: String(f.maxCost), low: String(f.maxCost * 0.8), high: String(f.maxCost * 0.95), optimum: '0', value: String(Math.min(f.cost, f.maxCost)), title: Math.round(pct * 100) + '% of the budget' }));
  }

  // Cumulative cost over the run, one stacked band per model; a step where an agent finished.
  function costChart(f, W) {
    var H = 150, L = 48, R = 8, T = 12, B = 22;
    var done = [];
    f.agents.forEach(function (a) { if (a.finishedAt) done.push(a); });
    done.sort(function (a, b) { return a.finishedAt - b.finishedAt; });
    var t0 = Date.parse(f.startedAt) || (done[0] ? done[0].startedAt : Date.now());
    var end = f.status === 'running' ? Date.now() : (f.finishedAt || (done.length ? done[done.length - 1].finishedAt : t0));
    var span = Math.max(1000, end - t0);
    var models = [], total = 0;
    done.forEach(function (a) { var m = a.model || 'default'; if (models.indexOf(m) < 0) models.push(m); total += a.cost; });
    var top = total;
    var capShown = f.maxCost > 0 && f.maxCost <= Math.max(total, 1e-9) * 2;
    if (capShown) top = Math.max(top, f.maxCost);
    top = (top || 1) * 1.1;
    function x(t) { return L + (W - L - R) * Math.min(1, Math.max(0, (t - t0) / span)); }
    function y(v) { return T + (H - T - B) * (1 - v / top); }
    var g = svg('svg', { 'class': 'cost-chart', viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'cost over the run by model: ' + models.map(function (m) { return m; }).join(', ') });
    g.appendChild(svg('line', { 'class': 'grid', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    g.appendChild(svg('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end', text: '$0' }));
    g.appendChild(svg('text', { x: L, y: H - 4, text: '0s' }));
    g.appendChild(svg('text', { x: W - R, y: H - 4, 'text-anchor': 'end', text: seconds(span) + (f.status === 'running' ? ' so far' : '') }));
    if (total > 0) {
      g.appendChild(svg('line', { 'class': 'grid', x1: L, x2: W - R, y1: y(total), y2: y(total) }));
      g.appendChild(svg('text', { 'class': 'value chart-total', 'data-total': String(total), x: L - 6, y: y(total) + 4, 'text-anchor': 'end', text: shortUsd(total) },
        svg('title', { text: 'total ' + usd(total) })));
    }
    var cum = models.map(function () { return 0; });
    var steps = [{ t: t0, c: cum.slice() }];
    done.forEach(function (a) { cum[models.indexOf(a.model || 'default')] += a.cost; steps.push({ t: a.finishedAt, c: cum.slice() }); });
    steps.push({ t: Math.max(end, steps[steps.length - 1].t), c: cum.slice() });
    function level(c, upto) { var v = 0; for (var j = 0; j <= upto; j++) v += c[j]; return v; }
    models.forEach(function (m, k) {
      var upper = [], lower = [];
      steps.forEach(function (st, i) {
        if (i > 0) { upper.push([x(st.t), y(level(steps[i - 1].c, k))]); lower.push([x(st.t), y(level(steps[i - 1].c, k - 1))]); }
        upper.push([x(st.t), y(level(st.c, k))]); lower.push([x(st.t), y(level(st.c, k - 1))]);
      });
      var pts = upper.concat(lower.reverse()).map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' ');
      g.appendChild(svg('polygon', { 'class': 'band', points: pts, fill: modelColor(f, m), 'fill-opacity': '0.8', 'data-model': m, 'data-cost': String(cum[k]) },
        svg('title', { text: m + ': ' + usd(cum[k]) })));
    });
    if (capShown) {
      g.appendChild(svg('line', { 'class': 'cap', x1: L, x2: W - R, y1: y(f.maxCost), y2: y(f.maxCost) }));
      g.appendChild(svg('text', { x: W - R, y: y(f.maxCost) - 4, 'text-anchor': 'end', text: 'cap ' + shortUsd(f.maxCost) }));
    }
    if (!done.length) g.appendChild(svg('text', { x: L + 8, y: y(0) - 10, text: 'agents book their cost when they finish' }));
    return g;
  }

  // Which colour is which model, with what each cost so far.
  function legend(f) {
    var byModel = new Map();
    f.agents.forEach(function (a) { if (a.finishedAt) { var m = a.model || 'default'; byModel.set(m, (byModel.get(m) || 0) + a.cost); } });
    var box = el('div', { cls: 'legend' });
    byModel.forEach(function (cost, m) {
      box.appendChild(el('span', { cls: 'legend-item', 'data-model': m }, swatch(modelColor(f, m)), el('span', { text: m + ' ' }), el('b', { text: usd(cost) })));
    });
    return byModel.size ? box : null;
  }

  // Cost per agent, largest first, each bar in its model's colour.
  function agentBars(f, W) {
    var list = [], max = 0;
    f.agents.forEach(function (a) { list.push(a); if (a.cost > max) max = a.cost; });
    list.sort(function (a, b) { return b.cost - a.cost; });
    var rowH = 22, labelW = Math.min(130, Math.round(W * 0.34)), valueW = 72;
    var g = svg('svg', { 'class': 'agent-bars', viewBox: '0 0 ' + W + ' ' + Math.max(rowH, list.length * rowH), width: W, height: Math.max(rowH, list.length * rowH), role: 'img', 'aria-label': 'cost by agent' });
    list.forEach(function (a, i) {
      var top = i * rowH, room = W - labelW - valueW - 8;
      var bw = max > 0 ? room * a.cost / max : 0;
      g.appendChild(svg('g', { 'class': 'agent-bar', 'data-agent': a.agent, 'data-cost': String(a.cost) },
        svg('title', { text: a.agent + ' · ' + (a.model || 'default') + ' · ' + usd(a.cost) }),
        svg('text', { x: 0, y: top + 15, text: fit(a.agent, Math.floor(labelW / 6.5)) }),
        svg('rect', { 'class': 'grid', x: labelW, y: top + 10, width: room, height: 1, fill: '#272b35' }),
        svg('rect', { x: labelW, y: top + 4, width: (a.cost > 0 ? Math.max(2, bw) : 0).toFixed(1), height: 14, rx: 2, fill: modelColor(f, a.model || 'default') }),
        svg('text', { 'class': 'value', x: W, y: top + 15, 'text-anchor': 'end', text: usd(a.cost) })));
    });
    return g;
  }

  // One bar per agent task from its start to its end (the invoke_agent span), its tool calls
  // on it (execute_tool), its fallbacks marked: the picture a tracing backend draws.
  function timeline(f, W) {
    var list = [];
    f.agents.forEach(function (a) { var s0 = a.startedAt || a.seenAt; if (s0) list.push(a); });
    var rowH = 22, labelW = Math.min(130, Math.round(W * 0.22)), axisH = 16;
    var now = Date.now(), t0 = Infinity, t1 = 0;
    list.forEach(function (a) {
      var s0 = a.startedAt || a.seenAt, e0 = a.finishedAt || now;
      if (s0 < t0) t0 = s0; if (e0 > t1) t1 = e0;
    });
    var H = Math.max(rowH, list.length * rowH) + axisH;
    var g = svg('svg', { 'class': 'timeline', viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'timeline of the agents' });
    if (!list.length) return g;
    list.sort(function (a, b) { return (a.startedAt || a.seenAt) - (b.startedAt || b.seenAt); });
    var span = Math.max(1, t1 - t0), room = W - labelW - 8;
    var x = function (t) { return labelW + room * (Math.min(Math.max(t, t0), t1) - t0) / span; };
    list.forEach(function (a, i) {
      var top = i * rowH, s0 = a.startedAt || a.seenAt, e0 = a.finishedAt || now;
      var row = svg('g', { 'class': 'agent-span', 'data-agent': a.agent, 'data-status': a.status, 'data-tools': String(a.tools.length), 'data-fallbacks': String(a.marks.length) },
        svg('title', { text: a.agent + ' · ' + (a.model || 'default') + ' · ' + seconds(e0 - s0) }),
        svg('text', { x: 0, y: top + 15, text: fit(a.agent, Math.floor(labelW / 6.5)) }),
        svg('rect', { 'class': 'bar', x: x(s0).toFixed(1), y: top + 4, width: Math.max(2, x(e0) - x(s0)).toFixed(1), height: 14, rx: 2, fill: modelColor(f, a.model || 'default'), opacity: a.status === 'failed' ? 0.5 : 1 }));
      a.tools.forEach(function (t) {
        var tx = x(t.start), tw = Math.max(3, x(t.end || now) - tx);
        row.appendChild(svg('rect', { 'class': 'tool' + (t.status === 'error' ? ' failed' : ''), 'data-tool': t.tool, x: tx.toFixed(1), y: top + 8, width: tw.toFixed(1), height: 6, rx: 1 },
          svg('title', { text: t.tool + ' · ' + (t.status || 'running') })));
      });
      a.marks.forEach(function (m) {
        var mx = x(m.at);
        row.appendChild(svg('path', { 'class': 'fallback', d: 'M' + mx.toFixed(1) + ' ' + (top + 2) + ' l4 -5 h-8 z' },
          svg('title', { text: 'fallback ' + m.from + ' → ' + m.to })));
      });
      g.appendChild(row);
    });
    var ay = list.length * rowH + 12;
    g.appendChild(svg('rect', { 'class': 'grid', x: labelW, y: ay - 9, width: room, height: 1, fill: '#272b35' }));
    g.appendChild(svg('text', { x: labelW, y: ay + 2, text: '0s' }));
    g.appendChild(svg('text', { x: W, y: ay + 2, 'text-anchor': 'end', text: seconds(span) }));
    return g;
  }

  window.addEventListener('resize', schedule);
  refresh();
  setInterval(refresh, 2000);
})();
`;
