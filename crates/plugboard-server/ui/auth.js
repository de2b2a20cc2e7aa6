// Sign-in, sign-up and sign-out: the form the page shows until start() (app.js) finds a session.

import { $ } from "/ui/dom.js";
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
