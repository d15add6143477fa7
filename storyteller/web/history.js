// Earlier batches: names and thumbnails of each, search by name or title (the server's
// ?q=, asked once typing pauses), open one, delete one (after asking).
import { $, api, el, namedButton, tell, confirmDialog, when } from "./common.js";

const PAGE = 20;
const TYPING_PAUSE_MS = 300;
let offset = 0;
let typing = 0;

export async function showHistory(more) {
  if (!more) { offset = 0; $("#jobs").replaceChildren(); }
  const query = $("#search").value.trim();
  const path = `/api/jobs?offset=${offset}&limit=${PAGE}${query ? `&q=${encodeURIComponent(query)}` : ""}`;
  let page;
  try {
    page = await api("GET", path);
  } catch (error) {
    tell($("#history-message"), error.message, true);
    return;
  }
  $("#jobs").append(...page.jobs.map(entry));
  offset += page.jobs.length;
  $("#more-jobs").hidden = offset >= page.total;
  const none = query ? `No batch has a video named or titled “${query}”.` : "No batches yet.";
  $("#history-message").hidden = page.total > 0;
  $("#history-message").textContent = page.total ? "" : none;
}

function thumbnailUrl(thumbnail) {
  return thumbnail.startsWith("/") ? thumbnail : `/api/videos/${encodeURIComponent(thumbnail)}/thumbnail`;
}

function entry(batch) {
  const names = batch.names || [];
  const shownNames = names.join(", ") + (batch.moreNames ? ` and ${batch.moreNames} more` : "");
  const label = batch.title || shownNames || `A batch of ${batch.videoCount} ${batch.videoCount === 1 ? "video" : "videos"}`;
  const counts = Object.entries(batch.counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ");
  const pictures = el("div", { className: "thumbs" }, ...(batch.thumbnails || []).slice(0, 4).map((thumbnail) => {
    const image = el("img", { alt: "", loading: "lazy", width: 64, height: 36, src: thumbnailUrl(thumbnail) });
    image.onerror = () => image.remove();
    return image;
  }));
  const link = el("a", { href: `/?job=${encodeURIComponent(batch.id)}` }, label);
  const remove = namedButton("delete small", "Delete", ` the batch ${label}`);
  const message = el("p", { className: "message", hidden: true });
  const item = el("li", { className: "batch" }, pictures,
    el("div", { className: "batch-main" }, el("h2", {}, link),
      el("p", { className: "hint" }, `${when(batch.createdAt)} · ${batch.videoCount} ${batch.videoCount === 1 ? "video" : "videos"}: ${counts}`),
      batch.title && shownNames ? el("p", { className: "hint" }, shownNames) : null, message),
    remove);
  remove.onclick = async () => {
    if (!await confirmDialog(`Delete ${label}?`,
      `Its ${batch.videoCount} videos and their stories are deleted for good.`, "Delete it", "Keep it")) return;
    try {
      await api("DELETE", `/api/job/${encodeURIComponent(batch.id)}`);
    } catch (error) {
      tell(message, error.message, true);
      return;
    }
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    offset -= 1;
    tell($("#history-status"), `${label} is deleted.`);
    (next ? $("a", next) : $("#search")).focus();
  };
  return item;
}

export function start() {
  $("#search").oninput = () => {
    clearTimeout(typing);
    typing = setTimeout(() => showHistory(false), TYPING_PAUSE_MS);
  };
  $("#search-form").onsubmit = (event) => { event.preventDefault(); showHistory(false); };
  $("#more-jobs").onclick = () => showHistory(true);
}
