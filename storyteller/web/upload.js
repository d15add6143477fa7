// Choosing files and sending them: the chosen list grows (choosing again adds), each file
// can be removed; then a few files at a time go up resumably (tus) with overall progress,
// speed and time left, and the finished uploads become one batch. A reload mid-upload:
// choosing the same files again resumes them (tus keeps their fingerprints in
// localStorage). Without tus, one multipart request.
import { $, api, el, namedButton, megabytes, duration, announce, tell } from "./common.js";

const VIDEO_TYPES = /\.(mp4|m4v|webm|mov|mkv|avi)$/i;
const AT_ONCE = 3;  // uploads running together
const CHUNK_BYTES = window.STORYTELLER_CHUNK_BYTES || 8 * 1024 * 1024;

let limits = { videoMaxSizeMb: 500, maxBatchVideos: 100 };
let chosen = [];       // [{file, refused}] in the order chosen
let transfers = [];    // the tus uploads running
let sending = false;
let cancelled = false;
let onSent = () => {};
let tusLoading = null;

export function setLimits(newLimits) { limits = newLimits; render(); }

function refusal(file, accepted) {
  if (!(file.type.startsWith("video/") || VIDEO_TYPES.test(file.name))) return "not a video file";
  if (file.size === 0) return "the file is empty";
  if (file.size > limits.videoMaxSizeMb * 1024 * 1024) return `over ${limits.videoMaxSizeMb} MB`;
  if (accepted >= limits.maxBatchVideos) return `a batch holds at most ${limits.maxBatchVideos}`;
  return null;
}

const same = (a, b) => a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;

export function add(files) {
  if (sending) return;
  for (const file of files) {
    if (!chosen.some((entry) => same(entry.file, file))) chosen.push({ file, refused: null });
  }
  render();
}

function remove(entry) {
  const index = chosen.indexOf(entry);
  chosen.splice(index, 1);
  render();
  announce(`${entry.file.name} removed`);
  const next = $("#chosen").querySelectorAll(".remove")[Math.min(index, chosen.length - 1)];
  (next || $("#drop")).focus();
}

export const accepted = () => chosen.filter((entry) => !entry.refused);

function render() {
  let count = 0;
  for (const entry of chosen) {
    entry.refused = refusal(entry.file, count);
    if (!entry.refused) count += 1;
  }
  $("#chosen").replaceChildren(...chosen.map((entry) => {
    const note = el("span", { className: "note" },
      entry.refused ? `refused: ${entry.refused}` : megabytes(entry.file.size));
    const item = el("li", { className: entry.refused ? "refused" : "" }, el("span", { className: "file" }, entry.file.name), note);
    if (!sending) {
      const button = namedButton("remove small", "Remove", ` ${entry.file.name}`);
      button.onclick = () => remove(entry);
      item.append(button);
    }
    entry.note = note;
    return item;
  }));
  const total = accepted().reduce((sum, entry) => sum + entry.file.size, 0);
  $("#chosen-summary").textContent = chosen.length
    ? `${count} ${count === 1 ? "video" : "videos"} to send, ${megabytes(total)}` : "";
  $("#send").disabled = sending || count === 0;
}

