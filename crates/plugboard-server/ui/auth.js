// Sign-in, sign-up and sign-out: the form the page shows until start() (app.js) finds a session.

import { $, el } from "/ui/dom.js";
import { api } from "/ui/api.js";
import { setUser } from "/ui/state.js";

const auth = {
  signup: false, // the form creates an account instead of signing in
};

// What follows a successful sign-in or sign-up; app.js sets it to its start().
const hooks = { signedIn: async () => {} };

export function onSignedIn(callback) {
  hooks.signedIn = callback;
}

export function showAuth(signup) {
  auth.signup = signup;
  $("studio").hidden = true;
  $("auth").hidden = false;
  $("auth-intro").textContent = signup ? "Create your account. The first account administers the server." : "Sign in to your chat studio.";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-switch").textContent = signup ? "I have an account" : "Create an account instead";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-username").focus();
}

$("auth-switch").addEventListener("click", () => showAuth(!auth.signup));

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("auth-error");
  error.hidden = true;
  const body = { username: $("auth-username").value.trim(), password: $("auth-password").value };
  // The server checks these too; saying it here spares a round trip.
  const problem = !body.username
    ? "Choose a user name."
    : auth.signup && body.password.length < 8
      ? "A password needs at least 8 characters."
      : !body.password
        ? "Enter your password."
        : null;
  if (problem) {
    error.textContent = problem;
    error.hidden = false;
    return;
  }
  try {
    await api("POST", auth.signup ? "/api/auth/signup" : "/api/auth/login", body);
    $("auth-password").value = "";
    await hooks.signedIn();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout").catch(() => {});
  setUser(null);
  showAuth(false);
});

// One's signed-in sessions, each but this one with a button that signs it out.
async function showSessions() {
  const { sessions } = await api("GET", "/api/me/sessions");
  $("session-list").replaceChildren(
    ...sessions.map((session) => {
      const item = el("li", { class: "session" }, `Signed in ${new Date(session.created_at_ms).toLocaleString()}`);
      if (session.current) item.append(" (this session)");
      else {
        const end = el("button", { type: "button", class: "link", text: "Sign out" });
        end.addEventListener("click", async () => {
          await api("DELETE", `/api/me/sessions/${session.id}`);
          await showSessions();
        });
        item.append(" ", end);
      }
      return item;
    }),
  );
}

// Changing one's password (which signs out one's other sessions).
$("open-password").addEventListener("click", () => {
  $("password-form").reset();
  $("password-result").hidden = true;
  $("password-dialog").showModal();
  $("current-password").focus();
  showSessions().catch(() => {});
});
$("password-close").addEventListener("click", () => $("password-dialog").close());
$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("password-result");
  const body = { current_password: $("current-password").value, new_password: $("new-password").value };
  try {
    await api("POST", "/api/me/password", body);
    $("password-form").reset();
    result.className = "";
    result.textContent = "Password changed. Your other sessions were signed out.";
    await showSessions();
  } catch (failure) {
    result.className = "error";
    result.textContent = failure.message;
  }
  result.hidden = false;
});
