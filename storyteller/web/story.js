// One story opened on demand, beside its video: each sentence is a button that plays the
// video from the moment it stands on; the evidence's scenes, transcript and on-screen
// text seek too. Versions: every story written is kept; one is current (the one copied,
// exported and sent), and any can be made current.
import { $, api, el, namedButton, tell, clock, when, exportLinks } from "./common.js";

const KINDS = { speech: "what is said", text: "text on screen", scene: "what is seen" };
const DOWNLOADS = [["pdf", "PDF"], ["docx", "Word (.docx)"], ["md", "Markdown"],
  ["json", "JSON (the whole record)"], ["csv", "CSV"]];

// The panel's state lives on the panel element: {record, shown (version number)}.
export async function openStory(panel, video, jobId, { focus = false } = {}) {
  let record;
  try {
    record = await api("GET", `/api/videos/${encodeURIComponent(video.id)}`);
  } catch (error) {
    panel.replaceChildren(el("p", { className: "error" }, `The story cannot be shown: ${error.message}`));
    return;
  }
  const current = record.stories.find((story) => story.current) || record.stories.at(-1);
  const previous = panel.story;
  panel.story = { record, jobId, shown: current ? current.version : null };
  const player = previous?.player || el("video", {
    controls: true, preload: "metadata", src: `/api/videos/${encodeURIComponent(video.id)}/media`,
    className: "player", ariaLabel: `The video ${video.originalName}`,
  });
  panel.story.player = player;
  player.ontimeupdate = () => highlight(panel);
  const body = el("div", { className: "story-box" });
  panel.replaceChildren(el("div", { className: "story-grid" },
    el("div", { className: "player-box" }, player), body), evidence(record, player));
  fillStory(panel, body);
  if (focus) $(".story", panel)?.focus();
}

function versionLabel(story) {
  const model = story.model ? ` (${story.model})` : "";
  return `Version ${story.version}: ${story.teller}${model}, seed ${story.seed}, ${when(story.createdAt)}` +
    (story.current ? " — current" : "");
}

function fillStory(panel, body) {
  const { record, jobId } = panel.story;
  const name = record.originalName;
  const story = record.stories.find((s) => s.version === panel.story.shown);
  const parts = [];
  if (record.stories.length > 1) {
    const select = el("select", { className: "version" },
      ...record.stories.map((s) => new Option(versionLabel(s), s.version, false, s.version === story.version)));
    select.onchange = () => { panel.story.shown = Number(select.value); fillStory(panel, body); $(".version", body).focus(); };
    const label = el("label", { className: "versions" }, `Versions of the story of ${name}`, select);
    parts.push(label);
    if (!story.current) {
      const make = namedButton("make-current", `Make version ${story.version} current`, ` for ${name}`);
      make.onclick = () => makeCurrent(panel, body, story.version, make);
      parts.push(make);
    }
  }
  parts.push(storyArticle(story, panel.story.player));
  const message = el("p", { className: "message", hidden: true });
  const copy = namedButton("copy", "Copy the story", ` of ${name}`);
  copy.onclick = () => copyStory(record, message);
  const again = namedButton("regenerate", "Write again", ` the story of ${name}`);
  again.onclick = () => writeAgain(panel, jobId, record, message);
  const menu = el("details", { className: "menu story-menu" },
    el("summary", { className: "button" }, "Download the story", el("span", { className: "sr-only" }, ` of ${name}`)),
    el("ul", { className: "menu-list" }, ...DOWNLOADS.map(([format, words]) =>
      el("li", {}, el("a", { "data-format": format, download: "" }, words)))));
  exportLinks(menu, `/api/videos/${encodeURIComponent(record.id)}/export`);
  parts.push(el("div", { className: "card-actions" }, copy, again, menu), message);
  body.replaceChildren(...parts);
}

function seekButton(text, startS, player, className = "seek") {
  const button = el("button", { type: "button", className }, text);
  button.dataset.start = startS;
  button.onclick = () => {
    player.currentTime = startS;
    player.play().catch(() => { /* the browser refused autoplay: the position is set */ });
  };
  return button;
}

// A sentence is a link (it wraps as the text it is) that plays its first source's moment.
function sentenceLink(text, source, player) {
  const link = el("a", { className: `sentence from-${source.kind}`, href: `#t=${source.startS}` }, text);
  link.dataset.start = source.startS;
  link.dataset.end = source.endS;
  link.title = `Plays from ${clock(source.startS)} (${KINDS[source.kind] || source.kind})`;
  link.onclick = (event) => {
    event.preventDefault();
    player.currentTime = source.startS;
    player.play().catch(() => { /* the browser refused to play: the position is set */ });
  };
  return link;
}

