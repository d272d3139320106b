// The dashboard page: one EventSource (riding on the session cookie) delivers the whole
// board once ("snapshot"), then a "delta" every second; views render from `state`.
// Reads go to /api/v1 with the same cookie; anything that changes state sends the
// session's CSRF secret in the header /dashboard/session names.
"use strict";

const state = { board: null, fleet: new Map(), csrf: null, csrfHeader: "X-CSRF-Token", source: null };
const charts = {};
const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en");

function text(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function cell(row, content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (content instanceof Node) td.append(content); else td.textContent = content;
  row.append(td);
  return td;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.method && options.method !== "GET") headers[state.csrfHeader] = state.csrf;
  const answer = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (answer.status === 401) { window.location.replace("/login"); throw new Error("signed out"); }
  if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
  return answer.status === 204 ? null : answer.json();
}

// -- the stream -------------------------------------------------------------------------

function connect() {
  const link = $("link");
  const source = new EventSource("/dashboard/events");
  state.source = source;
  source.addEventListener("open", () => { link.dataset.state = "live"; link.textContent = "live"; });
  source.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener("delta", (e) => applyDelta(JSON.parse(e.data)));
  source.addEventListener("error", async () => {
    link.dataset.state = "connecting"; link.textContent = "reconnecting";
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // Closed for good: a coordinator restart answers 5xx, an expired session 401.
    try {
      const answer = await fetch("/dashboard/session", { credentials: "same-origin" });
      if (answer.status === 401) { window.location.replace("/login"); return; }
    } catch (e) { /* down: retry below */ }
    link.dataset.state = "down"; link.textContent = "coordinator unreachable, retrying";
    setTimeout(connect, 2000);
  });
}

function applySnapshot(board) {
  state.board = board;
  state.fleet = new Map(board.fleet.map((row) => [row.id, row]));
  $("version").textContent = `coordinator ${board.version}`;
  renderTotals(board.totals);
  renderFleet();
  renderAlerts(board.alerts);
  renderModels(board.models);
  splitFrom(board.now, board.totals.scoring, true);
  chartsFrom(board.series, true);
}

function applyDelta(d) {
  for (const row of d.fleet) state.fleet.set(row.id, row);
  for (const id of d.removed) state.fleet.delete(id);
  state.board.now = d.now;
  renderTotals(d.totals);
  renderFleet();
  if (d.alerts) renderAlerts(d.alerts);
  if (d.models) renderModels(d.models);
  splitFrom(d.now, d.totals.scoring, false);
  chartsFrom(d.points, false);
}

// -- views ------------------------------------------------------------------------------

function renderTotals(t) {
  $("kpi-rate").textContent = fmt.format(Math.round(t.ingest_readings_per_s));
  $("kpi-stored").textContent = fmt.format(t.readings_stored);
  $("kpi-anomalies").textContent = fmt.format(t.anomalies_stored);
  $("kpi-online").textContent = `${t.agents_online}`;
  $("kpi-agents").textContent = `of ${t.agents}`;
  $("kpi-rejected").textContent = fmt.format(t.rejected);
  const sc = t.scoring;
  const pct = (n) => (sc.readings ? `${Math.round((100 * n) / sc.readings)} %` : "–");
  $("kpi-scoring").textContent = sc.readings ? `${pct(sc.edge_model)} model` : "–";
  $("kpi-cloud").textContent = `${pct(sc.edge_rules)} rules · ${pct(sc.cloud_rescored)} re-scored` +
    (sc.agreement === null ? "" : ` · ${(100 * sc.agreement).toFixed(1)} % agree`);
  $("kpi-alerts").textContent = fmt.format(t.alerts_open);
  $("kpi-critical").textContent = `${t.alerts_critical} critical unacknowledged`;
  $("kpi-alerts-box").classList.toggle("critical", t.alerts_critical > 0);
  $("kpi-broker").textContent = t.broker_connected ? "up" : "down";
  $("kpi-queue").textContent = `ingest queue ${t.queue_depth}`;
}

function renderFleet() {
  const body = $("fleet").tBodies[0];
  const rows = [...state.fleet.values()].sort((a, b) => a.id.localeCompare(b.id));
  $("fleet-empty").hidden = rows.length > 0;
  const now = state.board ? state.board.now : Date.now() / 1000;
  body.replaceChildren(...rows.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.id;
    cell(tr, a.id);
    cell(tr, a.state, `state-${a.state}`).dataset.field = "state";
    cell(tr, a.tier || "–");
    cell(tr, text(a.cpu_percent), "num");
    cell(tr, text(a.memory_percent), "num");
    cell(tr, a.battery_percent === null ? "–" : `${text(a.battery_percent)}${a.battery_simulated ? " (sim)" : ""}`, "num");
    cell(tr, a.outbox_rows === null ? "–" : fmt.format(a.outbox_rows), "num");
    cell(tr, age(a.outbox_oldest_age_s), "num");
    cell(tr, `${a.sensors_active === null ? "–" : a.sensors_active} / ${a.sensors_desired}`, "num");
    cell(tr, Object.entries(a.models).map(([t, v]) => `${t}@${v}`).join(", ") || "rules");
    const sync = cell(tr, a.stuck ? "stuck" : a.converged ? "in sync" : "applying", a.stuck ? "stuck" : a.converged ? "" : "behind");
    sync.title = `desired generation ${a.generation_desired}, reported ${a.generation_reported ?? "none"}`;
    const conditions = document.createElement("span");
    for (const c of a.conditions) {
      const tag = document.createElement("span"); tag.className = "cond"; tag.textContent = c; conditions.append(tag);
    }
    cell(tr, conditions);
    cell(tr, a.last_heartbeat_at === null ? "–" : `${age(now - a.last_heartbeat_at)} ago`, "num");
    return tr;
  }));
}

