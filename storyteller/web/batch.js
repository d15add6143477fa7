// One batch at a glance: a header with counts by state, one progress bar with the time
// left, a badge that tells the truth; a compact row per video (thumbnail, name, state,
// title when done), filters by state, failures first; a story opened on demand.
// Live: Server-Sent Events (polling while they are not available). 100 videos stay
// smooth: changes are applied once per animation frame, to the rows that changed only.
import { $, api, el, namedButton, announce, tell, confirmDialog, duration, ordinal, exportLinks, ApiError } from "./common.js";
import { openStory, storyChanged } from "./story.js";

const POLL_MS = 3000;
const TITLE = "Video Storyteller";
const UNFINISHED = new Set(["pending", "processing"]);
// The product's words for each pipeline stage, when the server does not send its own.
const STAGES = { probe: "reading the file", hash: "reading the file", scenes: "finding the shots",
  faces: "looking at the pictures", look: "looking at the pictures", speech: "listening",
  text: "reading the text on screen", tell: "writing the story" };
const FILTERS = [["all", "All"], ["pending", "Waiting"], ["processing", "Running"],
  ["completed", "Done"], ["failed", "Failed"], ["cancelled", "Cancelled"]];
const STATE_WORDS = { pending: "waiting", processing: "running", completed: "done",
  failed: "failed", cancelled: "cancelled" };

let job = null;              // the batch shown (without its videos)
const videos = new Map();    // id -> the video as last heard
const rows = new Map();      // id -> its row
const changed = new Set();   // ids to draw at the next frame
let ended = [];              // videos that ended since the last frame: announced together
let frame = 0;
let events = null;
let pollTimer = null;
let watching = null;
let wasUnfinished = false;   // the batch had work left at the last frame
let pace = null;             // {at, ended}: when this page first saw the batch, for time left
let failedFirst = "";        // the failed ids last put first
let rereading = 0;           // the timer that reads the batch again for places in line
const REREAD_MS = 10_000;

const state = (video) => video.statusDetail || video.status;

export async function showJob(jobId, { focus = false } = {}) {
  stopWatching();
  if (!job || job.id !== jobId) reset();
  let fresh;
  try {
    fresh = await api("GET", `/api/job/${encodeURIComponent(jobId)}`);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) return "missing";
    tell($("#job-message"), `This batch cannot be shown: ${error.message}`, true);
    return "job";
  }
  take(fresh);
  $("#download").href = `/api/job/${encodeURIComponent(jobId)}/stories.zip`;
  exportLinks($("#download-as"), `/api/job/${encodeURIComponent(jobId)}/export`);
  draw();
  watch();
  if (focus) $("#job-title").focus();
  return "job";
}

function reset() {
  job = null;
  videos.clear();
  rows.clear();
  changed.clear();
  ended = [];
  pace = null;
  failedFirst = "";
  wasUnfinished = false;
  $("#videos").replaceChildren();
  $("#job-message").hidden = true;
  setFilter("all");
}

// A whole batch read from the server: rows added, changed ones marked.
function take(fresh) {
  const { videos: list, ...rest } = fresh;
  job = rest;
  for (const video of list) hear(video, false);
  const unfinished = list.filter((video) => UNFINISHED.has(state(video))).length;
  wasUnfinished = wasUnfinished || unfinished > 0;
  if (!pace) pace = { at: performance.now(), ended: list.length - unfinished };
}

// One video as heard (from an event or a read): kept, and drawn at the next frame.
function hear(video, live, at) {
  const before = videos.get(video.id);
  // Live updates carry no place in line or estimate (the last read's stand until the next).
  if (live && before && state(before) === state(video)) {
    video.queuePosition ??= before.queuePosition;
    video.etaS ??= before.etaS;
  }
  videos.set(video.id, video);
  if (at) video.heardAt = at;
  if (live && before && UNFINISHED.has(state(before)) && !UNFINISHED.has(state(video))) ended.push(video);
  changed.add(video.id);
}

function schedule() {
  if (frame) return;
  // A hidden tab gets no animation frames: the title and the notification still change.
  frame = document.hidden
    ? setTimeout(() => { frame = 0; draw(); }, 250)
    : requestAnimationFrame(() => { frame = 0; draw(); });
}

