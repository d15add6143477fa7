// Video Storyteller's page: choose videos, upload them as one batch, watch each one live
// (Server-Sent Events, polling when they are not available), read and copy the stories.
// The batch id lives in the address (?job=...), so a reload shows the same batch.
"use strict";

const $ = (selector) => document.querySelector(selector);
const VIDEO_TYPES = /\.(mp4|m4v|webm|mov|mkv|avi)$/i;
const POLL_MS = 3000;
const STAGES = { probe: "checking", hash: "checking", scenes: "watching", faces: "watching",
  look: "watching", text: "reading on-screen text", speech: "listening" };

let limits = { videoMaxSizeMb: 500, maxBatchVideos: 10, tellers: ["local"], defaultTeller: "local" };
let chosen = [];
let job = null;          // the batch shown: {id, status, videos: [...]}
let events = null;       // the EventSource, when open
let pollTimer = null;
let watching = null;     // the id of the batch whose updates are followed

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const answer = await fetch(path, options);
  const data = await answer.json().catch(() => ({}));
  if (answer.status === 401 && !path.startsWith("/api/auth/")) showSignIn();
  if (!answer.ok) throw new Error(data.error || `${answer.status} ${answer.statusText}`);
  return data;
}

// --- who is signed in ------------------------------------------------------------------

let me = null;  // {name, role, open}: who the page acts for

function showSignIn() {
  stopWatching();
  show("sign-in");
  $("#sign-in-name").focus();
  showSignInMethods();
}

// "Sign in with HOST" when the service signs in through an OpenID Connect provider.
async function showSignInMethods() {
  try {
    const methods = await api("GET", "/api/auth/methods");
    $("#sign-in-oidc-link").textContent = methods.oidc ? `Sign in with ${methods.oidc}` : "";
    $("#sign-in-oidc").hidden = !methods.oidc;
  } catch { /* the password form alone */ }
}

async function whoAmI() {
  try {
    me = await api("GET", "/api/auth/me");
  } catch {
    me = null;
  }
  const named = Boolean(me && me.name);
  $("#who").hidden = !named;
  $("#who").textContent = named ? `${me.name} (${me.role})` : "";
  $("#sign-out").hidden = !named;
  $("#account-link").hidden = !named;
  return me;
}

async function signIn(event) {
  event.preventDefault();
  const error = $("#sign-in-error");
  error.hidden = true;
  try {
    await api("POST", "/api/auth/login",
      { name: $("#sign-in-name").value, password: $("#sign-in-password").value });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  $("#sign-in-password").value = "";
  await whoAmI();
  await loadLimits();
  route();
}

async function signOut() {
  await api("POST", "/api/auth/logout").catch(() => {});
  me = null;
  job = null;
  $("#jobs").replaceChildren();
  $("#videos").replaceChildren();
  await whoAmI();
  history.pushState(null, "", "/");
  showSignIn();
}

async function showAccount() {
  show("account");
  stopWatching();
  $("#new-key-value").hidden = true;
  const keys = await api("GET", "/api/keys");
  $("#keys").replaceChildren(...keys.map((key) => {
    const item = document.createElement("li");
    const used = key.lastUsedAt ? new Date(key.lastUsedAt).toLocaleString() : "never";
    item.textContent = `${key.prefix}… created ${new Date(key.createdAt).toLocaleString()}, ` +
      `last used ${used}${key.revokedAt ? ", revoked" : ""}`;
    if (!key.revokedAt) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.textContent = "Revoke";
      revoke.onclick = async () => { await api("DELETE", `/api/keys/${key.id}`); showAccount(); };
      item.append(" ", revoke);
    }
    return item;
  }));
  $("#users-panel").hidden = !(me && me.role === "admin");
  if (!$("#users-panel").hidden) await showUsers();
}