function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString() : "–";
}

function severity(tr, a) {
  cell(tr, a.severity, `sev sev-${a.severity}`);
}

async function act(id, what, button) {
  button.disabled = true;
  try {
    await api(`/api/v1/alerts/${id}/${what}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ by: "dashboard" }),
    });
  } catch (e) {
    console.warn(`${what} failed: ${e.message}`);
    button.disabled = false;
  }
}

function renderAlerts(alerts) {
  const body = $("alerts").tBodies[0];
  $("alerts-empty").hidden = alerts.active.length > 0;
  body.replaceChildren(...alerts.active.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.alert = String(a.id);
    tr.className = a.state;
    severity(tr, a);
    cell(tr, a.rule);
    cell(tr, a.scope);
    cell(tr, a.silenced ? `${a.state} (silenced)` : a.state).dataset.field = "state";
    cell(tr, a.message, "msg");
    cell(tr, when(a.raised_at));
    cell(tr, a.sources.join(", "));
    const actions = document.createElement("span");
    if (a.state === "open") {
      const ack = document.createElement("button");
      ack.type = "button"; ack.textContent = "Acknowledge"; ack.dataset.action = "ack";
      ack.addEventListener("click", () => act(a.id, "ack", ack));
      actions.append(ack);
    }
    const clear = document.createElement("button");
    clear.type = "button"; clear.textContent = "Clear"; clear.dataset.action = "clear";
    clear.addEventListener("click", () => act(a.id, "clear", clear));
    actions.append(" ", clear);
    cell(tr, actions);
    return tr;
  }));
  const recent = $("alerts-recent").tBodies[0];
  recent.replaceChildren(...alerts.recent.map((a) => {
    const tr = document.createElement("tr");
    severity(tr, a);
    cell(tr, a.rule);
    cell(tr, a.scope);
    cell(tr, a.message, "msg");
    cell(tr, when(a.raised_at));
    cell(tr, when(a.cleared_at));
    cell(tr, a.cleared_by || "–");
    return tr;
  }));
}

// The split is cumulative on the wire: readings/s come from two consecutive totals.
let lastSplit = null;
function splitFrom(now, sc, replace) {
  if (!charts.split) charts.split = new LiveChart($("chart-split"), ["edge model", "edge rules", "cloud"]);
  if (replace) { charts.split.replace([]); lastSplit = null; }
  if (lastSplit && now > lastSplit.now) {
    const dt = now - lastSplit.now;
    const rate = (k) => Math.max(0, (sc[k] - lastSplit.sc[k]) / dt);
    charts.split.push([{ t: now, values: { "edge model": rate("edge_model"), "edge rules": rate("edge_rules"), cloud: rate("cloud_rescored") } }]);
  }
  lastSplit = { now, sc };
}

function renderModels(m) {
  const rollouts = $("rollouts").tBodies[0];
  $("rollouts-empty").hidden = m.rollouts.length > 0;
  const byId = new Map(m.models.map((x) => [x.id, x]));
  rollouts.replaceChildren(...m.rollouts.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.rollout = String(r.id);
    const model = byId.get(r.model_id);
    cell(tr, `#${r.id}`);
    cell(tr, model ? `${model.sensor_type}@${model.version} (${r.tier})` : `model ${r.model_id}`);
    cell(tr, r.shadow ? `${r.state} (shadow)` : r.state).dataset.field = "state";
    cell(tr, r.canary.join(", ") || "–");
    cell(tr, r.gate ? `${r.gate.decision}${r.gate.reasons.length ? ": " + r.gate.reasons.join("; ") : ""}` : "–", "msg");
    cell(tr, when(r.started_at));
    const last = r.events[r.events.length - 1];
    cell(tr, last ? `${last.kind}: ${last.reason}` : "–", "msg");
    return tr;
  }));
  const models = $("models").tBodies[0];
  models.replaceChildren(...m.models.map((x) => {
    const tr = document.createElement("tr");
    cell(tr, `#${x.id}`);
    cell(tr, x.sensor_type);
    cell(tr, x.tier);
    cell(tr, String(x.version));
    cell(tr, x.status).dataset.field = "status";
    cell(tr, fmt.format(x.training.rows), "num");
    const rate = x.evaluation ? x.evaluation.anomaly_rate : null;
    cell(tr, rate === null || rate === undefined ? "–" : `${(100 * rate).toFixed(1)} %`, "num");
    cell(tr, when(x.created_at));
    return tr;
  }));
}

