// The notification settings page: the e-mail address and its events
// (GET/PUT /api/notifications), and the webhook endpoints with their delivery logs
// (/api/webhooks...). Every string from the server goes in as text, never as markup.
"use strict";

const $ = (selector) => document.querySelector(selector);
const LOG_EVERY_MS = 2000;  // how often an open delivery log is read again
const EVENT_LABELS = {
  "batch.completed": "A batch ends (every story and every failure, with reasons)",
  "video.completed": "A video has its story",
  "video.failed": "A video fails (with the reason)",
};
let eventNames = [];
const openLogs = new Set();  // ids of the webhooks whose log is open

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
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

class ApiProblem extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  let answer;
  try {
    answer = await fetch(path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiProblem("The service cannot be reached: check your connection and try again.", 0);
  }
  const data = answer.status === 204 ? {} : await answer.json().catch(() => ({}));
  if (answer.status === 401) {
    throw new ApiProblem("You are signed out: sign in on the main page, then come back here.", 401);
  }
  if (!answer.ok) throw new ApiProblem(data.error || `${answer.status} ${answer.statusText}`, answer.status);
  return data;
}

function showProblem(message) {
  const problem = $("#problem");
  problem.textContent = message;
  problem.hidden = !message;
}

// An error beside its field: shown, announced, the field marked and focused.
function fieldError(input, box, message) {
  box.textContent = message || "";
  box.hidden = !message;
  if (input) {
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else {
      input.removeAttribute("aria-invalid");
    }
  }
}

function when(iso) {
  if (!iso) return "–";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? iso : moment.toLocaleString();
}

function eventChecks(container, prefix, chosen) {
  container.querySelectorAll(".check").forEach((node) => node.remove());
  for (const name of eventNames) {
    const id = `${prefix}-${name.replace(/[^a-z0-9]+/gi, "-")}`;
    container.append(el("label", { class: "check", for: id },
      el("input", { type: "checkbox", id, value: name, checked: chosen.includes(name) }),
      el("span", { text: EVENT_LABELS[name] || name })));
  }
}

