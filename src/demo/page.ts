// The push-messaging demo page, served by the demo origin at `/` and `/demo` (max-age=60, so the
// proxy serves it from cache). Plain HTML and JavaScript, no build step: what you read here is what
// the browser runs. (No backquotes or dollar-brace in the script: it lives in a template string.)
//
// What it does:
// - subscribes with EventSource('/events') through the proxy. When a stream ends (the origin ends
//   each after its duration), EventSource reconnects and the proxy hands it the current stream,
//   from its start: events already seen come again, and the page drops them by id.
// - shows every event: id, name, delivery latency (now - sentAt from the event data) and data; an
//   event whose payload was too large to inline carries a URL, which the page fetches (the proxy
//   collapses those fetches and caches the payload). It listens to the event names it offers
//   (message, news, alert, tick) and to any other name once /demo-stats reports it.
// - polls /demo-stats (origin, no-store): subscribers connected (from the proxy's admin stats) and
//   stream requests that reached the origin.
// - publishes with a form: POST /publish through the proxy (a POST passes through, C4).
// - exposes what it received as `window.demo` (the browser test reads it).

export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamcache: push messaging demo</title>
<style>
  :root { --fg: #1d2330; --muted: #687087; --line: #dde1ea; --accent: #2456c9; --ok: #1f8a4c; --warn: #b76e00; --bg: #f6f7fb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 18px 28px 14px; background: #fff; border-bottom: 1px solid var(--line); }
  h1 { margin: 0; font-size: 22px; }
  header p { margin: 4px 0 0; color: var(--muted); }
  main { padding: 18px 28px 28px; max-width: 1180px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(145px, 1fr)); gap: 10px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
  .card .value { font-size: 28px; font-weight: 650; font-variant-numeric: tabular-nums; }
  .card .label { color: var(--muted); font-size: 13px; }
  .state-open { color: var(--ok); }
  .state-reconnecting, .state-connecting { color: var(--warn); }
  .state-closed { color: #b3261e; }
  form { margin: 18px 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; display: grid; grid-template-columns: 170px 1fr auto auto; gap: 10px; align-items: start; }
  form label { display: block; color: var(--muted); font-size: 13px; }
  input, textarea { width: 100%; font: 14px ui-monospace, "DejaVu Sans Mono", monospace; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
  textarea { height: 38px; resize: vertical; }
  button { margin-top: 19px; padding: 8px 14px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font-size: 14px; cursor: pointer; }
  button.secondary { background: #e8ecf6; color: var(--fg); }
  #publish-result { grid-column: 1 / -1; color: var(--muted); font-size: 13px; min-height: 1.2em; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-size: 13px; color: var(--muted); font-weight: 600; background: #fafbfd; }
  td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.data { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; word-break: break-all; }
  tr.tick td { color: var(--muted); }
  .tools { display: flex; justify-content: space-between; align-items: baseline; margin: 18px 0 8px; }
  .tools h2 { margin: 0; font-size: 17px; }
  .tools label { color: var(--muted); font-size: 13px; }
  footer { color: var(--muted); font-size: 13px; margin-top: 18px; }
  code { font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>streamcache &middot; push messaging demo</h1>
  <p>Server-sent events through a caching proxy: one origin stream per cache window, every subscriber collapsed onto it (<code>Cache-Control: no-cache, s-maxage=N</code>).</p>
</header>
<main>
  <section class="cards">
    <div class="card"><div class="value" id="subscribers">&ndash;</div><div class="label">subscribers connected (proxy)</div></div>
    <div class="card"><div class="value" id="origin-streams">&ndash;</div><div class="label">stream requests that reached the origin</div></div>
    <div class="card"><div class="value" id="open-streams">&ndash;</div><div class="label">streams open at the origin</div></div>
    <div class="card"><div class="value" id="received">0</div><div class="label">events received here</div></div>
    <div class="card"><div class="value" id="duplicates">0</div><div class="label">repeats dropped (by id)</div></div>
    <div class="card"><div class="value" id="reconnects">0</div><div class="label">reconnects (stream rotations)</div></div>
    <div class="card"><div class="value state-connecting" id="state">connecting</div><div class="label">this page&rsquo;s stream</div></div>
  </section>

  <form id="publish">
    <div><label for="event-name">event</label><input id="event-name" name="event" value="message" list="event-names" autocomplete="off">
      <datalist id="event-names"><option value="message"><option value="news"><option value="alert"></datalist></div>
    <div><label for="event-data">data (JSON or text)</label><textarea id="event-data" name="data">{"text": "hello from the demo page"}</textarea></div>
    <button type="submit" id="publish-button">Publish</button>
    <button type="button" class="secondary" id="publish-large">Publish 8 KiB payload</button>
    <div id="publish-result"></div>
  </form>

  <div class="tools">
    <h2>Events</h2>
    <label><input type="checkbox" id="show-ticks" checked style="width:auto"> show ticks</label>
  </div>
  <table>
    <thead><tr><th>id</th><th>event</th><th>latency</th><th>received</th><th>data</th></tr></thead>
    <tbody id="events"></tbody>
  </table>
  <footer>
    Streams: <a href="/events">/events</a> &middot; publish: <code>curl -d 'hello' /publish</code> &middot; stats: <a href="/demo-stats">/demo-stats</a> &middot;
    large bodies: <a href="/large/1048576">/large/1048576</a>, <a href="/large/1048576?chunked=1">chunked</a>
  </footer>
</main>
<script>
(function () {
  'use strict';
  var MAX_ROWS = 200;
  var MAX_KEPT = 10000;
  var demo = {
    /** Events in the order shown, each once: { id, event, sentAt, receivedAt, latencyMs, data, url, size }. */
    received: [],
    duplicates: 0,
    reconnects: 0,
    opens: 0,
    state: 'connecting',
    stats: null,
    statsError: null,
    published: [],
    /** The stream's last state changes: [ms since epoch, state]. */
    connectionLog: []
  };
  window.demo = demo;

  var seen = new Set();
  var listening = new Set();
  var source = new EventSource('/events');
  var $ = function (id) { return document.getElementById(id); };

  function setState(state) {
    demo.state = state;
    demo.connectionLog.push([Date.now(), state]);
    if (demo.connectionLog.length > 50) demo.connectionLog.shift();
    var el = $('state');
    el.textContent = state;
    el.className = 'value state-' + state;
  }

  source.onopen = function () {
    demo.opens++;
    if (demo.opens > 1) demo.reconnects++;
    $('reconnects').textContent = String(demo.reconnects);
    setState('open');
  };
  source.onerror = function () {
    // A stream that ends is an "error" to EventSource: it reconnects after the retry delay.
    setState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  };

  // EventSource has no catch-all listener: an event is seen only if a listener for its name was
  // there when it arrived. The page listens to the names it offers, and adds every name the origin
  // reports (/demo-stats) from then on.
  function listen(name) {
    if (listening.has(name)) return;
    listening.add(name);
    source.addEventListener(name, onEvent);
  }
  ['message', 'news', 'alert', 'tick'].forEach(listen);

  function onEvent(e) {
    var receivedAt = Date.now();
    var id = Number(e.lastEventId);
    if (seen.has(id)) {
      demo.duplicates++;
      $('duplicates').textContent = String(demo.duplicates);
      return;
    }
    seen.add(id);
    var body;
    try { body = JSON.parse(e.data); } catch (err) { body = { data: e.data }; }
    var entry = {
      id: id,
      event: e.type,
      sentAt: body.sentAt,
      receivedAt: receivedAt,
      latencyMs: typeof body.sentAt === 'number' ? receivedAt - body.sentAt : null,
      data: body.url ? undefined : (e.type === 'tick' ? { id: body.id } : body.data),
      url: body.url,
      size: body.size
    };
    demo.received.push(entry);
    if (demo.received.length > MAX_KEPT) demo.received.shift();
    $('received').textContent = String(demo.received.length);
    addRow(entry);
    if (entry.url) fetchPayload(entry);
  }

  function text(value) {
    if (value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function cell(row, value, className) {
    var td = document.createElement('td');
    td.textContent = value;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function addRow(entry) {
    var row = document.createElement('tr');
    row.className = entry.event === 'tick' ? 'tick' : '';
    row.dataset.id = String(entry.id);
    if (entry.event === 'tick' && !$('show-ticks').checked) row.hidden = true;
    cell(row, String(entry.id), 'num');
    cell(row, entry.event);
    cell(row, entry.latencyMs === null ? '' : entry.latencyMs + ' ms', 'num');
    cell(row, new Date(entry.receivedAt).toLocaleTimeString(), 'num');
    var data = text(entry.data);
    entry.dataCell = cell(row, entry.url ? 'payload ' + formatBytes(entry.size) + ' at ' + entry.url + ' \\u2026' : (data.length > 160 ? data.slice(0, 160) + '\\u2026' : data), 'data');
    var body = $('events');
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  }

  function formatBytes(n) {
    if (typeof n !== 'number') return '?';
    return n < 1024 ? n + ' B' : (n / 1024).toFixed(1) + ' KiB';
  }

  function fetchPayload(entry) {
    var started = performance.now();
    fetch(entry.url).then(function (response) {
      return response.text().then(function (body) {
        entry.payloadBytes = body.length;
        entry.payloadMs = Math.round(performance.now() - started);
        entry.payloadStatus = response.status;
        var cache = response.headers.get('x-cache');
        entry.dataCell.textContent = 'payload ' + formatBytes(body.length) + ' from ' + entry.url + ' in ' + entry.payloadMs + ' ms' +
          (cache ? ' (' + cache + ')' : '') + ': ' + body.slice(0, 60) + (body.length > 60 ? '\\u2026' : '');
      });
    }).catch(function (err) {
      entry.payloadError = String(err);
      entry.dataCell.textContent = 'payload ' + entry.url + ' failed: ' + err;
    });
  }

  $('show-ticks').addEventListener('change', function () {
    var show = this.checked;
    Array.prototype.forEach.call($('events').rows, function (row) {
      if (row.className === 'tick') row.hidden = !show;
    });
  });

  // ---- stats: the origin's counts, merged by the origin with the proxy's admin /stats
  function pollStats() {
    fetch('/demo-stats', { cache: 'no-store' }).then(function (response) { return response.json(); }).then(function (stats) {
      demo.stats = stats;
      demo.statsError = stats.proxyError || null;
      $('subscribers').textContent = stats.proxy ? String(stats.proxy.subscribers) : '?';
      $('subscribers').title = stats.proxyError || '';
      $('origin-streams').textContent = String(stats.origin.streamsStarted);
      $('open-streams').textContent = String(stats.origin.streamsOpen);
      // Events may carry any name: listen to every name the origin has seen published.
      stats.origin.eventNames.forEach(listen);
    }).catch(function (err) {
      demo.statsError = String(err);
    }).then(function () {
      setTimeout(pollStats, 1000);
    });
  }
  pollStats();

  // ---- publishing: POST /publish through the proxy
  function publish(event, data) {
    listen(event);
    return fetch('/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ event: event, data: data })
    }).then(function (response) {
      return response.json().then(function (result) {
        if (!response.ok) throw new Error(result.error || ('HTTP ' + response.status));
        demo.published.push(result);
        $('publish-result').textContent = 'published #' + result.id + ' (' + result.event + ', ' + formatBytes(result.size) + ') to ' +
          (result.queued ? 'the next stream (none open right now)' : result.streams + ' stream' + (result.streams === 1 ? '' : 's')) +
          (result.url ? '; payload at ' + result.url : '');
        return result;
      });
    }).catch(function (err) {
      $('publish-result').textContent = 'publish failed: ' + err.message;
      throw err;
    });
  }
  demo.publish = publish;

  $('publish').addEventListener('submit', function (e) {
    e.preventDefault();
    var raw = $('event-data').value;
    var data;
    try { data = JSON.parse(raw); } catch (err) { data = raw; }
    publish($('event-name').value.trim() || 'message', data).catch(function () {});
  });
  $('publish-large').addEventListener('click', function () {
    var blob = new Array(8 * 1024 + 1).join('x');
    publish($('event-name').value.trim() || 'message', { note: 'too large to inline: the event carries a URL', blob: blob }).catch(function () {});
  });
})();
</script>
</body>
</html>
`;