async function showUsers() {
  const users = await api("GET", "/api/users");
  $("#users-table tbody").replaceChildren(...users.map((user) => {
    const row = document.createElement("tr");
    for (const value of [user.name, user.role, user.priority, user.videosPerDay ?? "no limit",
      user.disabled ? "yes" : "no"]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    const cell = document.createElement("td");
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.textContent = user.disabled ? "Enable" : "Disable";
    toggle.onclick = async () => {
      await api("PATCH", `/api/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled });
      showUsers();
    };
    cell.append(toggle);
    row.append(cell);
    return row;
  }));
}

async function newKey() {
  const made = await api("POST", "/api/keys");
  await showAccount();
  $("#new-key-value").textContent = made.key;
  $("#new-key-value").hidden = false;
}

async function addUser(event) {
  event.preventDefault();
  const error = $("#add-user-error");
  error.hidden = true;
  try {
    await api("POST", "/api/users", {
      name: $("#add-user-name").value, password: $("#add-user-password").value,
      role: $("#add-user-role").value, priority: $("#add-user-priority").value,
    });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  $("#add-user").reset();
  showUsers();
}

function say(text) { $("#live").textContent = text; }

// --- choosing files ---------------------------------------------------------------

function refusal(file) {
  if (!(file.type.startsWith("video/") || VIDEO_TYPES.test(file.name))) return "not a video file";
  if (file.size === 0) return "the file is empty";
  if (file.size > limits.videoMaxSizeMb * 1024 * 1024) return `over ${limits.videoMaxSizeMb} MB`;
  return null;
}

function choose(files) {
  chosen = [];
  const list = $("#chosen");
  list.replaceChildren();
  for (const file of files) {
    const reason = refusal(file) ||
      (chosen.length >= limits.maxBatchVideos ? `a batch holds at most ${limits.maxBatchVideos}` : null);
    const item = document.createElement("li");
    item.textContent = file.name;
    const note = document.createElement("span");
    note.textContent = reason ? `refused: ${reason}` : megabytes(file.size);
    item.append(note);
    if (reason) item.classList.add("refused"); else chosen.push(file);
    list.append(item);
  }
  $("#send").disabled = chosen.length === 0;
}

function megabytes(bytes) { return `${(bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0)} MB`; }

// --- uploading --------------------------------------------------------------------
// Resumable (tus): each file goes in chunks to /api/uploads/; a dropped connection is
// retried, and choosing the same files again after a reload resumes where they stopped.
// Then the finished uploads become one batch. Without tus, one multipart request.

const CHUNK_BYTES = window.STORYTELLER_CHUNK_BYTES || 8 * 1024 * 1024;
let tusLoading = null;

function loadTus() {
  // 87 KB: fetched when an upload starts, not with the page.
  tusLoading ??= new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = "/assets/vendor/tus.min.js";
    script.onload = () => resolve(window.tus && window.tus.isSupported ? window.tus : null);
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
  return tusLoading;
}

function progressOf(sent, total, started) {
  const seconds = (performance.now() - started) / 1000;
  $("#send-progress").value = total ? sent / total : 0;
  $("#send-text").textContent = `${Math.round(100 * sent / Math.max(total, 1))}% · ` +
    `${megabytes(sent / Math.max(seconds, 0.001))}/s`;
}

function failed(message) {
  $("#send-text").textContent = message;
  $("#send").disabled = false;
}

function done(jobId) {
  $("#sending").hidden = true;
  history.pushState(null, "", `/?job=${jobId}`);
  showJob(jobId);
}

async function upload() {
  $("#send").disabled = true;
  $("#sending").hidden = false;
  $("#send-text").textContent = "starting…";
  const tus = await loadTus();
  if (tus) uploadResumable(tus); else uploadForm();
}

function uploadResumable(tus) {
  const started = performance.now();
  const total = chosen.reduce((sum, file) => sum + file.size, 0);
  const sent = new Array(chosen.length).fill(0);
  const transfers = [];
  const sendOne = (file, index) => new Promise((resolve, reject) => {
    const transfer = new tus.Upload(file, {
      endpoint: "/api/uploads/",
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000],
      // Kept until the batch exists: pressing again after a failure finds finished files
      // already on the server instead of sending them again.
      removeFingerprintOnSuccess: false,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      onProgress: (bytes, size) => {
        sent[index] = bytes;
        progressOf(sent.reduce((a, b) => a + b, 0), total, started);
        const note = $("#chosen").querySelectorAll("li:not(.refused) span")[index];
        if (note) note.textContent = `${megabytes(size)} · ${Math.round(100 * bytes / Math.max(size, 1))}%`;
      },
      onSuccess: () => resolve(transfer.url),
      onError: (error) => reject(error),
    });
    transfers.push(transfer);
    transfer.findPreviousUploads().then((previous) => {
      if (previous.length) transfer.resumeFromPreviousUpload(previous[0]);
      transfer.start();
    });
  });
  Promise.all(chosen.map(sendOne))
    .then((urls) => api("POST", "/api/uploads/batch",
      { uploads: urls, priority: $("#priority").value, teller: $("#teller").value }))
    .then((answer) => done(answer.jobId))
    .catch((error) => {
      for (const transfer of transfers) transfer.abort();
      failed(
      `The upload stopped (${error.message.split("\n")[0]}). Press the button again to go on ` +
      "from where it stopped.");
    });
}

function uploadForm() {
  const form = new FormData();
  for (const file of chosen) form.append("videos", file, file.name);
  form.append("priority", $("#priority").value);
  form.append("teller", $("#teller").value);
  const request = new XMLHttpRequest();
  const started = performance.now();
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) progressOf(event.loaded, event.total, started);
  };
  request.onload = () => {
    let data = {};
    try { data = JSON.parse(request.responseText || "{}"); } catch { /* not ours: a proxy's page */ }
    if (request.status === 200) done(data.jobId);
    else failed(data.error || "the upload was refused");
  };
  request.onerror = () => failed("the upload was cut off; check the connection and try again");
  request.open("POST", "/api/upload");
  request.send(form);
}

// --- one batch ----------------------------------------------------------------------

async function showJob(jobId) {
  show("job");
  stopWatching();
  if (!job || job.id !== jobId) $("#videos").replaceChildren();  // another batch's cards
  try {
    job = await api("GET", `/api/job/${encodeURIComponent(jobId)}`);
  } catch (error) {
    say(`This batch cannot be shown: ${error.message}`);
    return;
  }
  $("#download").href = `/api/job/${job.id}/stories.zip`;
  exportLinks($("#download-as"), `/api/job/${encodeURIComponent(job.id)}/export`);
  render();
  watch();
}

// Read the whole batch again: after the stream (re)opens, so that no change made
// between the last read and the stream's start is missed.
async function refresh() {
  const jobId = job.id;
  try {
    const fresh = await api("GET", `/api/job/${jobId}`);
    if (job && job.id === jobId) { job = fresh; render(); }
  } catch { /* the next event or poll will do */ }
}

function render() {
  const list = $("#videos");
  for (const video of job.videos) {
    let card = list.querySelector(`[data-id="${video.id}"]`);
    if (!card) {
      card = $("#video-card").content.firstElementChild.cloneNode(true);
      card.dataset.id = video.id;
      card.querySelector(".copy").onclick = () => copyStory(video.id);
      card.querySelector(".regenerate").onclick = () => act(video.id, "regenerate");
      card.querySelector(".retry").onclick = () => act(video.id, "retry");
      card.querySelector(".cancel").onclick = () => act(video.id, "cancel");
      list.append(card);
    }
    fillCard(card, video);
  }
  const ended = job.videos.filter((v) => v.status === "completed" || v.status === "failed").length;
  $("#job-status").textContent = job.status === "completed"
    ? "all done" : `${ended} of ${job.videos.length} done`;
  $("#retry-all").disabled = !job.videos.some((v) => v.status === "failed");
  $("#cancel-rest").disabled = job.status === "completed";
  $("#download").hidden = !job.videos.some((v) => v.story);
  $("#download-as").hidden = !job.videos.some((v) => v.story);
}

// A "Download as" menu: each entry asks the export endpoint at `base` for its format.
function exportLinks(menu, base) {
  for (const link of menu.querySelectorAll("a[data-format]")) {
    link.href = `${base}?format=${link.dataset.format}`;
  }
}

function fillCard(card, video) {
  const detail = video.statusDetail || video.status;
  card.querySelector(".name").textContent = video.originalName;
  const badge = card.querySelector(".status");
  badge.textContent = detail;
  badge.className = `badge status ${detail}`;
  const running = detail === "processing";
  card.querySelector(".progress-line").hidden = !running;
  if (running) {
    card.querySelector("progress").value = video.progress || 0;
    card.querySelector(".stage").textContent =
      `${STAGES[video.stage] || "starting"} · ${Math.round(100 * (video.progress || 0))}%`;
  }
  // Held back by a spending budget: say why it does not start.
  const waiting = card.querySelector(".waiting");
  waiting.hidden = !(detail === "pending" && video.waiting);
  waiting.textContent = video.waiting || "";
  const error = card.querySelector(".error");
  error.hidden = !video.error;
  error.textContent = video.error || "";
  const story = card.querySelector(".story");
  story.hidden = !video.story;
  if (video.story && story.dataset.text !== video.story) {
    story.dataset.text = video.story;
    story.replaceChildren(...storyParts(video.story));
  }
  const evidence = card.querySelector(".evidence");
  evidence.hidden = !video.story;
  evidence.ontoggle = () => { if (evidence.open && !evidence.dataset.loaded) showEvidence(card, video.id); };
  const thumb = card.querySelector(".thumb");
  if (video.story && !thumb.dataset.tried) {
    thumb.dataset.tried = "1";
    thumb.onload = () => { thumb.hidden = false; };
    thumb.src = `/api/videos/${video.id}/keyframes/0`;
  }
  card.querySelector(".copy").hidden = !video.story;
  const storyMenu = card.querySelector(".story-menu");
  storyMenu.hidden = !video.story;
  if (video.story && !storyMenu.dataset.ready) {
    storyMenu.dataset.ready = "1";
    exportLinks(storyMenu, `/api/videos/${encodeURIComponent(video.id)}/export`);
  }
  card.querySelector(".regenerate").hidden = detail !== "completed";
  card.querySelector(".retry").hidden = !(detail === "failed" || detail === "cancelled");
  card.querySelector(".cancel").hidden = !(detail === "pending" || running);
}

// The story text is: "Title", blank, dateline, blank, paragraphs..., disclaimer.
function storyParts(text) {
  const blocks = text.split(/\n\s*\n/);
  const parts = [];
  blocks.forEach((block, index) => {
    const element = document.createElement(index === 0 ? "h3" : "p");
    element.textContent = block;
    if (index === 1) element.className = "dateline";
    if (index === blocks.length - 1 && index > 1) element.className = "disclaimer";
    parts.push(element);
  });
  return parts;
}

// The evidence behind a story: the scenes' keyframes, what was heard, what was read.
async function showEvidence(card, videoId) {
  const body = card.querySelector(".evidence-body");
  let record;
  try {
    record = await api("GET", `/api/videos/${videoId}`);
  } catch (error) {
    body.textContent = error.message;
    return;
  }
  card.querySelector(".evidence").dataset.loaded = "1";
  const summary = record.evidenceSummary || {};
  const parts = [];
  const strip = document.createElement("div");
  strip.className = "scenes";
  (summary.scenes || []).forEach((scene, index) => {
    const figure = document.createElement("figure");
    const image = new Image();
    image.loading = "lazy";
    image.alt = `Scene ${index + 1}`;
    image.src = `/api/videos/${videoId}/keyframes/${index}`;
    const caption = document.createElement("figcaption");
    caption.textContent = `${scene.start_s.toFixed(1)}–${scene.end_s.toFixed(1)} s`;
    figure.append(image, caption);
    strip.append(figure);
  });
  parts.push(heading("Scenes"), strip);
  parts.push(heading("Heard"), paragraph(summary.transcript || "No speech."));
  const read = (summary.on_screen_text || []).join(" · ");
  parts.push(heading("On screen"), paragraph(read || "No text on screen."));
  body.replaceChildren(...parts);
}

function heading(text) { const h = document.createElement("h4"); h.textContent = text; return h; }
function paragraph(text) { const p = document.createElement("p"); p.textContent = text; return p; }

async function copyStory(videoId) {
  const video = job.videos.find((v) => v.id === videoId);
  if (!video) return;
  try {
    await navigator.clipboard.writeText(video.story);
    say(`The story of ${video.originalName} is copied.`);
  } catch {
    say("Copying was not allowed by the browser; select the text instead.");
  }
}

async function act(videoId, action) {
  try {
    const video = await api("POST", `/api/job/${job.id}/video/${videoId}/${action}`);
    update(video);
  } catch (error) {
    say(error.message);
  }
}

async function actAll(action) {
  try {
    const answer = await api("POST", `/api/job/${job.id}/${action}`);
    say(answer.message);
    job = await api("GET", `/api/job/${job.id}`);
    render();
  } catch (error) {
    say(error.message);
  }
}

function update(video, jobStatus) {
  const index = job.videos.findIndex((v) => v.id === video.id);
  if (index < 0) return;
  job.videos[index] = video;
  if (jobStatus) job.status = jobStatus;
  render();
}

// --- live updates -------------------------------------------------------------------

function watch() {
  watching = job.id;
  if (!window.EventSource) { poll(); return; }
  events = new EventSource(`/api/events?job=${encodeURIComponent(job.id)}`);
  events.addEventListener("video", (event) => {
    const data = JSON.parse(event.data);
    if (data.jobId === job.id) update(data.video, data.jobStatus);
  });
  events.addEventListener("reset", () => showJob(job.id));
  events.addEventListener("deleted", () => { say("This batch was deleted."); stopWatching(); });
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
  // Stop when the page moved on, or when the event stream is back.
  const streaming = events && window.EventSource && events.readyState === EventSource.OPEN;
  if (watching === jobId && !streaming) pollTimer = setTimeout(poll, POLL_MS);
}

function stopWatching() {
  watching = null;
  if (events) { events.close(); events = null; }
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
}

// --- history ------------------------------------------------------------------------

let historyOffset = 0;

async function showHistory(more) {
  show("history");
  stopWatching();
  if (!more) { historyOffset = 0; $("#jobs").replaceChildren(); }
  const page = await api("GET", `/api/jobs?offset=${historyOffset}&limit=20`);
  for (const entry of page.jobs) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/?job=${entry.id}`;
    link.textContent = new Date(entry.createdAt).toLocaleString();
    const counts = Object.entries(entry.counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`);
    const text = document.createElement("span");
    text.textContent = `${entry.videoCount} videos: ${counts.join(", ")}`;
    item.append(link, text);
    $("#jobs").append(item);
  }
  historyOffset += page.jobs.length;
  $("#more-jobs").hidden = historyOffset >= page.total;
  if (page.total === 0) $("#jobs").textContent = "No batches yet.";
}

// --- the page -----------------------------------------------------------------------

function show(view) {
  for (const id of ["sign-in", "upload", "job", "history", "account"]) {
    $(`#${id}`).hidden = id !== view;
  }
}

function route() {
  const params = new URLSearchParams(location.search);
  if (params.get("job")) showJob(params.get("job"));
  else if (params.get("view") === "history") showHistory(false);
  else if (params.get("view") === "account") showAccount();
  else { stopWatching(); show("upload"); }
}

async function loadLimits() {
  try {
    limits = await api("GET", "/api/limits");
  } catch { /* keep the defaults */ }
  document.querySelector('[data-limit="batch"]').textContent = limits.maxBatchVideos;
  document.querySelector('[data-limit="size"]').textContent = limits.videoMaxSizeMb;
  for (const name of limits.tellers) {
    const option = new Option(name, name, false, name === limits.defaultTeller);
    $("#teller").append(option);
  }
}

function start() {
  // Handlers first: files chosen while the limits are on their way must not be lost.
  const drop = $("#drop");
  drop.onclick = () => $("#files").click();
  drop.onkeydown = (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("#files").click(); }
  };
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files);
  };
  $("#files").onchange = (event) => choose(event.target.files);
  $("#send").onclick = upload;
  $("#retry-all").onclick = () => actAll("retry");
  $("#cancel-rest").onclick = () => actAll("cancel");
  $("#new-batch").onclick = () => { history.pushState(null, "", "/"); route(); };
  $("#history-link").onclick = (event) => {
    event.preventDefault(); history.pushState(null, "", "/?view=history"); route();
  };
  $("#more-jobs").onclick = () => showHistory(true);
  $("#sign-in-form").onsubmit = signIn;
  $("#sign-out").onclick = signOut;
  $("#account-link").onclick = (event) => {
    event.preventDefault(); history.pushState(null, "", "/?view=account"); route();
  };
  $("#new-key").onclick = newKey;
  $("#add-user").onsubmit = addUser;
  window.onpopstate = route;
  route();
  whoAmI();
  loadLimits().then(() => { if (chosen.length) choose(chosen); });
}

start();