function checked(container) {
  return [...container.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
}

// --- e-mail ---------------------------------------------------------------------------

function drawMail(choices) {
  eventNames = choices.events;
  $("#email").value = choices.email || "";
  $("#mail-off").hidden = choices.mailConfigured;
  $("#test-mail").disabled = !(choices.mailConfigured && choices.email);
  eventChecks($("#email-events"), "mail", choices.emailEvents);
}

async function saveMail(event) {
  event.preventDefault();
  const input = $("#email");
  const button = $("#save-mail");
  fieldError(input, $("#email-error"), "");
  $("#mail-saved").textContent = "";
  const email = input.value.trim();
  if (email && !input.checkValidity()) {
    fieldError(input, $("#email-error"), "That is not an e-mail address: write one like name@example.com.");
    return;
  }
  button.disabled = true;
  try {
    drawMail(await call("PUT", "/api/notifications", { email: email || null, emailEvents: checked($("#email-events")) }));
    $("#mail-saved").textContent = email ? `Saved: e-mails go to ${email}.` : "Saved: no e-mail.";
    showProblem("");
  } catch (error) {
    if (error.status === 422) fieldError(input, $("#email-error"), error.message);
    else showProblem(error.message);
  } finally {
    button.disabled = false;
  }
}

async function testMail() {
  const button = $("#test-mail");
  button.disabled = true;
  $("#mail-saved").textContent = "Sending…";
  try {
    const sent = await call("POST", "/api/notifications/test-email");
    $("#mail-saved").textContent = `Test e-mail sent to ${sent.email}: look in your inbox (and spam folder).`;
    showProblem("");
  } catch (error) {
    $("#mail-saved").textContent = "";
    fieldError(null, $("#email-error"), `The test e-mail was not sent: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// --- webhooks -------------------------------------------------------------------------

async function addHook(event) {
  event.preventDefault();
  const input = $("#hook-url");
  const button = $("#add-hook");
  fieldError(input, $("#hook-url-error"), "");
  fieldError(null, $("#hook-events-error"), "");
  const url = input.value.trim();
  const events = checked($("#hook-events"));
  if (!url) {
    fieldError(input, $("#hook-url-error"), "Write the address that receives the events.");
    return;
  }
  if (!events.length) {
    fieldError(null, $("#hook-events-error"), "Choose at least one event to send.");
    $("#hook-events input").focus();
    return;
  }
  button.disabled = true;
  try {
    const description = $("#hook-description").value.trim() || null;
    const made = await call("POST", "/api/webhooks", { url, events, description });
    input.value = "";
    $("#hook-description").value = "";
    showSecret(made);
    await loadHooks();
    showProblem("");
  } catch (error) {
    if (error.status === 422 || error.status === 400) fieldError(input, $("#hook-url-error"), error.message);
    else showProblem(error.message);
  } finally {
    button.disabled = false;
  }
}

function showSecret(endpoint) {
  $("#secret-title").textContent = `Signing secret of ${endpoint.url}`;
  $("#secret").textContent = endpoint.secret;
  $("#copied").textContent = "";
  $("#secret-box").hidden = false;
  $("#secret-box").dataset.hook = endpoint.id;
  $("#secret-title").focus();
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($("#secret").textContent);
    $("#copied").textContent = "Copied.";
  } catch {
    // No clipboard (an insecure origin, or refused): select it for a manual copy.
    window.getSelection().selectAllChildren($("#secret"));
    $("#copied").textContent = "Select and copy it yourself: the browser refused the clipboard.";
  }
}

function hideSecret() {
  const hook = $("#secret-box").dataset.hook;
  $("#secret").textContent = "";
  $("#secret-box").hidden = true;
  const heading = hook && document.getElementById(`hook-${hook}`);
  (heading || $("#hooks-title")).focus();
}

function hookActions(hook) {
  const act = (method, suffix, done) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const answer = await call(method, `/api/webhooks/${encodeURIComponent(hook.id)}${suffix}`);
      showProblem("");
      await done(answer);
    } catch (error) {
      showProblem(error.message);
      button.disabled = false;
    }
  };
  const status = el("span", { class: "saved", role: "status" });
  const test = act("POST", "/test", async () => {
    status.textContent = "Test event queued: see the delivery log.";
    openLogs.add(hook.id);
    await loadHooks();
  });
  const toggle = hook.enabled
    ? act("POST", "/disable", () => loadHooks(`hook-${hook.id}`))
    : act("POST", "/enable", () => loadHooks(`hook-${hook.id}`));
  const rotate = async (event) => {
    if (!window.confirm(`Make a new signing secret for ${hook.url}? The old one stops working at once: your receiver must be given the new one.`)) return;
    await act("POST", "/rotate", async (made) => { showSecret(made); })(event);
  };
  const remove = async (event) => {
    if (!window.confirm(`Delete the webhook ${hook.url} and its delivery log? Nothing more is sent to it.`)) return;
    await act("DELETE", "", async () => {
      openLogs.delete(hook.id);
      await loadHooks();
      $("#hooks-title").focus();
    })(event);
  };
  return el("div", { class: "actions" },
    el("button", { type: "button", onclick: test, disabled: !hook.enabled }, "Send a test event"),
    el("button", { type: "button", onclick: toggle }, hook.enabled ? "Disable" : "Enable"),
    el("button", { type: "button", onclick: rotate }, "Rotate secret"),
    el("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
    status);
}

function drawHook(hook) {
  const state = hook.enabled ? "enabled" : "disabled";
  const log = el("details", { class: "log", "data-hook": hook.id, open: openLogs.has(hook.id) },
    el("summary", { text: "Delivery log" }),
    el("div", { class: "log-body" }, el("p", { class: "muted", text: "Loading…" })));
  log.addEventListener("toggle", () => {
    if (log.open) {
      openLogs.add(hook.id);
      loadLog(hook.id, log);
    } else {
      openLogs.delete(hook.id);
    }
  });
  if (log.open) loadLog(hook.id, log);
  return el("li", { class: "hook" },
    el("h4", { id: `hook-${hook.id}`, tabindex: "-1" }, hook.url),
    el("p", { class: "meta" },
      el("span", { class: `tag ${state}`, text: state }), " ",
      hook.disabledReason ? el("span", { class: "muted", text: `${hook.disabledReason} · ` }) : null,
      el("span", { class: "muted", text: hook.events.join(", ") }),
      hook.description ? el("span", { class: "muted", text: ` · ${hook.description}` }) : null),
    hookActions(hook),
    log);
}

async function loadHooks(focusId) {
  const { webhooks } = await call("GET", "/api/webhooks");
  $("#hooks").replaceChildren(...webhooks.map(drawHook));
  $("#no-hooks").hidden = webhooks.length > 0;
  if (focusId) document.getElementById(focusId)?.focus();
}

function drawAttempts(attempts) {
  if (!attempts.length) return el("p", { class: "muted", text: "Not tried yet." });
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {},
      el("th", { scope: "col", text: "Time" }), el("th", { scope: "col", text: "Status" }),
      el("th", { scope: "col", text: "Latency" }), el("th", { scope: "col", text: "Answer" }))),
    el("tbody", {}, attempts.map((attempt) => el("tr", {},
      el("td", { text: when(attempt.at) }),
      el("td", { class: "n", text: attempt.status === null ? "no answer" : String(attempt.status) }),
      el("td", { class: "n", text: `${attempt.latencyMs} ms` }),
      el("td", { class: "answer", text: attempt.error || attempt.answer || "" }))))));
}

function drawDelivery(hookId, delivery) {
  const resend = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await call("POST", `/api/webhooks/${encodeURIComponent(hookId)}/deliveries/${encodeURIComponent(delivery.messageId)}/resend`);
      showProblem("");
      const log = document.querySelector(`details.log[data-hook="${CSS.escape(hookId)}"]`);
      if (log) {
        await loadLog(hookId, log);
        // Disabled while it worked, the button lost focus: give it to its successor.
        log.querySelector(`button[data-message="${CSS.escape(delivery.messageId)}"]`)?.focus();
      }
    } catch (error) {
      showProblem(error.message);
      button.disabled = false;
    }
  };
  const next = delivery.nextAttemptAt && delivery.state !== "delivered" && delivery.state !== "failed"
    ? ` · next try ${when(delivery.nextAttemptAt)}` : "";
  return el("li", { class: "delivery" },
    el("header", {},
      el("strong", { text: delivery.event }),
      el("span", { class: `tag ${delivery.state}`, text: delivery.state }),
      el("button", { type: "button", "data-message": delivery.messageId, onclick: resend }, "Send again")),
    el("p", { class: "muted", text: `${when(delivery.createdAt)} · ${delivery.messageId}${next}` }),
    drawAttempts(delivery.attempts));
}

async function loadLog(hookId, log) {
  const body = log.querySelector(".log-body");
  try {
    const { deliveries } = await call("GET", `/api/webhooks/${encodeURIComponent(hookId)}/deliveries?limit=50`);
    // A redraw replaces the buttons: the one that had focus hands it to its successor.
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset.message : null;
    body.replaceChildren(deliveries.length
      ? el("ul", { class: "deliveries" }, deliveries.map((delivery) => drawDelivery(hookId, delivery)))
      : el("p", { class: "muted", text: "Nothing sent yet: send a test event to check your receiver." }));
    if (focused) body.querySelector(`button[data-message="${CSS.escape(focused)}"]`)?.focus();
  } catch (error) {
    body.replaceChildren(el("p", { class: "field-error", text: error.message }));
  }
}

function refreshOpenLogs() {
  if (document.hidden) return;
  for (const log of document.querySelectorAll("details.log[open]")) loadLog(log.dataset.hook, log);
}

async function start() {
  $("#mail-form").addEventListener("submit", saveMail);
  $("#test-mail").addEventListener("click", testMail);
  $("#hook-form").addEventListener("submit", addHook);
  $("#copy-secret").addEventListener("click", copySecret);
  $("#secret-done").addEventListener("click", hideSecret);
  try {
    drawMail(await call("GET", "/api/notifications"));
    eventChecks($("#hook-events"), "hook", ["batch.completed"]);
    await loadHooks();
  } catch (error) {
    showProblem(error.message);
    return;
  }
  setInterval(refreshOpenLogs, LOG_EVERY_MS);
}

start();
