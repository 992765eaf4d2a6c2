// The classroom board: one page for the projector that follows GET /events for a whole lecture.
//
// Why it is written the way it is:
// - Everything is inline and nothing is fetched from anywhere (no font, image or script URL), so
//   it works on a classroom network with no way out, and the page is one answer to one request.
// - Addresses and request targets come from clients: every piece of text goes in through
//   textContent or an attribute, never through innerHTML.
// - The page runs for hours: at most 100 connection rows stay in the DOM, and the per-row state
//   is dropped with its row. The histogram and the tiles reuse their elements.
// - A `snapshot` replaces all state, so a reconnect (the browser's own, after `retry: 2000`, or
//   ours, when EventSource gives up on an answer it cannot use) always shows the server's truth.
// - Calm for a projector: light background, dark text, two accents (amber for the client's
//   ephemeral port, teal for the server's fixed port, as on the / page), no motion beyond a short
//   fade of a new row, and none at all under prefers-reduced-motion.

#include "portdemo/board_page.hpp"

namespace portdemo {

namespace {

constexpr std::string_view page = R"board(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>portdemo: the classroom board</title>
<style>
:root { --ink: #1c1f23; --muted: #5c636b; --line: #dcd8cf; --bg: #faf8f4; --card: #fff;
        --client: #92400e; --client-bar: #c9894f; --server: #155e75; }
* { box-sizing: border-box; }
html { font-size: clamp(16px, calc(8.5px + 0.95vw), 30px); }
body { margin: 0; height: 100vh; display: grid; grid-template-rows: auto minmax(0, 1fr);
       overflow: hidden; background: var(--bg); color: var(--ink); line-height: 1.3;
       font-family: system-ui, "DejaVu Sans", sans-serif; font-variant-numeric: tabular-nums; }
.mono, .url { font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
header { display: flex; align-items: center; gap: 1.6rem; padding: .45rem 1.2rem;
         border-bottom: 1px solid var(--line); background: var(--card); }
h1 { font-size: 1.3rem; margin: 0; font-weight: 700; white-space: nowrap; }
@media (max-width: 1150px) { h1 { font-size: 1.1rem; } header { gap: 1.1rem; } }
.total { color: var(--muted); font-size: .9rem; white-space: nowrap; }
.total b { font-size: 1.45rem; margin-right: .3rem; color: var(--ink); }
#status { margin-left: auto; text-align: right; white-space: nowrap; font-size: .8rem; color: var(--muted); }
#state::before { content: "\25CF  "; color: #9aa0a6; }
body[data-state="live"] #state::before { color: #2f7d4f; }
body[data-state="reconnecting"] #state::before { color: #b7791f; }
#note:empty, #masked:empty { display: none; }
#note { color: #8a4b08; font-weight: 600; }
main { display: grid; grid-template: auto minmax(0, 1fr) / minmax(0, 1.3fr) minmax(0, 1fr);
       gap: .9rem 1.4rem; padding: .9rem 1.2rem; min-height: 0; }
.col { display: flex; flex-direction: column; gap: .9rem; min-height: 0; }
.label { font-size: .72rem; text-transform: uppercase; letter-spacing: .07em; color: var(--muted);
         font-weight: 700; }
#join { min-width: 0; container-type: inline-size; display: flex; flex-direction: column;
        justify-content: center; }
.qrrow { display: flex; gap: 1.2rem; align-items: center; }
#qr:empty { display: none; }
#qr svg { display: block; width: clamp(240px, 33vh, 320px); height: auto; border: 1px solid var(--line); }
/* The join URL as large as fits on one line: --chars is its length, a monospace glyph .61em. */
.url { font-size: min(2.1rem, calc(100cqi / var(--chars, 20) / .61)); font-weight: 700; margin: .15rem 0 .3rem; }
.url, .also, .hint { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.also { font-size: .8rem; color: var(--muted); }
.hint { font-size: 1.1rem; margin: .2rem 0; }
.lesson { font-size: .85rem; color: #30353b; margin: .4rem 0 0; max-width: 32rem; }
.lesson b.c { color: var(--client); } .lesson b.s { color: var(--server); }
.tablewrap { grid-column: 1 / -1; min-height: 0; overflow: hidden; background: var(--card);
             border: 1px solid var(--line); border-radius: .4rem; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th { white-space: nowrap; text-align: left; font-size: .72rem; text-transform: uppercase;
     letter-spacing: .06em; color: var(--muted); padding: .35rem .6rem; border-bottom: 2px solid var(--line); }
td { padding: .28rem .5rem; border-bottom: 1px solid #ece8e0; white-space: nowrap; overflow: hidden;
     text-overflow: ellipsis; font-size: 1rem; }
td.id, td.time { color: var(--muted); font-size: .85rem; }
.cl { display: flex; min-width: 0; }
.addr { overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.cport { color: var(--client); font-weight: 800; }
.sport { color: var(--server); font-weight: 700; }
.svc, .reuse { font-size: .8em; }
.svc { color: var(--muted); }
tr.fresh td { animation: fresh 1.5s ease-out; }
@keyframes fresh { from { background: #fbf1dc; } to { background: transparent; } }
@media (prefers-reduced-motion: reduce) { tr.fresh td { animation: none; } }
tr.coalesced td, tr.empty td { color: var(--muted); }
tr.coalesced td { font-style: italic; }
#tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: .5rem;
         margin-top: .3rem; }
.tile { background: var(--card); border: 1px solid var(--line); border-left: 6px solid var(--server);
        border-radius: .35rem; padding: .3rem .6rem; }
.tile .p { font-size: 1.45rem; font-weight: 800; color: var(--server); }
.tile .s { font-size: .75rem; color: var(--muted); white-space: nowrap; overflow: hidden;
           text-overflow: ellipsis; }
.tile .n { font-size: 1.2rem; font-weight: 700; }
#hist { flex: 1; min-height: 8rem; display: flex; flex-direction: column; background: var(--card);
        border: 1px solid var(--line); border-radius: .4rem; padding: .5rem .7rem; }
.bars { position: relative; display: flex; align-items: flex-end; gap: 2px;
        flex: 1; min-height: 4rem; max-height: 16rem; border-bottom: 2px solid var(--ink); margin-top: 1.3rem; }
.bar { flex: 1; background: var(--client-bar); min-height: 0; }
.mark { position: absolute; top: -1.2rem; bottom: -2px; border-left: 2px dashed #6b7178; }
.mark span { position: absolute; right: .3rem; top: 0; font-size: .68rem; color: var(--muted);
             white-space: nowrap; }
.mark.r span { right: auto; left: .3rem; }
.axis { display: flex; justify-content: space-between; font-size: .8rem; margin-top: .2rem; }
.hnote { font-size: .78rem; color: var(--muted); margin-top: .2rem; }
.hnote:empty { display: none; }
.path { margin-left: .4em; font-size: .8em; color: #b45309; font-weight: 600; }
</style>
</head>
<body data-state="connecting">
<header>
  <h1>Connections to this server</h1>
  <div class="total"><b id="t-connections">0</b>connections</div>
  <div class="total"><b id="t-clients">0</b>distinct clients</div>
  <div class="total" id="t-shared-box" title="the client address most connections came from: many students behind one NAT share one address, each with ports of their own"><b id="t-shared">0</b><span id="t-shared-label">most from one address</span></div>
  <div class="total"><b id="t-subscribers">0</b>boards watching</div>
  <div id="status"><div id="state">connecting…</div><div id="masked"></div><div id="note"></div></div>
</header>
<main>
  <section id="join"><div id="joinBody"></div><div class="qrrow"><div id="qr"></div><p class="lesson" id="lesson"></p></div></section>
  <div class="col" id="side">
    <section><div class="label">connections per server port</div><div id="tiles"></div></section>
    <section id="hist">
      <div class="label">client ports across the ephemeral range</div>
      <div class="bars" id="bars"></div>
      <div class="axis mono"><span id="h-low"></span><span id="h-high"></span></div>
      <div class="hnote" id="h-note"></div>
    </section>
  </div>
  <div class="tablewrap">
    <table>
      <colgroup><col style="width:4.6em"><col style="width:32%"><col style="width:20%"><col><col style="width:5.4em"></colgroup>
      <thead><tr><th>#</th><th>client (remote end)</th><th>server port</th><th>protocol</th><th>time</th></tr></thead>
      <tbody id="rows"></tbody>
    </table>
  </div>
</main>
<script>
'use strict';
(function () {
  const MAX_ROWS = 100;
  const IANA_DYNAMIC = 49152;  // RFC 6335: the dynamic (private, ephemeral) ports start here
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const tbody = $('rows');
  const known = new Map();    // connection id -> row state, only while its row is shown
  const tiles = new Map();    // "port/proto/tls" -> count element
  let bars = [];
  let server = {};
  let es = null, retryTimer = 0, backoff = 2000, sawSnapshot = false;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const int = (n) => (typeof n === 'number' && isFinite(n) ? n : 0);
  const count = (n) => int(n).toLocaleString('en-US');
  const bracket = (a) => (String(a).includes(':') ? '[' + a + ']' : String(a));
  const timeText = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

  function setState(s) {
    document.body.dataset.state = s;
    $('state').textContent = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' }[s];
  }

  // --- rows -----------------------------------------------------------------------------------
  function setProto(st) {
    let t = st.proto === 'udp' ? 'UDP' : st.tlsPort ? 'TLS port' : 'TCP';
    if (st.http === 'HTTP/3') t += ' · QUIC · HTTP/3';
    else if (st.requests > 0) t += ' · ' + (st.https ? 'HTTPS' : 'HTTP') + (st.http === 'HTTP/2' ? ' · HTTP/2' : '');
    st.protoCell.replaceChildren(t);
    st.tr.dataset.protocol = st.http;
    const multiplexed = st.http === 'HTTP/2' || st.http === 'HTTP/3';
    if (st.requests > 1)
      st.protoCell.append(el('span', 'reuse', ' ×' + st.requests + (multiplexed ? ' streams, one port' : ' reused')));
  }

  const PATHS = { source_nat: 'source NAT', destination_nat: 'port forward',
                  source_and_destination_nat: 'NAT both ways', via_proxy: 'via proxy' };
  function setPath(st, p) {
    const words = PATHS[String(p || '')];
    st.pathMark.textContent = words ? ' ' + words : '';
    st.tr.dataset.path = words ? String(p) : 'direct';
  }

  function makeRow(c, when) {
    if (Number(c.at) > 0) when = new Date(Number(c.at));  // the server's clock, in this browser's time
    const remote = c.remote || {}, local = c.local || {};
    const st = { proto: String(c.proto || 'tcp'), tlsPort: !!c.tls_port, requests: int(c.requests),
                 https: false, key: rowKey(c), when: when, http: String(c.protocol || '') };
    st.https = st.tlsPort && st.requests > 0;
    const tr = el('tr');
    st.tr = tr;
    tr.dataset.id = int(c.id);
    tr.dataset.clientAddress = String(remote.address || '');
    tr.dataset.clientPort = int(remote.port);
    tr.dataset.serverPort = int(local.port);
    tr.dataset.proto = st.proto;
    tr.dataset.requests = st.requests;
    tr.append(el('td', 'id', '#' + int(c.id)));
    const client = el('td'), box = el('span', 'cl');
    box.append(el('span', 'addr', bracket(remote.address || '?')), el('span', 'cport', ':' + int(remote.port)));
    st.pathMark = el('span', 'path');
    client.append(box, st.pathMark);
    client.title = bracket(remote.address || '?') + ':' + int(remote.port);
    const sp = el('td');
    sp.append(el('span', 'sport', int(local.port)));
    if (c.service) sp.append(' ', el('span', 'svc', c.service));
    st.protoCell = el('td', 'proto');
    setProto(st);
    tr.append(client, sp, st.protoCell, el('td', 'time', when ? timeText(when) : 'earlier'));
    setPath(st, c.path);
    known.set(int(c.id), st);
    return tr;
  }

  const rowKey = (c) => int(c.id) + '|' + String((c.remote || {}).address) + '|' + int((c.remote || {}).port);

  function trim() {
    while (tbody.children.length > MAX_ROWS) {
      const last = tbody.lastElementChild;
      if (last.dataset.id !== undefined) known.delete(Number(last.dataset.id));
      last.remove();
    }
  }

  function clearEmpty() {
    const first = tbody.firstElementChild;
    if (first && first.classList.contains('empty')) first.remove();
  }

  function onConnection(c) {
    if (known.has(int(c.id))) return;
    clearEmpty();
    const tr = makeRow(c, new Date());
    tr.className = 'fresh';
    tbody.prepend(tr);
    trim();
  }

  function onRequest(r) {
    const st = known.get(int(r.id));
    if (!st) return;  // its row is gone (or was coalesced): the totals still count it
    st.requests = Math.max(st.requests, int(r.request));
    if (r.tls) st.https = true;
    if (r.protocol) st.http = String(r.protocol);
    st.tr.dataset.requests = st.requests;
    setProto(st);
  }

  function onPath(p) {
    const st = known.get(int(p.id));
    if (st) setPath(st, p.path);
  }

  function onCoalesced(c) {
    clearEmpty();
    let first = tbody.firstElementChild;
    if (!first || !first.classList.contains('coalesced')) {
      first = el('tr', 'coalesced');
      first.dataset.skipped = 0;
      first.append(el('td'));
      first.firstChild.colSpan = 5;
      tbody.prepend(first);
      trim();
    }
    const n = int(Number(first.dataset.skipped)) + int(c.skipped);
    first.dataset.skipped = n;
    first.firstChild.textContent = '+' + count(n) + ' more (coalesced: too many at once to list; counted in the totals)';
  }

  // --- join: the QR code and the URL, or how to connect --------------------------------------
  function qrSvg(rows) {
    const n = rows.reduce((m, r) => Math.max(m, String(r).length), 0), q = 4, size = rows.length + 2 * q;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + (n + 2 * q) + ' ' + size);
    svg.setAttribute('shape-rendering', 'crispEdges');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'QR code of the join URL');
    const bg = document.createElementNS(SVG, 'rect');
    bg.setAttribute('width', n + 2 * q);
    bg.setAttribute('height', size);
    bg.setAttribute('fill', '#fff');
    let d = '';
    rows.forEach((row, y) => {
      row = String(row);
      for (let x = 0; x < row.length; ) {
        if (row[x] !== '#') { x++; continue; }
        let w = 1;
        while (row[x + w] === '#') w++;
        d += 'M' + (x + q) + ' ' + (y + q) + 'h' + w + 'v1h-' + w + 'z';
        x += w;
      }
    });
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    path.setAttribute('fill', '#000');
    svg.append(bg, path);
    return svg;
  }

  function renderJoin() {
    const join = Array.isArray(server.join) ? server.join : [];
    const qr = $('qr'), text = $('joinBody');
    qr.replaceChildren();
    text.replaceChildren();
    if (join.length) {
      if (Array.isArray(server.qr) && server.qr.length) qr.append(qrSvg(server.qr));
      const url = el('div', 'url', join[0]);
      url.style.setProperty('--chars', Math.max(12, String(join[0]).length));
      text.append(el('div', 'label', 'join from your phone or laptop'), url);
      for (const u of join.slice(1, 3)) text.append(el('div', 'also mono', 'or ' + u));
    } else {
      // Students cannot use the lecturer's loopback name: say which part to replace instead.
      const h = location.hostname;
      const host = !h || /^(localhost|127\.|\[::1\]$|::1$)/.test(h) ? '<this host>' : h;
      const lines = [], seen = new Set();
      for (const l of listening()) {
        const k = l.port + l.proto + l.tls;
        if (seen.has(k) || lines.length >= 4) continue;
        seen.add(k);
        if (l.proto === 'udp') lines.push('nc -u ' + host + ' ' + l.port);
        else if (l.tls) lines.push('curl -k https://' + host + ':' + l.port + '/');
        else lines.push('curl http://' + host + ':' + l.port + '/', 'nc ' + host + ' ' + l.port);
      }
      text.append(el('div', 'label', 'connect from a terminal on this network'));
      if (!lines.length) text.append(el('div', 'hint', 'no listening port is known yet'));
      for (const l of lines.slice(0, 4)) text.append(el('div', 'hint mono', l));
    }
    const r = server.ephemeral, lesson = $('lesson');
    lesson.replaceChildren('The ', el('b', 's', "server's port is fixed"), '; each ',
      el('b', 'c', "client's port is ephemeral"), ', chosen by its kernel from the ephemeral range',
      r ? ' (' + int(r.low) + '–' + int(r.high) + ' on this host)' : '',
      '. A new connection gets a new port; HTTP keep-alive reuses one connection and its port.');
  }

  const listening = () => (Array.isArray(server.listening) ? server.listening : [])
    .map((l) => ({ port: int(l.port), proto: String(l.proto || 'tcp'), tls: !!l.tls, service: l.service || '' }));

  // --- per-port tiles ---------------------------------------------------------------------------
  function tile(p) {
    const key = p.port + '/' + p.proto + '/' + p.tls;
    let n = tiles.get(key);
    if (!n) {
      const t = el('div', 'tile');
      t.dataset.port = p.port;
      t.dataset.proto = p.proto;
      n = el('div', 'n', '0');
      t.append(el('div', 'p', p.port),
               el('div', 's', (p.proto === 'udp' ? 'UDP' : p.tls ? 'TLS' : 'TCP') + (p.service ? ' · ' + p.service : '')), n);
      $('tiles').append(t);
      tiles.set(key, n);
    }
    return n;
  }

  function renderTiles() {
    $('tiles').replaceChildren();
    tiles.clear();
    for (const l of listening()) tile(l);
  }

  // --- the histogram of client ports ------------------------------------------------------------
  function renderHistogram(h) {
    const box = $('bars'), note = $('h-note');
    if (!h || !Array.isArray(h.buckets) || !h.buckets.length || !(h.high > h.low)) {
      box.replaceChildren();
      bars = [];
      $('h-low').textContent = '';
      $('h-high').textContent = '';
      note.textContent = "this host's ephemeral range is unknown";
      return;
    }
    const low = int(h.low), high = int(h.high), n = h.buckets.length;
    if (bars.length !== n || box.dataset.low !== String(low) || box.dataset.high !== String(high)) {
      box.replaceChildren();
      box.dataset.low = low;
      box.dataset.high = high;
      bars = [];
      const width = (high - low + 1) / n;
      for (let i = 0; i < n; i++) {
        const b = el('div', 'bar');
        b.title = Math.round(low + i * width) + '–' + Math.round(low + (i + 1) * width - 1);
        bars.push(b);
        box.append(b);
      }
      if (IANA_DYNAMIC > low && IANA_DYNAMIC <= high) {
        const m = el('div', 'mark');
        const f = (IANA_DYNAMIC - low) / (high - low + 1);
        m.style.left = (f * 100).toFixed(2) + '%';
        if (f < 0.5) m.className = 'mark r';
        m.append(el('span', '', f < 0.5 ? '← IANA dynamic from ' + IANA_DYNAMIC : 'IANA dynamic from ' + IANA_DYNAMIC + ' →'));
        box.append(m);
      }
      $('h-low').textContent = low;
      $('h-high').textContent = high;
    }
    const max = Math.max(1, ...h.buckets.map(int));
    h.buckets.forEach((v, i) => {
      bars[i].style.height = (int(v) / max * 100).toFixed(1) + '%';
      bars[i].dataset.count = int(v);
    });
    const extra = [];
    if (int(h.below)) extra.push(count(h.below) + ' below ' + low);
    if (int(h.above)) extra.push(count(h.above) + ' above ' + high);
    note.textContent = 'tallest bar: ' + count(max) + (extra.length ? '  ·  outside the range: ' + extra.join(', ') : '');
  }

  // --- totals -----------------------------------------------------------------------------------
  function onTotals(t) {
    $('t-connections').textContent = count(t.connections);
    $('t-clients').textContent = count(t.distinct_clients);
    $('t-subscribers').textContent = count(t.subscribers);
    const b = t.busiest_address;
    $('t-shared').textContent = b ? count(b.connections) : '0';
    $('t-shared-label').textContent = b ? 'from ' + bracket(b.address) : 'most from one address';
    for (const p of Array.isArray(t.per_port) ? t.per_port : [])
      tile({ port: int(p.port), proto: String(p.proto || 'tcp'), tls: !!p.tls, service: p.service || '' })
        .textContent = count(p.connections);
    renderHistogram(t.histogram);
  }

  // --- the snapshot replaces everything -----------------------------------------------------------
  function onSnapshot(s) {
    const times = new Map();
    for (const st of known.values()) if (st.when) times.set(st.key, st.when);
    server = s.server || {};
    known.clear();
    tbody.replaceChildren();
    const recent = Array.isArray(s.recent) ? s.recent.slice(0, MAX_ROWS) : [];
    for (const c of recent) tbody.append(makeRow(c, times.get(rowKey(c))));
    if (!recent.length) {
      const tr = el('tr', 'empty'), td = el('td', '', 'no connections yet: connect, and each one appears here');
      td.colSpan = 5;
      tr.append(td);
      tbody.append(tr);
    }
    $('note').textContent = '';
    $('masked').textContent = server.masked ? 'addresses masked' : '';
    renderJoin();
    renderTiles();
    onTotals(s.totals || {});
    sawSnapshot = true;
    backoff = 2000;
    setState('live');
  }

  // --- the stream ---------------------------------------------------------------------------------
  function on(name, handler) {
    es.addEventListener(name, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { console.warn('board: bad', name, 'event', e); return; }
      if (name !== 'snapshot' && !sawSnapshot) return;
      try { handler(data || {}); } catch (e) { console.error('board: the', name, 'event failed', e); }
    });
  }

  function connect() {
    retryTimer = 0;
    sawSnapshot = false;
    es = new EventSource('/events');
    on('snapshot', onSnapshot);
    on('connection', onConnection);
    on('request', onRequest);
    on('totals', onTotals);
    on('coalesced', onCoalesced);
    on('path', onPath);
    on('note', (n) => { $('note').textContent = String(n.message || n.code || ''); });
    es.onerror = () => {
      setState('reconnecting');
      if (es.readyState === EventSource.CLOSED && !retryTimer) {
        // The browser gave up (an answer that was not a stream): try again ourselves, slower.
        es.close();
        retryTimer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      }
    };
  }

  setState('connecting');
  connect();
})();
</script>
</body>
</html>
)board";

}  // namespace

std::string_view board_page() { return page; }

}  // namespace portdemo