function loadTus() {
  // 87 KB: fetched when an upload starts (or one waits to be resumed), not with the page.
  tusLoading ??= new Promise((resolve) => {
    const script = el("script", { src: "/assets/vendor/tus.min.js" });
    script.onload = () => resolve(window.tus && window.tus.isSupported ? window.tus : null);
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
  return tusLoading;
}

// An upload cut off by a reload leaves its fingerprint: say how to go on.
export function noticeInterrupted() {
  const left = Object.keys(localStorage).some((key) => key.startsWith("tus::"));
  $("#resume-note").hidden = !left;
}

function showProgress(sent, total, started) {
  const seconds = (performance.now() - started) / 1000;
  const speed = sent / Math.max(seconds, 0.001);
  const fraction = total ? sent / total : 0;
  const percent = Math.round(100 * fraction);
  const left = speed > 0 && sent < total ? `, about ${duration((total - sent) / speed)} left` : "";
  const progress = $("#send-progress");
  progress.value = fraction;
  progress.setAttribute("aria-valuetext", `${percent}%`);
  $("#send-text").textContent = `${percent}% · ${megabytes(speed)}/s${left}`;
}

function stopped(message) {
  sending = false;
  $("#cancel-upload").hidden = true;
  render();
  tell($("#send-text"), message, true);
}

export function onUploaded(handler) { onSent = handler; }

async function send() {
  if (sending || !accepted().length) return;
  // Asked here, on the person's own click, never on load: tell them when a batch ends.
  if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  sending = true;
  cancelled = false;
  render();
  $("#sending").hidden = false;
  $("#cancel-upload").hidden = false;
  $("#send-text").classList.remove("error");
  $("#send-text").textContent = "starting…";
  const tus = await loadTus();
  if (tus) sendResumable(tus); else sendForm();
}

async function sendResumable(tus) {
  const files = accepted().map((entry) => entry);
  const started = performance.now();
  const total = files.reduce((sum, entry) => sum + entry.file.size, 0);
  const sent = new Array(files.length).fill(0);
  const urls = new Array(files.length);
  transfers = [];
  const sendOne = (entry, index) => new Promise((resolve, reject) => {
    const { file } = entry;
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
        showProgress(sent.reduce((a, b) => a + b, 0), total, started);
        entry.note.textContent = `${megabytes(size)} · ${Math.round(100 * bytes / Math.max(size, 1))}%`;
      },
      onSuccess: () => { entry.note.textContent = `${megabytes(file.size)} · sent`; resolve(transfer.url); },
      onError: reject,
    });
    transfers.push(transfer);
    transfer.findPreviousUploads().then((previous) => {
      if (previous.length) transfer.resumeFromPreviousUpload(previous[0]);
      transfer.start();
    });
  });
  // A few at a time: each worker takes the next file when its own is sent.
  let next = 0;
  const worker = async () => {
    while (next < files.length && !cancelled) {
      const index = next++;
      urls[index] = await sendOne(files[index], index);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(AT_ONCE, files.length) }, worker));
    if (cancelled) return;
    const answer = await api("POST", "/api/uploads/batch",
      { uploads: urls, priority: $("#priority").value, teller: $("#teller").value });
    for (const key of Object.keys(localStorage)) if (key.startsWith("tus::")) localStorage.removeItem(key);
    finished(answer.jobId);
  } catch (error) {
    if (cancelled) return;
    for (const transfer of transfers) transfer.abort();
    stopped(`The upload stopped (${error.message.split("\n")[0]}). Press Upload again to go on from where it stopped.`);
  }
}

function sendForm() {
  const form = new FormData();
  for (const { file } of accepted()) form.append("videos", file, file.name);
  form.append("priority", $("#priority").value);
  form.append("teller", $("#teller").value);
  const request = new XMLHttpRequest();
  const started = performance.now();
  transfers = [{ abort: () => request.abort() }];
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) showProgress(event.loaded, event.total, started);
  };
  request.onload = () => {
    let data = {};
    try { data = JSON.parse(request.responseText || "{}"); } catch { /* not ours: a proxy's page */ }
    if (request.status === 200) finished(data.jobId);
    else stopped(data.error || "the upload was refused");
  };
  request.onerror = () => stopped("the upload was cut off; check the connection and try again");
  request.open("POST", "/api/upload");
  request.send(form);
}

function cancel() {
  cancelled = true;
  // Terminated on the server too: a cancelled upload leaves nothing to resume.
  for (const transfer of transfers) transfer.abort(true);
  transfers = [];
  for (const key of Object.keys(localStorage)) if (key.startsWith("tus::")) localStorage.removeItem(key);
  sending = false;
  $("#cancel-upload").hidden = true;
  $("#sending").hidden = true;
  render();
  tell($("#send-message"), "The upload is cancelled; nothing was sent. Your files are still chosen.");
  $("#send").focus();
}

function finished(jobId) {
  sending = false;
  chosen = [];
  render();
  $("#sending").hidden = true;
  $("#cancel-upload").hidden = true;
  onSent(jobId);
}

export function start() {
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
    add(event.dataTransfer.files);
  };
  $("#files").onchange = (event) => { add(event.target.files); event.target.value = ""; };
  $("#send").onclick = send;
  $("#cancel-upload").onclick = cancel;
  noticeInterrupted();
}