function draw() {
  if (!job) return;
  const list = $("#videos");
  const added = [];
  for (const id of changed) {
    const video = videos.get(id);
    let row = rows.get(id);
    if (!row) {
      row = makeRow(video);
      rows.set(id, row);
      added.push(row);
    }
    fillRow(row, video);
  }
  changed.clear();
  if (added.length) list.append(...added);
  putFailuresFirst();
  drawHeader();
  if (ended.length) {
    announce(ended.map((video) => `${video.originalName}: ${endWords(video)}`).join(". "));
    ended = [];
  }
}

function endWords(video) {
  const words = { completed: "the story is written", failed: `failed. ${video.error || ""}`,
    cancelled: "cancelled" };
  return words[state(video)] || state(video);
}

function makeRow(video) {
  const name = video.originalName;
  const id = video.id;
  // A grey box until the thumbnail exists (404 before): never a broken-image icon.
  const picture = el("img", { alt: "", width: 64, height: 36, hidden: true });
  picture.onload = () => { picture.hidden = false; };
  picture.onerror = () => { picture.removeAttribute("src"); };
  const thumb = el("span", { className: "thumb" }, picture);
  const open = el("button", { type: "button", className: "open", hidden: true, ariaExpanded: "false" },
    "Show the story", el("span", { className: "sr-only" }, ` of ${name}`));
  open.setAttribute("aria-controls", `panel-${id}`);
  const retry = namedButton("retry", "Retry", ` ${name}`);
  const cancel = namedButton("cancel", "Cancel", ` ${name}`);
  const message = el("p", { className: "message", hidden: true });
  const progress = el("progress", { max: 1, value: 0 });
  progress.setAttribute("aria-label", `Progress of ${name}`);
  const panel = el("div", { className: "panel", id: `panel-${id}`, hidden: true });
  const row = el("li", { className: "row", id: `video-${id}` },
    el("div", { className: "row-head" }, thumb,
      el("div", { className: "row-main" },
        el("h2", { className: "name", tabIndex: -1 }, name),
        el("p", { className: "row-title", hidden: true }),
        el("div", { className: "progress-line", hidden: true }, progress, el("span", { className: "stage" })),
        el("p", { className: "waiting hint", hidden: true }),
        el("p", { className: "reason", hidden: true })),
      el("span", { className: "badge status" }),
      el("div", { className: "row-actions" }, open, retry, cancel)),
    message, panel);
  open.onclick = () => toggleStory(row, open, panel);
  retry.onclick = () => retryVideo(id, message);
  cancel.onclick = () => cancelVideo(row, id, message);
  return row;
}

// Only what the row shows is compared: an event that changes nothing visible costs nothing.
function fillRow(row, video) {
  const detail = state(video);
  const percent = Math.round(100 * (video.progress || 0));
  const title = video.story ? video.story.split("\n")[0].replace(/^"(.*)"$/, "$1") : "";
  const shown = [detail, video.stage, video.stageLabel, percent, video.queuePosition, video.etaS,
    video.waiting, video.error, title, video.retryable, video.retryNote, video.storyVersion].join("|");
  if (video.heardAt) row.dataset.at = video.heardAt;
  if (row.dataset.shown === shown) return;
  const was = row.dataset.state;
  row.dataset.shown = shown;
  row.dataset.state = detail;
  const badge = $(".status", row);
  badge.textContent = STATE_WORDS[detail] || detail;
  badge.className = `badge status ${detail}`;
  const running = detail === "processing";
  $(".progress-line", row).hidden = !running;
  if (running) {
    const words = `${video.stageLabel || STAGES[video.stage] || "starting"} · ${percent}%`;
    const progress = $("progress", row);
    progress.value = video.progress || 0;
    progress.setAttribute("aria-valuetext", words);
    $(".stage", row).textContent = words;
  }
  const waiting = $(".waiting", row);
  const line = [];
  if (detail === "pending") {
    if (video.queuePosition) line.push(`${ordinal(video.queuePosition)} in line`);
    if (video.etaS) line.push(`starts in about ${duration(video.etaS)}`);
    if (video.waiting) line.push(video.waiting);
  }
  waiting.hidden = !line.length;
  waiting.textContent = line.join(" · ");
  const reason = $(".reason", row);
  reason.hidden = !video.error;
  reason.textContent = video.error || "";
  reason.className = detail === "cancelled" ? "reason hint" : "reason error";
  const rowTitle = $(".row-title", row);
  rowTitle.hidden = !title;
  rowTitle.textContent = title;
  // Asked once when the row appears and again when the video is done (made by then).
  const picture = $(".thumb img", row);
  if (picture.hidden && (!was || (detail === "completed" && was !== "completed"))) {
    picture.src = `/api/videos/${encodeURIComponent(video.id)}/thumbnail`;
  }
  $(".open", row).hidden = detail !== "completed" && !$(".panel", row).story;
  const retry = $(".retry", row);
  const ended = detail === "failed" || detail === "cancelled";
  retry.hidden = !ended || video.retryable === false;
  const message = $(".message", row);
  if (ended && video.retryable === false && video.retryNote) {
    // Shown, not announced: the row's end was announced already (with its reason).
    message.textContent = video.retryNote;
    message.hidden = false;
  }
  $(".cancel", row).hidden = !UNFINISHED.has(detail);
  storyChanged($(".panel", row), video);
}

