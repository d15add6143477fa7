// What every part of the page shares: the API call, small DOM helpers, the one polite
// live region, the confirm dialog, and words for sizes and times.

export const $ = (selector, root = document) => root.querySelector(selector);

// Called when the server says 401: the page shows its sign-in form (set by app.js).
let onSignedOut = () => {};
export function whenSignedOut(handler) { onSignedOut = handler; }

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const answer = await fetch(path, options);
  const data = await answer.json().catch(() => ({}));
  if (answer.status === 401 && !path.startsWith("/api/auth/")) onSignedOut();
  if (!answer.ok) throw new ApiError(data.error || `${answer.status} ${answer.statusText}`, answer.status);
  return data;
}

// el("button", {type: "button", className: "x"}, "text", child...)
export function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key.startsWith("aria") || key.startsWith("data-")) {
      element.setAttribute(key.startsWith("aria") ? `aria-${key.slice(4).toLowerCase()}` : key, value);
    } else {
      element[key] = value;
    }
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

// A button whose visible words are completed, for screen readers, by the file it acts on:
// "Copy the story" + " of beach.mp4" (hidden) reads "Copy the story of beach.mp4".
export function namedButton(className, words, about) {
  return el("button", { type: "button", className }, words, el("span", { className: "sr-only" }, about));
}

// Everything said to screen readers goes through one polite live region.
export function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  // A new text node, a moment later: the same words twice are still read out.
  setTimeout(() => { region.textContent = text; }, 50);
}

// A message shown next to what was clicked (`place`, a .message element) and announced.
export function tell(place, text, bad = false) {
  if (place) {
    place.textContent = text;
    place.classList.toggle("error", bad);
    place.hidden = !text;
  }
  if (text) announce(text);
}

// Asks once, in a modal <dialog>; resolves true when confirmed. The browser returns the
// focus to what was focused before when the dialog closes.
export function confirmDialog(title, text, yes, no = "Keep it") {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  $("#confirm-no").textContent = no;
  dialog.returnValue = "";
  dialog.showModal();
  $("#confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

export function megabytes(bytes) { return `${(bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0)} MB`; }

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

export function ordinal(n) {
  const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n}${tail}`;
}

export function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

// Export links of a "Download as" menu: each entry asks `base` for its format.
export function exportLinks(menu, base) {
  for (const link of menu.querySelectorAll("a[data-format]")) link.href = `${base}?format=${link.dataset.format}`;
}
