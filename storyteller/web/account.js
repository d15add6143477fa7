// The account view: API keys, and the users (for an admin).
import { $, api, el } from "./common.js";

export async function showAccount(me) {
  $("#new-key-value").hidden = true;
  const keys = await api("GET", "/api/keys");
  $("#keys").replaceChildren(...keys.map((key) => {
    const used = key.lastUsedAt ? new Date(key.lastUsedAt).toLocaleString() : "never";
    const item = el("li", {}, `${key.prefix}… created ${new Date(key.createdAt).toLocaleString()}, ` +
      `last used ${used}${key.revokedAt ? ", revoked" : ""}`);
    if (!key.revokedAt) {
      const revoke = el("button", { type: "button" }, "Revoke", el("span", { className: "sr-only" }, ` the key ${key.prefix}…`));
      revoke.onclick = async () => { await api("DELETE", `/api/keys/${key.id}`); showAccount(me); };
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
    const toggle = el("button", { type: "button" }, user.disabled ? "Enable" : "Disable",
      el("span", { className: "sr-only" }, ` ${user.name}`));
    toggle.onclick = async () => {
      await api("PATCH", `/api/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled });
      showUsers();
    };
    return el("tr", {}, ...[user.name, user.role, user.priority, user.videosPerDay ?? "no limit",
      user.disabled ? "yes" : "no"].map((value) => el("td", {}, String(value))), el("td", {}, toggle));
  }));
}

async function newKey(me) {
  const made = await api("POST", "/api/keys");
  await showAccount(me);
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

export function start(who) {
  $("#new-key").onclick = () => newKey(who());
  $("#add-user").onsubmit = addUser;
}