function chartsFrom(points, replace) {
  const types = new Set();
  for (const p of points) for (const t of Object.keys(p.anomaly_rate)) types.add(t);
  if (!charts.ingest) {
    charts.ingest = new LiveChart($("chart-ingest"), ["readings/s", "anomalies/s"]);
    charts.latency = new LiveChart($("chart-latency"), ["p50", "p99"], { scale: 1000 });
    charts.anomaly = new LiveChart($("chart-anomaly"), [], { scale: 100 });
  }
  const known = new Set(charts.anomaly.names);
  for (const t of types) known.add(t);
  charts.anomaly.setNames([...known].sort());
  const way = replace ? "replace" : "push";
  charts.ingest[way](points.map((p) => ({ t: p.t, values: { "readings/s": p.readings_per_s, "anomalies/s": p.anomalies_per_s } })));
  charts.latency[way](points.map((p) => ({ t: p.t, values: { p50: p.latency_p50_s, p99: p.latency_p99_s } })));
  charts.anomaly[way](points.map((p) => ({ t: p.t, values: p.anomaly_rate })));
}

async function showSensors() {
  const sensors = await api("/api/v1/sensors");
  const body = $("sensors").tBodies[0];
  body.replaceChildren(...sensors.map((s) => {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = `#sensor/${encodeURIComponent(s.sensor_id)}`; link.textContent = s.sensor_id;
    cell(tr, link);
    cell(tr, s.sensor_type);
    cell(tr, s.assigned_to || (s.activity && s.activity.last_agent) || "–");
    cell(tr, s.activity ? fmt.format(s.activity.readings) : "0", "num");
    cell(tr, s.activity ? fmt.format(s.activity.anomalies) : "0", "num");
    cell(tr, s.activity ? new Date(s.activity.last_ts * 1000).toLocaleTimeString() : "–", "num");
    return tr;
  }));
}

async function showSensor(id) {
  $("sensor-title").textContent = `Sensor ${id}`;
  const [sensor, page] = await Promise.all([
    api(`/api/v1/sensors/${encodeURIComponent(id)}`),
    api(`/api/v1/readings?sensor_id=${encodeURIComponent(id)}&order=desc&limit=500`),
  ]);
  const readings = page.readings.slice().reverse();
  const place = sensor.latitude === null ? "no location" : `${sensor.latitude.toFixed(4)}, ${sensor.longitude.toFixed(4)}`;
  $("sensor-meta").textContent = `${sensor.sensor_type} · ${place} · ${sensor.assigned_to ? `assigned to ${sensor.assigned_to}` : "unassigned"}`;
  const metrics = [...new Set(readings.flatMap((r) => Object.keys(r.metrics)))].sort();
  // One small chart per metric (their scales differ by orders of magnitude), each with
  // the readings judged anomalous marked on its own line.
  const holder = $("sensor-charts");
  holder.replaceChildren(...metrics.map((m) => {
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = m;
    const element = document.createElement("div");
    element.className = "chart small";
    element.dataset.metric = m;
    figure.append(caption, element);
    return figure;
  }));
  for (const m of metrics) {
    const chart = new LiveChart(holder.querySelector(`[data-metric="${m}"]`), [m, "anomaly"], { keep: 500, markers: ["anomaly"] });
    chart.replace(readings.map((r) => ({ t: r.ts, values: { [m]: r.metrics[m], anomaly: r.anomaly ? r.metrics[m] : null } })));
  }
  const body = $("sensor-readings").tBodies[0];
  body.replaceChildren(...page.readings.slice(0, 50).map((r) => {
    const tr = document.createElement("tr");
    cell(tr, new Date(r.ts * 1000).toLocaleTimeString());
    cell(tr, Object.entries(r.metrics).map(([k, v]) => `${k} ${v === null ? "–" : v.toFixed(2)}`).join("  "));
    cell(tr, r.score === null ? "–" : r.score.toFixed(3), "num");
    cell(tr, r.anomaly ? "◆ anomaly" : "normal", r.anomaly ? "anomaly" : "");
    cell(tr, r.scorer);
    return tr;
  }));
}

async function route() {
  const hash = decodeURIComponent(window.location.hash.slice(1));
  $("overview").hidden = hash !== "";
  $("sensors-view").hidden = hash !== "sensors";
  $("sensor-view").hidden = !hash.startsWith("sensor/");
  try {
    if (hash === "sensors") await showSensors();
    else if (hash.startsWith("sensor/")) await showSensor(hash.slice("sensor/".length));
  } catch (e) {
    console.warn(e.message);
  }
}

async function main() {
  const session = await api("/dashboard/session");
  state.csrf = session.csrf_token;
  state.csrfHeader = session.csrf_header;
  $("logout").addEventListener("click", async () => {
    await api("/dashboard/session", { method: "DELETE" });
    window.location.replace("/login");
  });
  window.addEventListener("hashchange", route);
  connect();
  route();
}

main();