// The story: its title, dateline, paragraphs (a button per sentence that has a source),
// disclaimer. Versions written before sentences were recorded show plain paragraphs.
function storyArticle(story, player) {
  const article = el("article", { className: "story", tabindex: -1 });
  article.setAttribute("tabindex", "-1");
  article.setAttribute("aria-label", `Story, version ${story.version}`);
  article.append(el("h3", {}, story.title));
  if (story.place || story.date) {
    article.append(el("p", { className: "dateline" }, [story.place, story.date].filter(Boolean).join(", ")));
  }
  const sentences = story.sentences || [];
  if (sentences.length) {
    const paragraphs = new Map();
    for (const sentence of sentences) {
      if (!paragraphs.has(sentence.paragraph)) paragraphs.set(sentence.paragraph, el("p"));
      const source = (sentence.sources || [])[0];
      const part = source ? sentenceLink(sentence.text, source, player) : el("span", {}, sentence.text);
      paragraphs.get(sentence.paragraph).append(part, " ");
    }
    article.append(...paragraphs.values());
  } else {
    for (const text of story.paragraphs) article.append(el("p", {}, text));
  }
  if (story.disclaimer) article.append(el("p", { className: "disclaimer" }, story.disclaimer));
  return article;
}

// The sentence whose moment is playing, marked: of those whose moment holds the time,
// the one that starts latest (a scene's long span gives way to the words said in it).
function highlight(panel) {
  const time = panel.story.player.currentTime;
  let best = null;
  for (const link of panel.querySelectorAll(".sentence")) {
    const start = Number(link.dataset.start);
    if (time >= start && time < Number(link.dataset.end) && (!best || start > Number(best.dataset.start))) best = link;
  }
  for (const link of panel.querySelectorAll(".sentence.playing")) if (link !== best) link.classList.remove("playing");
  best?.classList.add("playing");
}

function evidence(record, player) {
  const summary = record.evidenceSummary || {};
  const full = record.evidence || {};
  const details = el("details", { className: "evidence" },
    el("summary", {}, "What the story stands on"));
  const scenes = el("ul", { className: "scenes" }, ...(summary.scenes || []).map((scene, index) => {
    const button = seekButton("", scene.start_s, player, "seek scene");
    button.append(
      el("img", { loading: "lazy", alt: "", src: `/api/videos/${encodeURIComponent(record.id)}/keyframes/${index}` }),
      el("span", {}, `Scene ${index + 1}, ${clock(scene.start_s)}–${clock(scene.end_s)}`));
    return el("li", {}, button);
  }));
  const segments = full.transcript?.segments || [];
  const heard = segments.length
    ? el("ul", { className: "lines" }, ...segments.map((segment) =>
      el("li", {}, seekButton(`${clock(segment.start)} ${segment.text.trim()}`, segment.start, player))))
    : el("p", {}, summary.transcript || "No speech.");
  const lines = full.on_screen_text || [];
  const read = lines.length
    ? el("ul", { className: "lines" }, ...lines.map((line) =>
      el("li", {}, seekButton(`${clock(line.first_seen_s)} ${line.text}`, line.first_seen_s, player))))
    : el("p", {}, "No text on screen.");
  details.append(el("h4", {}, "Scenes"), scenes, el("h4", {}, "Heard"), heard, el("h4", {}, "On screen"), read);
  return details;
}

async function copyStory(record, message) {
  const current = record.stories.find((story) => story.current) || record.stories.at(-1);
  try {
    await navigator.clipboard.writeText(current.text);
    tell(message, `The story of ${record.originalName} is copied (version ${current.version}).`);
  } catch {
    tell(message, "Copying was not allowed by the browser; select the text instead.", true);
  }
}

async function writeAgain(panel, jobId, record, message) {
  try {
    await api("POST", `/api/job/${encodeURIComponent(jobId)}/video/${encodeURIComponent(record.id)}/regenerate`);
    panel.story.awaiting = record.stories.length;  // focus the new version when it is written
    tell(message, `Writing the story of ${record.originalName} again; this version stays.`);
  } catch (error) {
    tell(message, error.message, true);
  }
}

async function makeCurrent(panel, body, version, button) {
  const { record } = panel.story;
  try {
    await api("POST", `/api/videos/${encodeURIComponent(record.id)}/stories/${version}/current`);
  } catch (error) {
    tell(button.nextElementSibling, error.message, true);
    return;
  }
  await openStory(panel, record, panel.story.jobId);
  tell($(".message", panel), `Version ${version} of ${record.originalName} is now current.`);
  $(".version", panel)?.focus();
}

// The row's video changed: an open story is read again when a new version was written.
export function storyChanged(panel, video) {
  if (!panel.story || panel.hidden) return;
  const known = panel.story.record.stories.length;
  const current = panel.story.record.stories.find((s) => s.current)?.version;
  if (video.statusDetail === "completed" && (video.storyVersion !== current || panel.story.awaiting !== undefined)) {
    const focus = panel.story.awaiting !== undefined;
    openStory(panel, video, panel.story.jobId, { focus }).then(() => {
      if (focus && panel.story.record.stories.length > known) announce(video.originalName);
    });
  }
}

function announce(name) { tell(null, `A new version of the story of ${name} is written.`); }