function counts() {
  const count = { pending: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 };
  let progress = 0;
  for (const video of videos.values()) {
    const detail = state(video);
    count[detail] = (count[detail] || 0) + 1;
    progress += UNFINISHED.has(detail) ? (detail === "processing" ? video.progress || 0 : 0) : 1;
  }
  return { count, progress, total: videos.size };
}

// "7 done, 1 failed": every state that has videos, never "all done" over failures.
function badgeWords(count, total) {
  if (count.completed === total) return total === 1 ? "done" : `all ${total} done`;
  const parts = [`${count.completed} done`];
  if (count.failed) parts.push(`${count.failed} failed`);
  if (count.cancelled) parts.push(`${count.cancelled} cancelled`);
  const left = count.pending + count.processing;
  if (left) parts.push(`${left} to go`);
  return parts.join(", ");
}

function drawHeader() {
  const { count, progress, total } = counts();
  const left = count.pending + count.processing;
  const words = badgeWords(count, total);
  $("#job-title").textContent = `A batch of ${total} ${total === 1 ? "video" : "videos"}`;
  const badge = $("#job-status");
  badge.textContent = words;
  badge.className = `badge ${left ? "processing" : count.failed ? "failed" : count.completed ? "completed" : "cancelled"}`;
  const bar = $("#job-progress");
  bar.value = total ? progress / total : 0;
  const eta = timeLeft(count, total);
  const percent = Math.round(100 * bar.value);
  bar.setAttribute("aria-valuetext", `${percent}%${eta ? `, ${eta}` : ""}`);
  $("#job-eta").textContent = left ? `${percent}%${eta ? ` · ${eta}` : ""}` : "finished";
  for (const [key] of FILTERS) {
    const button = $(`#filters [data-filter="${key}"]`);
    const n = key === "all" ? total : count[key];
    $(".n", button).textContent = n;
    button.hidden = key !== "all" && n === 0 && $("#videos").dataset.filter !== key;
  }
  // Retry failed: only when a failure is one that retrying can help.
  $("#retry-all").disabled = ![...videos.values()].some((v) => state(v) === "failed" && v.retryable !== false);
  $("#cancel-rest").disabled = !left;
  const stories = count.completed > 0;
  $("#download").hidden = !stories;
  $("#download-as").hidden = !stories;
  document.title = `${count.completed}/${total} done${count.failed ? `, ${count.failed} failed` : ""} – ${TITLE}`;
  if (left && !rereading) rereading = setTimeout(() => { rereading = 0; refresh(); }, REREAD_MS);
  if (wasUnfinished && !left) batchEnded(words);
  wasUnfinished = left > 0;
}

// Time left: the server's estimate when it gives one, else this page's measured pace.
function timeLeft(count, total) {
  const left = count.pending + count.processing;
  if (!left) return "";
  if (job.etaS) return `about ${duration(job.etaS)} left`;
  const endedNow = total - left;
  const seconds = (performance.now() - pace.at) / 1000;
  const rate = (endedNow - pace.ended) / seconds;
  return rate > 0 && seconds > 5 ? `about ${duration(left / rate)} left` : "";
}

function batchEnded(words) {
  announce(`The batch is finished: ${words}.`);
  if (document.visibilityState === "hidden" && window.Notification && Notification.permission === "granted") {
    new Notification("Your videos are told", { body: words, tag: `batch-${job.id}` });
  }
}

function putFailuresFirst() {
  const failed = [...videos.values()].filter((v) => state(v) === "failed").map((v) => v.id);
  const key = failed.join(",");
  if (key === failedFirst) return;
  failedFirst = key;
  const list = $("#videos");
  const ordered = [...failed, ...[...videos.keys()].filter((id) => !failed.includes(id))];
  const current = [...list.children].map((row) => row.id.slice(6));
  if (ordered.join() !== current.join()) list.append(...ordered.map((id) => rows.get(id)));
}

