/* global document, window, fetch */
// Dashboard of redis-kafka-sync: polls /api/status every POLL_MS and renders it. Plain DOM, no
// framework, nothing fetched from elsewhere. Every value from the server is set as text
// (textContent), never as HTML: stream names, topics and errors are data, not markup.
'use strict';

const POLL_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

function fmt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n * 10) / 10);
}

function bytes(n) {
  if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
  return n + ' B';
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return s + ' s ago';
  if (s < 7200) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) tr.appendChild(el('td', text, cls));
  return tr;
}

function fill(tbody, rows, cols, emptyText) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = el('td', emptyText, 'empty');
    td.colSpan = cols;
    const tr = document.createElement('tr');
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

function line(points, maxY, color, dashed) {
  const p = document.createElementNS(SVG_NS, 'polyline');
  const n = points.length;
  const coords = points.map((v, i) => {
    const x = n === 1 ? 600 : (i / (n - 1)) * 600;
    const y = 176 - ((v || 0) / maxY) * 166;
    return x.toFixed(1) + ',' + y.toFixed(1);
  });
  p.setAttribute('points', coords.join(' '));
  p.setAttribute('fill', 'none');
  p.setAttribute('stroke', color);
  p.setAttribute('stroke-width', '2');
  p.setAttribute('vector-effect', 'non-scaling-stroke');
  if (dashed) p.setAttribute('stroke-dasharray', '5 4');
  return p;
}

function drawChart(history) {
  const svg = $('chart');
  const css = window.getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const read = history.map((h) => h.readPerS);
  const sent = history.map((h) => h.sentPerS);
  const backlog = history.map((h) => h.backlog || 0);
  const maxRate = Math.max(1, ...read, ...sent);
  const maxBacklog = Math.max(1, ...backlog);
  svg.replaceChildren();
  if (history.length > 0) {
    svg.appendChild(line(backlog, maxBacklog, color('--backlog'), true));
    svg.appendChild(line(read, maxRate, color('--read'), false));
    svg.appendChild(line(sent, maxRate, color('--sent'), false));
  }
  const first = history[0];
  const last = history[history.length - 1];
  const span = first && last ? Math.round((last.t - first.t) / 1000) : 0;
  $('chart-from').textContent = span < 120 ? '−' + span + ' s' : '−' + Math.round(span / 60) + ' min';
  $('chart-max').textContent = 'top: ' + fmt(maxRate) + '/s · backlog ' + fmt(maxBacklog);
}

function render(s) {
  const last = s.history[s.history.length - 1];
  const ready = $('ready');
  ready.textContent = s.readiness.ready ? 'ready' : 'not ready';
  ready.className = 'badge ' + (s.readiness.ready ? 'ok' : 'bad');
  $('meta').textContent =
    'consumer ' + s.consumer + ' · group ' + s.group + ' · up ' + ago(s.nowMs - s.startedMs).replace(' ago', '');
  $('backlog').textContent = fmt(s.backlog);
  $('sent-rate').textContent = (last ? fmt(last.sentPerS) : '0') + '/s';
  $('sent-total').textContent = fmt(s.totals.sent);
  $('read-rate').textContent = (last ? fmt(last.readPerS) : '0') + '/s';
  $('read-total').textContent = fmt(s.totals.read);
  $('in-flight').textContent = fmt(s.inFlight.messages);
  $('in-flight-sub').textContent =
    s.inFlight.batches + ' batches · ' + bytes(s.inFlight.bytes) + (s.pausedNow > 0 ? ' · readers paused' : '');
  $('dead-count').textContent = fmt(s.deadLetterCount);
  $('last-sync').textContent = s.lastSyncMs ? ago(s.nowMs - s.lastSyncMs) : 'never';
  const t = s.totals;
  const txns =
    t.transactionsCommitted + t.transactionsAborted > 0
      ? ' · transactions ' +
        fmt(t.transactionsCommitted) +
        ' committed, ' +
        fmt(t.transactionsAborted) +
        ' aborted, last commit ' +
        Math.round(t.lastCommitMs) +
        ' ms'
      : '';
  $('retries').textContent = fmt(t.retries) + ' retries · ' + fmt(t.pauses) + ' pauses' + txns;
  drawChart(s.history);

  const conns = $('connections');
  conns.replaceChildren(
    ...s.readiness.parts.map((p) => {
      const li = document.createElement('li');
      li.appendChild(el('span', undefined, 'dot' + (p.ok ? ' ok' : '')));
      li.appendChild(el('b', p.name));
      li.appendChild(el('span', p.state));
      return li;
    }),
  );

  fill(
    $('topics'),
    s.topics.map((t) => row([[t.topic], [fmt(t.perS), 'num'], [fmt(t.sent), 'num']])),
    3,
    'nothing sent yet',
  );
  $('stream-count').textContent = s.streamCount + ' read' + (s.streams.length < s.streamCount ? ', busiest shown' : '');
  fill(
    $('streams'),
    s.streams.map((r) =>
      row([
        [r.db],
        [r.stream, 'wrap'],
        [fmt(r.lag), 'num'],
        [fmt(r.pending), 'num'],
        [r.oldestPendingAgeS === null ? '–' : r.oldestPendingAgeS + ' s', 'num'],
      ]),
    ),
    5,
    'no streams read yet',
  );

  const errors = $('errors');
  errors.replaceChildren(
    ...s.errors.map((e) => {
      const li = document.createElement('li');
      li.appendChild(el('span', e.level, 'lvl ' + e.level));
      li.appendChild(el('span', new Date(e.timeMs).toLocaleTimeString() + ' ' + e.msg));
      if (e.detail) li.appendChild(el('span', e.detail, 'detail'));
      return li;
    }),
  );
  if (s.errors.length === 0) errors.appendChild(el('li', 'none since start', 'empty'));

  const dead = $('dead');
  dead.replaceChildren(
    ...s.deadLetters.map((d) => {
      const li = document.createElement('li');
      li.appendChild(el('span', 'DEAD', 'lvl ERROR'));
      li.appendChild(
        el('span', new Date(d.failedAtMs).toLocaleString() + ' · ' + d.topic + ' · ' + bytes(d.payloadBytes)),
      );
      li.appendChild(el('span', d.reason, 'reason'));
      li.appendChild(el('span', d.key, 'detail'));
      return li;
    }),
  );
  if (s.deadLetters.length === 0) dead.appendChild(el('li', 'none', 'empty'));
}

async function poll() {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    render(await res.json());
    $('offline').hidden = true;
  } catch {
    $('offline').hidden = false;
  } finally {
    window.setTimeout(poll, POLL_MS);
  }
}

poll();
