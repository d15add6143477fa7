// The admin dashboard: the summary polled every few seconds, drawn as tables and SVG,
// and the controls (pause, drain, stop, batch pause/priority/cancel, retry by cause).
"use strict";

const EVERY_MS = 3000;  // how often the summary is read while the page is visible
const $ = (selector) => document.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";
let current = null;
let timer = null;

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function dollars(amount) {
  if (amount === null || amount === undefined) return "–";
  return amount >= 0.01 || amount === 0 ? `$${amount.toFixed(2)}` : `$${amount.toFixed(4)}`;
}

function ago(iso) {
  return iso ? duration((Date.now() - Date.parse(iso)) / 1000) + " ago" : "–";
}

async function call(method, path, body) {
  const answer = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.error || `${answer.status} ${answer.statusText}`);
  return data;
}

function act(method, path, body) {
  return async (event) => {
    if (event && event.target) event.target.disabled = true;
    try {
      await call(method, path, body);
      $("#problem").hidden = true;
    } catch (error) {
      showProblem(error.message);
    }
    refresh();
  };
}

function showProblem(message) {
  const problem = $("#problem");
  problem.textContent = message;
  problem.hidden = false;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function drawState(s) {
  const state = $("#state");
  const waiting = s.waiting.reduce((sum, row) => sum + row.count, 0);
  state.textContent = s.paused
    ? `Processing is paused: ${s.running.length} running videos finish, ${waiting} wait.`
    : `Processing: ${s.running.length} running, ${waiting} waiting.`;
  state.className = s.paused ? "state paused" : "state";
  const button = $("#pause");
  button.disabled = false;
  button.textContent = s.paused ? "Resume all" : "Pause all";
  button.dataset.paused = s.paused ? "true" : "false";
  $("#updated").textContent = `updated ${new Date(Date.parse(s.now)).toLocaleTimeString()}`;
}

function drawWaiting(s) {
  fill($("#waiting tbody"), s.waiting.map((row) => el("tr", {},
    el("th", { text: row.priority }),
    el("td", { class: "n", "data-waiting": row.priority, text: row.count }),
    el("td", { class: "n muted", text: row.count ? `oldest ${duration(row.oldestWaitS)}` : "" }))));
}

function drawEnded(s) {
  fill($("#ended tbody"), ["completed", "failed", "cancelled"].map((status) => el("tr", {},
    el("th", { text: status }),
    el("td", { class: "n", "data-ended": `lastHour-${status}`, text: s.ended.lastHour[status] }),
    el("td", { class: "n", "data-ended": `lastDay-${status}`, text: s.ended.lastDay[status] }))));
}

function drawSpending(s) {
  const sp = s.spending;
  const parts = [];
  const budget = sp.dailyBudgetUsd;
  parts.push(el("p", {}, "Today ", el("strong", { "data-spending": "today", text: dollars(sp.todayUsd) }),
    budget ? ` of ${dollars(budget)}` : "", el("br"), "This month ",
    el("strong", { "data-spending": "month", text: dollars(sp.monthUsd) }),
    el("br"), el("small", { class: "muted", text: `failed attempts: ${dollars(sp.failedTodayUsd)} today, ${dollars(sp.failedMonthUsd)} this month` })));
  if (budget) {
    const used = Math.min(1, sp.todayUsd / budget);
    parts.push(el("div", { class: used >= 1 ? "meter over" : "meter", role: "meter", "aria-valuenow": used.toFixed(2), "aria-label": "Daily budget used" },
      el("span", { style: `width:${(used * 100).toFixed(1)}%` })));
  }
  if (sp.byModel.length) {
    parts.push(el("table", { class: "list" },
      el("thead", {}, el("tr", {}, el("th", { text: "Teller · model" }), el("th", { class: "n", text: "today" }), el("th", { class: "n", text: "month" }))),
      el("tbody", {}, sp.byModel.map((row) => el("tr", {},
        el("td", { text: `${row.teller} · ${row.model || "default"}` }),
        el("td", { class: "n", text: dollars(row.todayUsd) }),
        el("td", { class: "n", text: dollars(row.monthUsd) }))))));
  }
  if (sp.byUser.length) {
    parts.push(el("table", { class: "list", "data-spending": "by-user" },
      el("caption", { class: "muted", text: "By user, this month" }),
      el("thead", {}, el("tr", {}, el("th", { text: "User" }), el("th", { class: "n", text: "today" }), el("th", { class: "n", text: "month" }))),
      el("tbody", {}, sp.byUser.map((row) => el("tr", {},
        el("td", { text: row.name || "no account (open mode)" }),
        el("td", { class: "n", text: row.dailyBudgetUsd ? `${dollars(row.todayUsd)} of ${dollars(row.dailyBudgetUsd)}` : dollars(row.todayUsd) }),
        el("td", { class: "n", text: dollars(row.monthUsd) }))))));
  }
  $("#spending").replaceChildren(...parts);
}

// Videos a minute over 24 hours, in 15-minute steps (a point per minute is noise on a phone).
function drawThroughput(s) {
  const step = 15, points = [];
  for (let i = 0; i < s.throughput.length; i += step) {
    const slice = s.throughput.slice(i, i + step);
    points.push(slice.reduce((a, b) => a + b, 0) / slice.length);
  }
  const width = 720, height = 140, left = 34, bottom = 18;
  const top = Math.max(1, ...points);
  const x = (i) => left + (i / (points.length - 1)) * (width - left - 4);
  const y = (v) => height - bottom - (v / top) * (height - bottom - 8);
  const line = points.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const area = `${line}L${x(points.length - 1).toFixed(1)},${y(0)}L${x(0)},${y(0)}Z`;
  const lastHour = s.throughput.slice(-60).reduce((a, b) => a + b, 0) / 60;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Throughput: ${lastHour.toFixed(2)} videos a minute over the last hour, at most ${top.toFixed(2)}` },
    el("svg:line", { class: "axis", x1: left, x2: width, y1: y(0), y2: y(0) }),
    el("svg:text", { x: 0, y: y(top) + 4, text: top.toFixed(1) }),
    el("svg:text", { x: 0, y: y(0) + 4, text: "0" }),
    el("svg:text", { x: left, y: height - 2, text: "24 h ago" }),
    el("svg:text", { x: width - 30, y: height - 2, text: "now" }),
    el("svg:path", { class: "area", d: area }),
    el("svg:path", { class: "line", d: line }));
  $("#throughput").replaceChildren(svg, el("p", { class: "muted", "data-throughput": lastHour.toFixed(2),
    text: `${lastHour.toFixed(2)} videos a minute over the last hour` }));
}

function drawStages(s) {
  if (!s.stages.length) {
    $("#stages").replaceChildren(el("p", { class: "muted", text: "No stage has run in the last 24 hours." }));
    return;
  }
  const row = 26, left = 70, width = 360, height = s.stages.length * row + 8;
  const top = Math.max(...s.stages.map((st) => st.p95S), 0.001);
  const w = (v) => (v / top) * (width - left - 70);
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Seconds per stage" },
    s.stages.map((st, i) => el("svg:g", { transform: `translate(0 ${i * row + 4})` },
      el("svg:text", { x: 0, y: 14, text: st.stage }),
      el("svg:rect", { class: "p95", x: left, y: 2, height: 16, width: w(st.p95S).toFixed(1) }),
      el("svg:rect", { class: "p50", x: left, y: 2, height: 16, width: w(st.p50S).toFixed(1) }),
      el("svg:text", { x: left + w(st.p95S) + 4, y: 14, text: `${st.p50S.toFixed(1)} / ${st.p95S.toFixed(1)} s` }))));
  $("#stages").replaceChildren(svg, el("p", { class: "muted", text: "inner bar: p50, whole bar: p95 (runs: " +
    s.stages.map((st) => `${st.stage} ${st.count}`).join(", ") + ")" }));
}

function drawFailures(s) {
  if (!s.failures.length) {
    $("#failures").replaceChildren(el("p", { class: "muted", text: "No failed videos." }));
    return;
  }
  $("#failures").replaceChildren(...s.failures.map((row) => el("div", { class: "failure", "data-cause": row.code },
    el("header", {},
      el("strong", { text: row.label }),
      el("span", { class: "n", "data-failures": row.code, text: row.count }),
      el("button", { type: "button", onclick: act("POST", `/api/admin/failures/${encodeURIComponent(row.code)}/retry`),
        text: "Retry all" })),
    el("ul", {}, row.examples.map((example) => el("li", {},
      el("a", { href: `/?job=${example.jobId}`, text: example.name }), ` — ${example.error || row.code}`))))));
}

function drawRunning(s) {
  $("#running-count").textContent = `(${s.running.length})`;
  fill($("#running tbody"), s.running.map((video) => el("tr", {},
    el("td", {}, el("a", { href: `/?job=${video.jobId}`, text: video.name })),
    el("td", { text: video.stage ? `${video.stage} ${Math.round(video.progress * 100)}%` : "starting" }),
    el("td", { class: "n", text: duration(video.runningS) }),
    el("td", {}, el("code", { text: video.workerId || "–" })))));
}

function drawWorkers(s) {
  fill($("#workers tbody"), s.workers.map((worker) => {
    const live = !["stopped", "stopping"].includes(worker.state);
    const id = encodeURIComponent(worker.id);
    return el("tr", { "data-worker": worker.id },
      el("td", {}, el("code", { text: `${worker.host} · ${worker.pid}` }), el("br"),
        el("small", { class: "muted", text: `${worker.kind}, ${worker.concurrency} at a time, ${worker.queues.join("/")}, since ${ago(worker.startedAt)}` })),
      el("td", {}, el("span", { class: `tag ${worker.state}`, text: worker.state })),
      el("td", { class: "n", text: worker.videosDone }),
      el("td", { class: "n", text: worker.current.length }),
      el("td", { text: ago(worker.heartbeatAt) }),
      el("td", {},
        live && !worker.draining ? el("button", { type: "button", onclick: act("POST", `/api/admin/workers/${id}/drain`), text: "Drain" }) : null,
        live && worker.draining ? el("button", { type: "button", onclick: act("POST", `/api/admin/workers/${id}/resume`), text: "Undrain" }) : null,
        live ? el("button", { type: "button", onclick: act("POST", `/api/admin/workers/${id}/stop`), text: "Stop" }) : null));
  }));
}

function drawBatches(s) {
  fill($("#batches tbody"), s.batches.map((batch) => {
    const select = el("select", { "aria-label": "Priority", onchange: (event) =>
      act("POST", `/api/admin/jobs/${batch.jobId}/priority`, { priority: event.target.value })(event) },
      ["high", "normal", "low"].map((p) => el("option", { value: p, selected: p === batch.priority, text: p })));
    return el("tr", { "data-batch": batch.jobId },
      el("td", {}, el("a", { href: `/?job=${batch.jobId}`, text: batch.jobId.slice(0, 8) }),
        batch.paused ? el("span", { class: "tag paused", text: " paused" }) : null),
      el("td", { class: "n", text: batch.waiting }),
      el("td", { class: "n", text: batch.running }),
      el("td", {}, select),
      el("td", {},
        el("button", { type: "button", onclick: act("POST", `/api/admin/jobs/${batch.jobId}/${batch.paused ? "resume" : "pause"}`),
          text: batch.paused ? "Resume" : "Pause" }),
        el("button", { type: "button", onclick: act("POST", `/api/job/${batch.jobId}/cancel`), text: "Cancel" })));
  }));
}

function draw(s) {
  current = s;
  drawState(s);
  drawWaiting(s);
  drawEnded(s);
  drawSpending(s);
  drawThroughput(s);
  drawRunning(s);
  drawStages(s);
  drawFailures(s);
  drawWorkers(s);
  drawBatches(s);
  document.body.dataset.loaded = "true";
}

async function refresh() {
  clearTimeout(timer);
  try {
    draw(await call("GET", "/api/admin/summary"));
  } catch (error) {
    showProblem(`Cannot read the figures: ${error.message}`);
  }
  if (!document.hidden) timer = setTimeout(refresh, EVERY_MS);
}

$("#pause").addEventListener("click", (event) => {
  const paused = current && current.paused;
  act("POST", paused ? "/api/admin/resume" : "/api/admin/pause")(event);
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