function setFilter(key) {
  $("#videos").dataset.filter = key;
  for (const button of document.querySelectorAll("#filters button")) {
    button.setAttribute("aria-pressed", String(button.dataset.filter === key));
  }
}

async function toggleStory(row, button, panel) {
  const opening = panel.hidden;
  panel.hidden = !opening;
  button.setAttribute("aria-expanded", String(opening));
  button.firstChild.textContent = opening ? "Hide the story" : "Show the story";
  if (opening && !panel.story) {
    panel.replaceChildren(el("p", { className: "hint" }, "Loading…"));
    await openStory(panel, videos.get(row.id.slice(6)), job.id);
  }
  if (!opening) panel.story?.player?.pause();
}

async function retryVideo(id, message) {
  try {
    hear(await api("POST", `/api/job/${job.id}/video/${id}/retry`), false);
    tell(message, `${videos.get(id).originalName} is queued again.`);
    schedule();
  } catch (error) {
    tell(message, error.message, true);
  }
}

async function cancelVideo(row, id, message) {
  const name = videos.get(id).originalName;
  if (!await confirmDialog(`Cancel ${name}?`, "It stops and writes no story. You can retry it later.",
    `Cancel ${name}`, "Keep it going")) return;
  try {
    hear(await api("POST", `/api/job/${job.id}/video/${id}/cancel`), false);
    tell(message, `${name} is cancelled.`);
    draw();
  } catch (error) {
    tell(message, error.message, true);
  }
  $(".name", row).focus();  // its Cancel button is gone: the row keeps the focus
}

async function actAll(action, button) {
  const { count } = counts();
  if (action === "cancel") {
    const left = count.pending + count.processing;
    if (!await confirmDialog(`Cancel ${left} unfinished ${left === 1 ? "video" : "videos"}?`,
      "They stop and write no story. Finished stories stay.", "Cancel them", "Keep them going")) return;
  }
  try {
    const answer = await api("POST", `/api/job/${job.id}/${action}`);
    tell($("#job-message"), answer.message);
    await refresh();
  } catch (error) {
    tell($("#job-message"), error.message, true);
  }
  if (button.disabled) $("#job-title").focus();
}

// Read the whole batch again: after the stream (re)opens, so that no change made
// between the last read and the stream's start is missed.
async function refresh() {
  if (!job || watching !== job.id) return;
  const jobId = job.id;
  try {
    const fresh = await api("GET", `/api/job/${jobId}`);
    if (job && job.id === jobId) { take(fresh); schedule(); }
  } catch { /* the next event or poll will do */ }
}

function watch() {
  watching = job.id;
  if (!window.EventSource) { poll(); return; }
  events = new EventSource(`/api/events?job=${encodeURIComponent(job.id)}`);
  events.addEventListener("video", (event) => {
    const data = JSON.parse(event.data);
    if (!job || data.jobId !== job.id) return;
    job.status = data.jobStatus;
    hear(data.video, true, data.at);
    schedule();
  });
  events.addEventListener("reset", () => refresh());
  events.addEventListener("deleted", () => {
    tell($("#job-message"), "This batch was deleted.", true);
    stopWatching();
  });
  events.onopen = () => {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    refresh();
  };
  // The browser reconnects by itself (with Last-Event-ID); poll meanwhile.
  events.onerror = () => { if (!pollTimer) poll(); };
}

async function poll() {
  const jobId = job.id;
  await refresh();
  const streaming = events && events.readyState === EventSource.OPEN;
  if (watching === jobId && !streaming) pollTimer = setTimeout(poll, POLL_MS);
}

export function stopWatching() {
  watching = null;
  clearTimeout(rereading);
  rereading = 0;
  if (events) { events.close(); events = null; }
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  document.title = TITLE;
}

export function start() {
  $("#filters").replaceChildren(...FILTERS.map(([key, words]) => {
    const button = el("button", { type: "button", className: "filter" }, `${words} `, el("span", { className: "n" }, "0"));
    button.dataset.filter = key;
    button.onclick = () => setFilter(key);
    return button;
  }));
  $("#retry-all").onclick = (event) => actAll("retry", event.currentTarget);
  $("#cancel-rest").onclick = (event) => actAll("cancel", event.currentTarget);
}
