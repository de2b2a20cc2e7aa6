// Calling the JSON API (api(), ApiError, server-sent events, newestOnly) and guard(), which reports a failed call.

import { $ } from "/ui/dom.js";

export class ApiError extends Error {
  constructor(status, code, message, violations) {
    super(message);
    this.status = status;
    this.code = code;
    this.violations = violations ?? [];
  }
}

// `raw` sends `body` (a File or bytes) as it is, instead of as JSON.
export async function api(method, path, body, { raw = false } = {}) {
  const options = { method, headers: {} };
  if (raw) {
    options.headers["content-type"] = "application/octet-stream";
    options.body = body;
  } else if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = data.error ?? {};
    throw new ApiError(response.status, error.code ?? "error", error.message ?? response.statusText, error.violations);
  }
  return data;
}

// Calls `onEvent(name, data)` for each complete server-sent event in `buffer`; returns the
// incomplete rest, to be continued by the next chunk.
export function parseEvents(buffer, onEvent) {
  let boundary;
  while ((boundary = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, boundary);
    buffer = buffer.slice(boundary + 2);
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  }
  return buffer;
}

// A list refreshed by actions, events and typing can have several loads in flight; only
// the one started last may draw, so an answer that arrives late never hides a newer state.
// `newestOnly()` gives a function that starts a load and returns its "still newest?" check.
export function newestOnly() {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}

// What a 401 does; app.js sets it (show the sign-in form), so this module imports no sign-in code.
const hooks = { unauthorized: () => {} };

export function onUnauthorized(callback) {
  hooks.unauthorized = callback;
}

export function showError(message) {
  const item = document.createElement("li");
  item.className = "message error-message";
  item.setAttribute("role", "alert");
  item.textContent = message;
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

// Runs `action`; a failure shows in the chat, an expired session brings back the sign-in form.
export async function guard(action) {
  try {
    await action();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) hooks.unauthorized();
    else showError(failure.message);
  }
}
