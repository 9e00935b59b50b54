// The IpCount page: draws each snapshot the server sends (Server-Sent Events); it never polls. The server
// aggregates: a window arrives as its total and its top IPs, however many IPs it holds.

const $ = (id) => document.getElementById(id);
const COLORS = ['#1d2430', '#3d7ee0', '#e0893d', '#3da55d', '#9b59b6', '#c9332b', '#16a2b8'];
const charts = {};

function text(tag, value, className) {
  const element = document.createElement(tag);
  element.textContent = value;
  if (className) element.className = className;
  return element;
}

function fill(body, rows) {
  body.replaceChildren(...rows);
}

/** A window's top IPs as a bar chart: one row each, the bar's width its share of the largest count. */
function drawTop(table, window) {
  const body = table.tBodies[0];
  if (!window) {
    fill(body, []);
    return;
  }
  table.dataset.windowStart = String(window.windowStart);
  const max = Math.max(1, ...window.top.map((r) => r.count));
  fill(
    body,
    window.top.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.ip = row.ip;
      tr.dataset.count = String(row.count);
      tr.dataset.revision = String(row.revision);
      if (row.open) tr.className = 'open';
      const bar = document.createElement('td');
      bar.className = 'bar';
      const fillBar = document.createElement('div');
      fillBar.style.width = `${(100 * row.count) / max}%`;
      bar.append(fillBar);
      const revision = row.open ? 'running' : row.revision > 1 ? `rev ${row.revision}` : '';
      tr.append(
        text('td', row.ip, 'ip'),
        bar,
        text('td', String(row.count), 'count'),
        text('td', revision, 'revision'),
      );
      return tr;
    }),
  );
}

function windowMeta(window) {
  if (!window) return 'no lines yet';
  const parts = [`${window.total} requests`, `${window.ips} IPs`];
  if (window.late > 0) parts.push(`${window.late} late`);
  if (window.bad > 0) parts.push(`${window.bad} bad`);
  parts.push(window.final ? 'closed' : window.openItems > 0 ? 'open' : 'closing');
  return parts.join(' · ');
}

/** One uPlot chart per element, rebuilt when its series change, else fed new data. */
function plot(id, series, data, height, timeZone) {
  const element = $(id);
  const key = series.map((s) => s.label).join('|');
  const width = Math.max(300, element.clientWidth);
  let chart = charts[id];
  if (chart && chart.key !== key) {
    chart.plot.destroy();
    element.replaceChildren();
    chart = undefined;
  }
  if (!chart) {
    const plotted = new uPlot(
      {
        width,
        height,
        series: [{}, ...series],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
        // Windows are shown in the run's zone, as the result lines print them.
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone),
      },
      data,
      element,
    );
    chart = { key, plot: plotted };
    charts[id] = chart;
  } else {
    chart.plot.setData(data);
    if (Math.abs(chart.plot.width - width) > 4) chart.plot.setSize({ width, height });
  }
}

function drawCharts(snapshot) {
  const windows = snapshot.windows;
  const xs = windows.map((w) => w.windowStart / 1000);
  const countOf = (w, ip) => w.top.find((r) => r.ip === ip)?.count ?? null;
  const requests = [
    { label: 'total', stroke: COLORS[0], width: 2 },
    ...snapshot.topIps.map((ip, i) => ({ label: ip, stroke: COLORS[(i + 1) % COLORS.length] })),
  ];
  plot(
    'requests-chart',
    requests,
    [xs, windows.map((w) => w.total), ...snapshot.topIps.map((ip) => windows.map((w) => countOf(w, ip)))],
    260,
    snapshot.timeZone,
  );
  plot(
    'rejects-chart',
    [
      { label: 'bad', stroke: COLORS[5] },
      { label: 'late', stroke: COLORS[2] },
    ],
    [xs, windows.map((w) => w.bad), windows.map((w) => w.late)],
    170,
    snapshot.timeZone,
  );
}

function drawShards(snapshot) {
  fill(
    $('shards').tBodies[0],
    snapshot.shards.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.shard = s.shardId;
      const lag = s.lagMs >= 1000 ? `${(s.lagMs / 1000).toFixed(1)} s` : `${s.lagMs} ms`;
      tr.append(
        text('td', s.shardId),
        text('td', s.watermark ?? '–'),
        text('td', lag),
        text('td', s.linesPerSecond.toFixed(1)),
        text('td', s.idle ? 'idle' : 'active'),
      );
      return tr;
    }),
  );
}

function drawDeadLetters(snapshot) {
  const undated = snapshot.undatedBadLines > 0 ? ` (${snapshot.undatedBadLines} undated, in no window)` : '';
  $('bad-total').textContent = `${snapshot.badLines} bad lines since the page started${undated}`;
  fill(
    $('dead-letters').tBodies[0],
    snapshot.deadLetters.map((d) => {
      const tr = document.createElement('tr');
      tr.append(text('td', d.shardId), text('td', d.reason), text('td', d.detail), text('td', d.raw, 'raw'));
      return tr;
    }),
  );
}

function drawAlerts(snapshot) {
  $('alert-threshold').textContent =
    snapshot.alertThreshold > 0
      ? `at ${snapshot.alertThreshold} requests a window`
      : 'off (--alert-threshold N)';
  const list = $('alerts');
  if (snapshot.alerts.length === 0) {
    fill(list, [text('li', snapshot.alertThreshold > 0 ? 'none yet' : 'alerts are off', 'none')]);
    return;
  }
  fill(
    list,
    snapshot.alerts.map((a) => {
      const li = text('li', `ALERT ${a.clock} ${a.ip} ${a.count} ≥ ${a.threshold}`);
      li.dataset.ip = a.ip;
      li.dataset.windowStart = String(a.windowStart);
      li.dataset.count = String(a.count);
      return li;
    }),
  );
}

function draw(snapshot) {
  const status = $('status');
  status.className = 'status';
  status.textContent = `${snapshot.windowSeconds} s windows, ${snapshot.timeZone} · updated ${new Date(snapshot.generatedAt).toLocaleTimeString()}`;
  $('current-clock').textContent = snapshot.current ? snapshot.current.clock : '';
  $('current-meta').textContent = windowMeta(snapshot.current);
  drawTop($('current-top'), snapshot.current);
  $('closed-clock').textContent = snapshot.lastClosed ? snapshot.lastClosed.clock : '';
  $('closed-meta').textContent = windowMeta(snapshot.lastClosed);
  drawTop($('closed-top'), snapshot.lastClosed);
  drawAlerts(snapshot);
  drawShards(snapshot);
  drawDeadLetters(snapshot);
  drawCharts(snapshot);
  document.body.dataset.generatedAt = String(snapshot.generatedAt);
}

const events = new EventSource('/events');
events.onmessage = (event) => draw(JSON.parse(event.data));
events.onerror = () => {
  const status = $('status');
  status.className = 'status down';
  status.textContent = 'disconnected from the run; reconnecting…';
};
