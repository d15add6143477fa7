// Video Storyteller's page: choose videos, upload them as one batch, follow each one live,
// read each story beside its video. The view lives in the address (?job=..., ?view=...),
// so a reload shows the same. ES modules, no build step: one concept a file.
import { $, api, whenSignedOut } from "./common.js";
import * as upload from "./upload.js";
import * as batch from "./batch.js";
import * as earlier from "./history.js";
import * as account from "./account.js";

const VIEWS = ["sign-in", "upload", "job", "missing", "history", "account"];
let me = null;  // {name, role, open}: who the page acts for

function show(view) {
  for (const id of VIEWS) $(`#${id}`).hidden = id !== view;
}

function go(address) { history.pushState(null, "", address); route(); }

async function route() {
  const params = new URLSearchParams(location.search);
  if (!params.get("job")) batch.stopWatching();
  if (params.get("job")) {
    show("job");
    const shown = await batch.showJob(params.get("job"), { focus: Boolean(history.state?.focus) });
    if (shown === "missing") { batch.stopWatching(); show("missing"); }
  } else if (params.get("view") === "history") {
    show("history");
    earlier.showHistory(false);
  } else if (params.get("view") === "account") {
    show("account");
    account.showAccount(me);
  } else {
    show("upload");
  }
}

function showSignIn() {
  batch.stopWatching();
  show("sign-in");
  $("#sign-in-name").focus();
  api("GET", "/api/auth/methods").then((methods) => {
    $("#sign-in-oidc-link").textContent = methods.oidc ? `Sign in with ${methods.oidc}` : "";
    $("#sign-in-oidc").hidden = !methods.oidc;
  }).catch(() => { /* the password form alone */ });
}

async function whoAmI() {
  me = await api("GET", "/api/auth/me").catch(() => null);
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
    await api("POST", "/api/auth/login", { name: $("#sign-in-name").value, password: $("#sign-in-password").value });
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
  $("#jobs").replaceChildren();
  await whoAmI();
  history.pushState(null, "", "/");
  showSignIn();
}

// The tellers: one not ready (its key not set) is offered disabled, with what to set.
async function loadTellers(limits) {
  let details = null;
  try {
    details = (await api("GET", "/api/tellers")).details;
  } catch { /* an older server: the names alone */ }
  details ||= limits.tellers.map((name) => ({ name, ready: true }));
  const select = $("#teller");
  select.replaceChildren(...details.map((teller) => {
    const option = new Option(teller.ready ? teller.name : `${teller.name} (not ready)`, teller.name,
      false, teller.ready && teller.name === limits.defaultTeller);
    option.disabled = !teller.ready;
    return option;
  }));
  const notReady = details.filter((teller) => !teller.ready);
  $("#teller-note").hidden = !notReady.length;
  $("#teller-note").textContent = notReady.map((teller) =>
    `${teller.name} is not ready. ${teller.needs || "It is not configured."}`).join(" ");
}

async function loadLimits() {
  const limits = await api("GET", "/api/limits").catch(() => null);
  if (!limits) return;
  $('[data-limit="batch"]').textContent = limits.maxBatchVideos;
  $('[data-limit="size"]').textContent = limits.videoMaxSizeMb;
  upload.setLimits(limits);
  await loadTellers(limits);
}

function start() {
  whenSignedOut(showSignIn);
  // Handlers first: files chosen while the limits are on their way must not be lost.
  upload.start();
  upload.onUploaded((jobId) => { history.pushState({ focus: true }, "", `/?job=${jobId}`); route(); });
  batch.start();
  earlier.start();
  account.start(() => me);
  $("#new-batch").onclick = () => go("/");
  for (const link of document.querySelectorAll("a[data-view]")) {
    link.onclick = (event) => { event.preventDefault(); go(link.getAttribute("href")); };
  }
  $("#sign-in-form").onsubmit = signIn;
  $("#sign-out").onclick = signOut;
  window.onpopstate = route;
  route();
  whoAmI();
  loadLimits();
}

start();
