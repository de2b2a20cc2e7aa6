// User administration (administrators): create users, reset passwords, give or take the
// administrator role, disable, enable and delete, through /api/users. The server keeps the
// rules (never the last active administrator, never one's own account); this page shows
// its refusals as they come.

import { $, badge, el } from "/ui/dom.js";
import { api, guard, newestOnly } from "/ui/api.js";
import { currentUser } from "/ui/state.js";
import { showView } from "/ui/plugin-frames.js";

const userLoads = newestOnly();

function showResult(id, text, { error = false } = {}) {
  const result = $(id);
  result.hidden = !text;
  result.textContent = text;
  result.classList.toggle("error", error);
}

// Runs `action` (a call changing a user); shows what the server said, and the list as it is now.
async function change(action, done) {
  try {
    await action();
    showResult("users-result", done);
  } catch (failure) {
    if (failure.status === 401) throw failure; // the session ended: guard() asks to sign in
    showResult("users-result", failure.message, { error: true });
  }
  await loadUsers();
}

function when(ms) {
  return new Date(ms).toLocaleDateString();
}

function row(user) {
  const me = currentUser();
  const own = me && me.id === user.id;
  const active = user.disabled_at_ms === null || user.disabled_at_ms === undefined;
  const name = el("td", {}, el("strong", { text: user.username }), own ? " (you)" : "");
  const role = el("td", {}, user.is_admin ? badge("administrator") : "user");
  const state = el("td", {}, active ? "active" : badge("disabled", `since ${when(user.disabled_at_ms)}`));
  const actions = el("td", { class: "actions" });
  const path = `/api/users/${encodeURIComponent(user.id)}`;

  const promote = el("button", { type: "button", class: "link", text: user.is_admin ? "Remove administrator" : "Make administrator" });
  promote.addEventListener("click", () =>
    guard(() => change(() => api("PUT", `${path}/admin`, { admin: !user.is_admin }),
      user.is_admin ? `${user.username} is no longer an administrator.` : `${user.username} is an administrator.`)),
  );
  actions.append(promote);

  // A new password, typed here and set at once; their sessions end.
  const reset = el("details", { class: "reset" }, el("summary", { text: "Reset password" }));
  const password = el("input", { type: "password", autocomplete: "new-password", minLength: 8, placeholder: "New password" });
  password.setAttribute("aria-label", `New password for ${user.username}`);
  const set = el("button", { type: "button", text: "Set" });
  set.addEventListener("click", () =>
    guard(() => change(() => api("PUT", `${path}/password`, { password: password.value }),
      `Set the password of ${user.username}; their sessions ended.`)),
  );
  reset.append(password, set);
  actions.append(reset);

  if (!own) {
    const disable = el("button", { type: "button", class: "link", text: active ? "Disable" : "Enable" });
    disable.addEventListener("click", () =>
      guard(() => change(() => api("PUT", `${path}/disabled`, { disabled: active }),
        active ? `${user.username} is disabled and signed out.` : `${user.username} is enabled.`)),
    );
    // Deleting takes a second click on the same button: the conversations go for good.
    const remove = el("button", { type: "button", class: "link", text: "Delete" });
    remove.addEventListener("click", () => {
      if (!remove.classList.contains("danger")) {
        remove.classList.add("danger");
        remove.classList.remove("link");
        remove.textContent = `Delete ${user.username} and all their conversations`;
        return;
      }
      guard(() => change(() => api("DELETE", path), `Deleted ${user.username} with their conversations and files.`));
    });
    actions.append(disable, remove);
  }
  const tr = el("tr", { class: active ? "" : "disabled" }, name, el("td", { text: when(user.created_at_ms) }), role, state, actions);
  tr.dataset.username = user.username;
  return tr;
}

async function loadUsers() {
  const current = userLoads();
  const { users } = await api("GET", "/api/users");
  if (!current()) return;
  $("user-rows").replaceChildren(...users.map(row));
}

$("open-users").addEventListener("click", () => {
  showView("users");
  showResult("users-result", "");
  guard(loadUsers);
});
$("close-users").addEventListener("click", () => showView("chat"));

$("new-user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {
    username: $("new-user-name").value,
    password: $("new-user-password").value,
    admin: $("new-user-admin").checked,
  };
  guard(async () => {
    try {
      const { user } = await api("POST", "/api/users", body);
      showResult("new-user-result", `Created ${user.username}${user.is_admin ? " (administrator)" : ""}.`);
      $("new-user-form").reset();
    } catch (failure) {
      if (failure.status === 401) throw failure;
      showResult("new-user-result", failure.message, { error: true });
    }
    await loadUsers();
  });
});
