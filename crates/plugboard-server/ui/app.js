// Plugboard's chat studio: sign-in, conversations, streamed chat, traces. Plain
// JavaScript modules served by the binary; every call goes to the same JSON API as any
// other client, with the session cookie.

import { render } from "/ui/markdown.js";

const $ = (id) => document.getElementById(id);

const state = {
  user: null,
  conversation: null, // the open conversation, or null for a new chat
  messages: [],
  streaming: null, // the AbortController of the reply being streamed
  commands: [],
  signup: false,
};

// ---- API -------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, violations) {
    super(message);
    this.status = status;
    this.code = code;
    this.violations = violations ?? [];
  }
}

// `raw` sends `body` (a File or bytes) as it is, instead of as JSON.
async function api(method, path, body, { raw = false } = {}) {
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

// ---- Sign-in ---------------------------------------------------------------------

function showAuth(signup) {
  state.signup = signup;
  $("studio").hidden = true;
  $("auth").hidden = false;
  $("auth-intro").textContent = signup ? "Create your account. The first account administers the server." : "Sign in to your chat studio.";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-switch").textContent = signup ? "I have an account" : "Create an account instead";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-username").focus();
}

$("auth-switch").addEventListener("click", () => showAuth(!state.signup));

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("auth-error");
  error.hidden = true;
  const body = { username: $("auth-username").value.trim(), password: $("auth-password").value };
  // The server checks these too; saying it here spares a round trip.
  const problem = !body.username
    ? "Choose a user name."
    : state.signup && body.password.length < 8
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
    await api("POST", state.signup ? "/api/auth/signup" : "/api/auth/login", body);
    $("auth-password").value = "";
    await start();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout").catch(() => {});
  state.user = null;
  showAuth(false);
});

// ---- Theme -----------------------------------------------------------------------

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem("plugboard-theme"));
$("theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const next = dark ? "light" : "dark";
  localStorage.setItem("plugboard-theme", next);
  applyTheme(next);
  broadcastTheme();
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => broadcastTheme());

// The theme in use, chosen or the system's; plugin frames are told it.
function currentTheme() {
  return document.documentElement.dataset.theme ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

// A list refreshed by actions, events and typing can have several loads in flight; only
// the one started last may draw, so an answer that arrives late never hides a newer state.
// `newestOnly()` gives a function that starts a load and returns its "still newest?" check.
function newestOnly() {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}

// ---- Conversations ---------------------------------------------------------------

const conversationLoads = newestOnly();

async function loadConversations() {
  const current = conversationLoads();
  const search = $("search").value.trim();
  const query = search ? `?search=${encodeURIComponent(search)}` : "";
  const { conversations } = await api("GET", `/api/conversations${query}`);
  if (!current()) return;
  const list = $("conversations");
  list.replaceChildren();
  if (conversations.length === 0) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = search ? "No conversation matches." : "No conversations yet.";
    list.append(empty);
  }
  for (const conversation of conversations) {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "conversation";
    open.textContent = conversation.title;
    open.title = conversation.title;
    if (state.conversation?.id === conversation.id) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => openConversation(conversation));
    const rename = document.createElement("button");
    rename.type = "button";
    rename.className = "icon";
    rename.textContent = "✎";
    rename.setAttribute("aria-label", `Rename ${conversation.title}`);
    rename.addEventListener("click", async () => {
      const title = prompt("New title", conversation.title);
      if (!title) return;
      await guard(async () => {
        const { conversation: renamed } = await api("PATCH", `/api/conversations/${conversation.id}`, { title });
        if (state.conversation?.id === renamed.id) setConversation(renamed);
        await loadConversations();
      });
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Delete ${conversation.title}`);
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete “${conversation.title}” and all its messages?`)) return;
      await guard(async () => {
        await api("DELETE", `/api/conversations/${conversation.id}`);
        if (state.conversation?.id === conversation.id) newChat();
        await loadConversations();
      });
    });
    item.append(open, rename, remove);
    list.append(item);
  }
}

let searchTimer;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => guard(loadConversations), 200);
});

function setConversation(conversation) {
  state.conversation = conversation;
  broadcastConversation();
  $("plugins-menu").hidden = !conversation;
  $("export-menu").hidden = !conversation;
  $("plugins-menu").open = false;
  $("export-menu").open = false;
  $("title").textContent = conversation ? conversation.title : "New chat";
  document.title = conversation ? `${conversation.title} · Plugboard` : "Plugboard";
}

function newChat() {
  stopStreaming();
  showView("chat");
  setConversation(null);
  state.messages = [];
  renderMessages();
  renderAttachments([]);
  $("input").focus();
  document.body.classList.remove("sidebar-open");
}

async function openConversation(conversation) {
  stopStreaming();
  setConversation(conversation);
  showView("chat");
  document.body.classList.remove("sidebar-open");
  await guard(async () => {
    const { messages } = await api("GET", `/api/conversations/${conversation.id}/messages`);
    // Another conversation was opened while these were on their way: they are not shown.
    if (state.conversation?.id !== conversation.id) return;
    state.messages = messages;
    renderMessages();
    await Promise.all([loadConversations(), loadAttachments()]);
  });
}

$("new-chat").addEventListener("click", newChat);
$("open-sidebar").addEventListener("click", () => document.body.classList.add("sidebar-open"));
$("close-sidebar").addEventListener("click", () => document.body.classList.remove("sidebar-open"));

// ---- Messages --------------------------------------------------------------------

function authorName(message) {
  if (message.role === "user") return state.user?.username ?? "You";
  if (message.role === "tool") return "Tool";
  if (message.author?.startsWith("plugin:")) return `Plugin ${message.author.slice("plugin:".length)}`;
  return "Assistant";
}

function messageNode(message) {
  const node = $("message-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = message.id ?? "";
  node.classList.add(message.role);
  node.querySelector(".who").textContent = authorName(message);
  const badges = node.querySelector(".badges");
  if (message.status === "partial") badges.append(badge("stopped", "The reply was cut off"));
  if (message.data?.streamed !== undefined) {
    badges.append(badge("replaced by plugin", "An after-response filter changed the streamed reply"));
  }
  if (message.edited_at_ms) badges.append(badge("edited"));
  node.querySelector(".body").append(render(message.content ?? ""));
  for (const call of message.data?.tool_calls ?? []) addToolCall(node, call.name, call.arguments).dataset.callId = call.id;
  node.querySelector(".edit").addEventListener("click", () => editMessage(message, node));
  node.querySelector(".delete").addEventListener("click", () => deleteMessage(message));
  node.querySelector(".trace").addEventListener("click", () => toggleTrace(message, node));
  if (message.role !== "assistant") node.querySelector(".trace").hidden = true;
  // Plugins' message actions, for stored messages people wrote or read.
  if (message.id && (message.role === "user" || message.role === "assistant")) {
    for (const mount of messageActions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link plugin-action";
      button.textContent = mount.title;
      button.title = `${mount.title} (plugin ${mount.plugin})`;
      button.addEventListener("click", () => openMessageAction(mount, message));
      node.querySelector(".actions").append(button);
    }
  }
  return node;
}

function badge(text, title) {
  const span = document.createElement("span");
  span.className = "badge";
  span.textContent = text;
  if (title) span.title = title;
  return span;
}

function addToolCall(node, name, argumentsText, result) {
  const details = document.createElement("details");
  details.className = "tool";
  const summary = document.createElement("summary");
  summary.textContent = `Tool call: ${name}`;
  const args = document.createElement("pre");
  args.textContent = argumentsText;
  details.append(summary, args);
  if (result !== undefined) setToolResult(details, result);
  node.querySelector(".tools").append(details);
  return details;
}

function setToolResult(details, result, isError) {
  const out = document.createElement("pre");
  out.className = isError ? "tool-result error" : "tool-result";
  out.textContent = result;
  details.append(out);
}

function renderMessages() {
  const list = $("messages");
  const shown = state.messages.filter((m) => !m.deleted_at_ms);
  list.replaceChildren(...shown.filter((m) => m.role !== "tool").map(messageNode));
  // Tool results go under the call they answer.
  for (const result of shown.filter((m) => m.role === "tool")) {
    const call = [...list.querySelectorAll("details.tool")].find((d) => d.dataset.callId === result.data?.tool_call_id);
    if (call) setToolResult(call, result.content, result.data?.is_error);
  }
  $("empty").hidden = state.messages.length > 0;
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

async function editMessage(message, node) {
  const body = node.querySelector(".body");
  const editor = document.createElement("textarea");
  editor.value = message.content;
  editor.className = "editor";
  const save = document.createElement("button");
  save.type = "button";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "link";
  cancel.textContent = "Cancel";
  body.replaceChildren(editor, save, cancel);
  editor.focus();
  cancel.addEventListener("click", () => body.replaceChildren(render(message.content)));
  save.addEventListener("click", () =>
    guard(async () => {
      const { message: edited } = await api("PATCH", `/api/messages/${message.id}`, { content: editor.value });
      Object.assign(message, edited);
      node.replaceWith(messageNode(message));
    }),
  );
}

async function deleteMessage(message) {
  if (!confirm("Delete this message?")) return;
  await guard(async () => {
    await api("DELETE", `/api/messages/${message.id}`);
    state.messages = state.messages.filter((m) => m.id !== message.id);
    renderMessages();
  });
}

async function toggleTrace(message, node) {
  const view = node.querySelector(".trace-view");
  if (!view.hidden) {
    view.hidden = true;
    return;
  }
  await guard(async () => {
    try {
      const { trace } = await api("GET", `/api/messages/${message.id}/trace`);
      view.replaceChildren(traceTable(trace?.trace?.steps ?? []));
    } catch (failure) {
      if (!(failure instanceof ApiError && failure.status === 404)) throw failure;
      view.replaceChildren(traceTable([]));
    }
    view.hidden = false;
  });
}

function traceTable(steps) {
  if (steps.length === 0) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = "No plugin ran for this reply.";
    return none;
  }
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const title of ["Stage", "Plugin", "Time", "What happened"]) {
    const cell = document.createElement("th");
    cell.textContent = title;
    head.append(cell);
  }
  const body = table.createTBody();
  for (const step of steps) {
    const row = body.insertRow();
    row.insertCell().textContent = step.stage ?? step.hook ?? "";
    row.insertCell().textContent = step.plugin ?? step.model ?? "";
    const micros = step.elapsed_us;
    row.insertCell().textContent = micros !== undefined ? `${(micros / 1000).toFixed(2)} ms` : "";
    const what = row.insertCell();
    if (step.before !== undefined && step.after !== undefined) {
      const before = document.createElement("del");
      before.textContent = step.before;
      const after = document.createElement("ins");
      after.textContent = step.after;
      what.append(before, " → ", after);
    } else if (step.stage === "tool") {
      what.textContent = `${step.tool}(${step.arguments}) → ${step.result}`;
    } else if (step.outcome) {
      what.textContent = [step.outcome, step.reason, step.error].filter(Boolean).join(": ");
    } else {
      const notes = [...(step.notices ?? [])];
      if (step.tool_calls) notes.push(`${step.tool_calls} tool call(s)`);
      if (step.cancelled) notes.push("stopped");
      what.textContent = notes.join("; ");
    }
  }
  return table;
}

// ---- Models ----------------------------------------------------------------------

async function loadModels() {
  const overview = await api("GET", "/api/models");
  const select = $("model");
  const chosen = select.value || overview.default;
  select.replaceChildren();
  for (const model of overview.models) {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = model.info.display_name || model.id;
    option.title = model.id;
    select.append(option);
  }
  if (chosen && overview.models.some((m) => m.id === chosen)) select.value = chosen;
  const problem = $("model-problem");
  if (overview.models.length === 0) {
    const messages = overview.problems.map((p) => p.message);
    problem.textContent = messages.length ? messages.join(" ") : "No model is available. /run and plugin commands still work.";
    problem.hidden = false;
  } else {
    problem.hidden = true;
  }
  // A model still downloading or loading shows up by itself.
  if (overview.problems.some((p) => p.message.includes("not ready yet"))) setTimeout(() => guard(loadModels), 3000);
}

// ---- Chat ------------------------------------------------------------------------

function parseEvents(buffer, onEvent) {
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

async function send(text) {
  const controller = new AbortController();
  state.streaming = controller;
  $("send").hidden = true;
  $("stop").hidden = false;
  $("empty").hidden = true;

  const reply = { role: "assistant", content: "", data: {}, status: "streaming" };
  let replyNode = null;
  const toolNodes = new Map();
  const ensureReply = () => {
    if (!replyNode) {
      replyNode = messageNode(reply);
      replyNode.classList.add("streaming");
      $("messages").append(replyNode);
    }
    return replyNode;
  };
  const refresh = () => {
    const body = ensureReply().querySelector(".body");
    body.replaceChildren(render(reply.content));
    replyNode.scrollIntoView({ block: "end" });
  };

  const body = { message: text, model: $("model").value || undefined };
  if (state.conversation) body.conversation_id = state.conversation.id;
  try {
    const response = await fetch("/api/chat/stream", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) {
      const error = (await response.json().catch(() => ({}))).error ?? {};
      throw new ApiError(response.status, error.code ?? "error", error.message ?? response.statusText);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + value, (name, data) => {
        switch (name) {
          case "conversation":
            if (!state.conversation) {
              state.conversation = { id: data.conversation_id, title: text.slice(0, 60) };
              loadConversations().then(() => api("GET", `/api/conversations/${data.conversation_id}`)).then(
                ({ conversation }) => setConversation(conversation),
                () => {},
              );
            }
            break;
          case "message":
            state.messages.push(data.message);
            $("messages").append(messageNode(data.message));
            break;
          case "delta":
            reply.content += data.text;
            refresh();
            break;
          case "tool_call":
            toolNodes.set(data.id, addToolCall(ensureReply(), `${data.plugin}/${data.tool}`, data.arguments));
            break;
          case "tool_result": {
            const details = toolNodes.get(data.id) ?? addToolCall(ensureReply(), `${data.plugin}/${data.tool}`, "");
            setToolResult(details, data.content, data.is_error);
            break;
          }
          case "replace":
            reply.data.streamed = reply.content;
            reply.content = data.content;
            refresh();
            ensureReply().querySelector(".badges").append(badge("replaced by plugin", "An after-response filter changed the streamed reply"));
            break;
          case "done":
            reply.id = data.message_id;
            reply.status = "complete";
            for (const frame of frames) postTo(frame, { type: "plugboard:event", name: "message-sent" });
            broadcastConversation();
            // Plugins hear of the message a moment later; let widgets look again then.
            setTimeout(broadcastConversation, 600);
            break;
          case "error":
            showError(data.message);
            break;
        }
      });
    }
  } catch (failure) {
    if (failure.name !== "AbortError") showError(failure.message);
  } finally {
    state.streaming = null;
    $("send").hidden = false;
    $("stop").hidden = true;
    // The stored conversation is the truth (ids, the partial reply of a stopped turn).
    if (state.conversation) {
      const { messages } = await api("GET", `/api/conversations/${state.conversation.id}/messages`).catch(() => ({
        messages: state.messages,
      }));
      state.messages = messages;
      renderMessages();
    }
    $("input").focus();
  }
}

function stopStreaming() {
  state.streaming?.abort();
}

function showError(message) {
  const item = document.createElement("li");
  item.className = "message error-message";
  item.setAttribute("role", "alert");
  item.textContent = message;
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

async function guard(action) {
  try {
    await action();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) showAuth(false);
    else showError(failure.message);
  }
}

const input = $("input");
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || state.streaming) return;
  input.value = "";
  autosize();
  hideCommands();
  send(text);
});
$("stop").addEventListener("click", stopStreaming);

input.addEventListener("keydown", (event) => {
  if (!$("commands").hidden && (event.key === "ArrowDown" || event.key === "ArrowUp" || event.key === "Tab")) {
    event.preventDefault();
    moveCommand(event.key === "ArrowUp" ? -1 : 1, event.key === "Tab");
    return;
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  } else if (event.key === "Escape") {
    if (!$("commands").hidden) hideCommands();
    else stopStreaming();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.streaming) stopStreaming();
});

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
}
input.addEventListener("input", () => {
  autosize();
  showCommands();
});

// ---- Slash commands --------------------------------------------------------------

async function loadCommands() {
  const { plugins } = await api("GET", "/api/plugins");
  mountPluginUi(plugins);
  state.commands = [{ name: "help", usage: "/help", description: "Lists the commands", plugin: "" }];
  for (const plugin of plugins) {
    if (plugin.state !== "enabled") continue;
    for (const command of plugin.commands ?? []) state.commands.push({ ...command, plugin: plugin.id });
    if ((plugin.tools ?? []).length > 0) {
      state.commands.push({ name: `run ${plugin.id}`, usage: `/run ${plugin.id} <input>`, description: plugin.description, plugin: plugin.id });
    }
  }
}

let selectedCommand = 0;
function showCommands() {
  const text = input.value;
  const list = $("commands");
  if (!text.startsWith("/") || text.includes("\n")) return hideCommands();
  const typed = text.slice(1).toLowerCase();
  const matches = state.commands.filter((command) => command.name.startsWith(typed.split(" ").slice(0, 2).join(" ")) || command.name.startsWith(typed));
  if (matches.length === 0) return hideCommands();
  selectedCommand = Math.min(selectedCommand, matches.length - 1);
  list.replaceChildren(
    ...matches.map((command, index) => {
      const item = document.createElement("li");
      item.role = "option";
      item.setAttribute("aria-selected", index === selectedCommand ? "true" : "false");
      const usage = document.createElement("code");
      usage.textContent = command.usage ?? `/${command.name}`;
      const description = document.createElement("span");
      description.textContent = command.description ?? "";
      item.append(usage, " ", description);
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(command);
      });
      item.dataset.name = command.name;
      return item;
    }),
  );
  list.hidden = false;
}

function choose(command) {
  input.value = `/${command.name} `;
  hideCommands();
  input.focus();
}

function moveCommand(step, accept) {
  const items = [...$("commands").children];
  if (accept) {
    const chosen = state.commands.find((command) => command.name === items[selectedCommand]?.dataset.name);
    if (chosen) choose(chosen);
    return;
  }
  selectedCommand = (selectedCommand + step + items.length) % items.length;
  items.forEach((item, index) => item.setAttribute("aria-selected", index === selectedCommand ? "true" : "false"));
}

function hideCommands() {
  $("commands").hidden = true;
  selectedCommand = 0;
}

// ---- Attachments -----------------------------------------------------------------

const attachmentLoads = newestOnly();

async function loadAttachments() {
  const current = attachmentLoads();
  if (!state.conversation) return renderAttachments([]);
  const { attachments } = await api("GET", `/api/conversations/${state.conversation.id}/attachments`);
  if (current()) renderAttachments(attachments);
}

function renderAttachments(attachments) {
  const list = $("attachments");
  list.replaceChildren(
    ...attachments.map((file) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/api/attachments/${file.id}`;
      link.download = file.file_name;
      link.textContent = `${file.file_name} (${Math.max(1, Math.round(file.size / 1024))} KB)`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "icon";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${file.file_name}`);
      remove.addEventListener("click", () =>
        guard(async () => {
          await api("DELETE", `/api/attachments/${file.id}`);
          await loadAttachments();
        }),
      );
      item.append(link, remove);
      return item;
    }),
  );
  list.hidden = attachments.length === 0;
}

$("attach").addEventListener("change", () =>
  guard(async () => {
    const file = $("attach").files[0];
    $("attach").value = "";
    if (!file) return;
    if (!state.conversation) {
      const { conversation } = await api("POST", "/api/conversations", { title: file.name });
      setConversation(conversation);
      await loadConversations();
    }
    const response = await fetch(`/api/conversations/${state.conversation.id}/attachments`, {
      method: "POST",
      headers: { "x-file-name": encodeURIComponent(file.name), "content-type": file.type || "application/octet-stream" },
      body: file,
    });
    if (!response.ok) {
      const error = (await response.json().catch(() => ({}))).error ?? {};
      throw new ApiError(response.status, error.code ?? "error", error.message ?? response.statusText);
    }
    await loadAttachments();
  }),
);

// ---- Per-conversation plugins and export -----------------------------------------

$("plugins-menu").addEventListener("toggle", () => {
  if ($("plugins-menu").open) guard(showPluginToggles);
});

async function showPluginToggles() {
  const id = state.conversation.id;
  const [{ plugins }, { plugins: choice }] = await Promise.all([
    api("GET", "/api/plugins"),
    api("GET", `/api/conversations/${id}`),
  ]);
  const enabled = plugins.filter((plugin) => plugin.state === "enabled");
  const filterHooks = ["before-prompt", "after-response", "stream-chunk", "message-will-be-posted"];
  const group = (container, list, disabled, key) => {
    container.replaceChildren();
    if (list.length === 0) container.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "None enabled." }));
    for (const plugin of list) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = `${key}:${plugin.id}`;
      box.checked = !disabled.includes(plugin.id);
      box.addEventListener("change", () => guard(() => saveToggles(id)));
      label.append(box, plugin.name ?? plugin.id);
      container.append(label);
    }
  };
  group($("filter-toggles"), enabled.filter((p) => (p.hooks ?? []).some((h) => filterHooks.includes(h))), choice.disabled_filters, "filter");
  group($("tool-toggles"), enabled.filter((p) => (p.tools ?? []).length > 0), choice.disabled_tools, "tool");
}

async function saveToggles(id) {
  const off = (key) =>
    [...document.querySelectorAll(`#plugin-toggles input[name^="${key}:"]`)].filter((b) => !b.checked).map((b) => b.name.slice(key.length + 1));
  await api("PATCH", `/api/conversations/${id}`, { plugins: { disabled_filters: off("filter"), disabled_tools: off("tool") } });
}

$("export-menu").addEventListener("toggle", () => {
  if ($("export-menu").open) guard(showExports);
});

async function showExports() {
  const { formats } = await api("GET", "/api/exports");
  const list = $("export-formats");
  list.replaceChildren();
  if (formats.length === 0) {
    list.append(Object.assign(document.createElement("li"), { className: "muted", textContent: "No exporter plugin is enabled." }));
  }
  for (const { plugin, format } of formats) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/api/conversations/${state.conversation.id}/export?plugin=${encodeURIComponent(plugin)}&format=${encodeURIComponent(format.id)}`;
    link.download = "";
    link.textContent = `${format.display_name} (.${format.extension})`;
    item.append(link);
    list.append(item);
  }
}

// ---- Plugin administration (administrators) --------------------------------------

const PERMISSIONS = {
  kv: "keep its own key-value data",
  "messages.read": "read conversations and messages",
  "messages.write": "write messages into conversations",
  "channels.read": "read the list of conversations",
  "channels.write": "create and change conversations",
  "users.read": "read user names",
  "files.read": "read attached files",
  "files.write": "attach files",
  network: "make web requests to the hosts it lists",
  ai: "ask the models for completions",
};

let events = null;

function showAdmin(open) {
  showView(open ? "admin" : "chat");
  // Installs, uninstalls and switches may have changed what plugins mount.
  if (!open) guard(loadCommands);
  if (open) {
    guard(loadPlugins);
    if (!events) {
      events = new EventSource("/api/plugins/events");
      events.onmessage = (event) => logEvent("event", event.data);
      for (const name of ["loaded", "unloaded", "enabled", "disabled", "failed", "settings-changed", "fault", "breaker-opened"]) {
        events.addEventListener(name, (event) => {
          logEvent(name, event.data);
          // A settings change leaves the list as it is (the form shows its own result).
          if (name !== "settings-changed") guard(loadPlugins);
        });
      }
    }
  }
}

function logEvent(name, data) {
  const item = document.createElement("li");
  let text = data;
  try {
    const value = JSON.parse(data);
    text = [value.plugin, value.version, value.reason, value.error].filter(Boolean).join(" · ");
  } catch {
    // Shown as it came.
  }
  item.textContent = `${new Date().toLocaleTimeString()} ${name.replace("-", " ")}: ${text}`;
  $("plugin-events").prepend(item);
}

$("open-admin").addEventListener("click", () => showAdmin(true));
$("close-admin").addEventListener("click", () => showAdmin(false));

const pluginLoads = newestOnly();

async function loadPlugins() {
  const current = pluginLoads();
  const [{ plugins, broken_folders: broken }, health, catalogue] = await Promise.all([
    api("GET", "/api/plugins"),
    api("GET", "/api/plugins/health"),
    api("GET", "/api/plugins/available"),
  ]);
  if (!current()) return;
  const packages = new Map(catalogue.plugins.map((item) => [item.id, item.installed?.package ?? null]));
  const list = $("plugin-list");
  // A refresh (after an action, or a plugin event) keeps the sections the admin opened.
  const open = new Set([...list.querySelectorAll("details[open][data-plugin]")].map((d) => `${d.dataset.section}:${d.dataset.plugin}`));
  list.replaceChildren(
    ...plugins.map((plugin) =>
      pluginCard(plugin, health.plugins?.[plugin.id], { settings: open.has(`settings:${plugin.id}`), docs: open.has(`docs:${plugin.id}`) }, packages.get(plugin.id)),
    ),
  );
  $("broken-folders").replaceChildren(
    ...(broken ?? []).map((folder) => {
      const item = Object.assign(document.createElement("li"), { className: "plugin" });
      const title = Object.assign(document.createElement("h3"), { textContent: folder.folder });
      title.append(badge("cannot be read"));
      title.lastChild.classList.add("state-failed");
      item.append(title, Object.assign(document.createElement("p"), { textContent: folder.error }));
      return item;
    }),
  );
  $("broken-folders").hidden = !broken?.length;
  renderPolicy(catalogue.policy);
  renderIndex(catalogue);
}

const permissionsInWords = (permissions) =>
  permissions?.length ? permissions.map((p) => PERMISSIONS[p] ?? p).join("; ") : "nothing beyond its own hooks";

function signerInWords(signer, fingerprint, trusted) {
  if (!fingerprint) return "unsigned";
  const who = signer ? `${signer} (key ${fingerprint})` : `key ${fingerprint}`;
  return trusted ? `${who}, a trusted key` : `${who}, a key that is not trusted here`;
}

function pluginCard(plugin, health, opened, installedPackage) {
  const card = document.createElement("li");
  card.className = "plugin";
  card.dataset.plugin = plugin.id;
  const title = document.createElement("h3");
  title.append(plugin.name ?? plugin.id, badge(`v${plugin.version}`), badge(plugin.state));
  title.lastChild.classList.add(`state-${plugin.state}`);
  const description = document.createElement("p");
  description.textContent = plugin.description ?? "";
  const facts = document.createElement("dl");
  const fact = (term, value) => {
    if (value === undefined || value === null || value === "") return;
    facts.append(Object.assign(document.createElement("dt"), { textContent: term }));
    facts.append(Object.assign(document.createElement("dd"), { textContent: value }));
  };
  fact("Id", `${plugin.id} (${plugin.origin})`);
  fact("May", permissionsInWords(plugin.permissions));
  if (installedPackage) {
    const when = new Date(installedPackage.installed_at * 1000).toLocaleString();
    fact("Package", `version ${installedPackage.version}, installed ${when}`);
    fact("Signed by", signerInWords(installedPackage.signer, installedPackage.signer_fingerprint, installedPackage.trusted));
  }
  if (health) fact("Health", `${health.status}: ${health.message}`);
  if (plugin.status) {
    fact("Calls", `${plugin.status.calls ?? 0} calls, ${plugin.status.faults ?? 0} faults, breaker ${plugin.status.breaker?.state ?? "closed"}`);
  }
  fact("Problem", plugin.error ?? plugin.disabled_reason);
  const buttons = document.createElement("div");
  buttons.className = "buttons";
  const action = (label, path, className) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    if (className) button.className = className;
    button.addEventListener("click", () =>
      guard(async () => {
        await api("POST", `/api/plugins/${plugin.id}/${path}`);
        await loadPlugins();
      }),
    );
    buttons.append(button);
  };
  if (plugin.state === "enabled") action("Disable", "disable", "danger");
  else if (plugin.state === "disabled") {
    // Permissions are listed above, so they are read before enabling.
    action("Enable", "enable");
  }
  if (plugin.state !== "failed") action("Reload", "reload", "link");
  // Only plugins installed from a package can be uninstalled; the others would be refused.
  if (installedPackage) {
    const uninstall = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: "Uninstall" });
    uninstall.addEventListener("click", () => {
      const name = plugin.name ?? plugin.id;
      if (!confirm(`Uninstall ${name} ${plugin.version}? Its folder is removed; a version bundled with Plugboard, if there is one, takes its place.`)) return;
      guard(async () => {
        const { plugin: now } = await api("POST", `/api/plugins/${encodeURIComponent(plugin.id)}/uninstall`);
        showInstallResult(
          now ? `Uninstalled ${name} ${plugin.version}; version ${now.version} (${now.origin}) is back.` : `Uninstalled ${name} ${plugin.version}.`,
        );
        await loadPlugins();
      });
    });
    buttons.append(uninstall);
  }
  card.append(title, description, facts, buttons);
  if (plugin.state !== "failed") card.append(settingsSection(plugin, opened.settings), docsSection(plugin, opened.docs));
  return card;
}

// ---- Plugin packages: upload, the plugin index ----------------------------------------

const POLICIES = {
  require: "Only packages signed by a trusted key install.",
  warn: "Unsigned packages and unknown keys install with a warning.",
  off: "Signatures are not checked.",
};

function renderPolicy(policy) {
  const intro = $("install-policy");
  intro.replaceChildren("A ", Object.assign(document.createElement("code"), { textContent: ".plugboard" }), " file made with ");
  intro.append(Object.assign(document.createElement("code"), { textContent: "plugboard plugin package" }), `. ${POLICIES[policy] ?? ""}`);
}

// Shows what happened in the install form's result area: text, optionally as a refusal,
/// with any extra nodes (a list of warnings, a button).
function showInstallResult(text, { refused = false, extra = [] } = {}) {
  const line = Object.assign(document.createElement("p"), { className: refused ? "error" : "", textContent: text });
  if (refused) line.setAttribute("role", "alert");
  $("install-result").replaceChildren(line, ...extra);
}

function describeInstalled({ installed, plugin }) {
  const name = plugin?.name ?? installed.plugin;
  const replaced = installed.replaced ? ` (replacing ${installed.replaced})` : "";
  const verification = installed.verification ?? {};
  const signed = signerInWords(verification.signer, verification.signer_fingerprint, verification.trusted);
  const text = `Installed ${name} ${installed.version}${replaced}. Signed by: ${signed}.`;
  const warnings = verification.warnings ?? [];
  if (warnings.length === 0) return { text, extra: [] };
  const list = Object.assign(document.createElement("ul"), { className: "warnings" });
  list.setAttribute("aria-label", "Warnings");
  list.append(...warnings.map((warning) => Object.assign(document.createElement("li"), { textContent: `Warning: ${warning}` })));
  return { text, extra: [list] };
}

// Runs an install (`send(force)`) and reports it; a refused downgrade offers to force it.
async function install(send, force = false) {
  try {
    const result = await send(force);
    const { text, extra } = describeInstalled(result);
    showInstallResult(text, { extra });
    await loadPlugins();
    return true;
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) throw failure;
    const extra = [];
    if (failure instanceof ApiError && failure.code === "package_downgrade") {
      const anyway = Object.assign(document.createElement("button"), { type: "button", className: "danger", textContent: "Install anyway" });
      anyway.addEventListener("click", () => {
        if (confirm(`Install the older version anyway? ${failure.message}`)) guard(() => install(send, true));
      });
      extra.push(anyway);
    }
    showInstallResult(`Not installed: ${failure.message}`, { refused: true, extra });
    return false;
  }
}

$("install-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("package-file").files[0];
  if (!file) {
    showInstallResult("Choose a package file first.", { refused: true });
    $("package-file").focus();
    return;
  }
  showInstallResult(`Installing ${file.name}…`);
  guard(async () => {
    const path = (force) => `/api/plugins/install${force ? "?force=true" : ""}`;
    if (await install((force) => api("POST", path(force), file, { raw: true }))) $("package-file").value = "";
  });
});

function renderIndex({ index, plugins }) {
  const status = $("index-status");
  const list = $("index-list");
  const offered = plugins.filter((item) => item.available);
  list.replaceChildren();
  status.classList.toggle("error", Boolean(index?.error));
  if (!index) {
    status.replaceChildren("No plugin index configured: set ", Object.assign(document.createElement("code"), { textContent: "PLUGBOARD_PLUGIN_INDEX" }));
    status.append(" (or ", Object.assign(document.createElement("code"), { textContent: "[packages] index" }), " in plugboard.toml) to an index.json, a file or a URL.");
    return;
  }
  if (index.error) {
    status.textContent = `The plugin index at ${index.location} cannot be read: ${index.error}`;
    return;
  }
  status.textContent = `${index.name ?? "Plugin index"} (${index.location}): ${offered.length ? `${offered.length} ${offered.length === 1 ? "plugin" : "plugins"}` : "it offers no plugins"}.`;
  list.append(...offered.map(indexItem));
}

function indexItem(item) {
  const { available, installed } = item;
  const card = Object.assign(document.createElement("li"), { className: "plugin" });
  card.dataset.plugin = item.id;
  const title = document.createElement("h3");
  title.append(available.name ?? item.id, badge(`v${available.version}`));
  const description = Object.assign(document.createElement("p"), { textContent: available.description ?? "" });
  const facts = document.createElement("dl");
  const fact = (term, value) => {
    facts.append(Object.assign(document.createElement("dt"), { textContent: term }));
    facts.append(Object.assign(document.createElement("dd"), { textContent: value }));
  };
  fact("Id", item.id);
  // Read before the button: what installing it grants.
  fact("May", permissionsInWords(available.permissions));
  fact("Signed by", available.signer ? `${available.signer.name ?? "unnamed"} (key ${available.signer.fingerprint}), as the index says` : "unsigned, as the index says");
  fact("Here", installed ? `version ${installed.version} (${installed.origin})` : "not installed");
  const buttons = Object.assign(document.createElement("div"), { className: "buttons" });
  const label = !installed ? "Install" : item.update_available ? `Update to ${available.version}` : null;
  if (label) {
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: label });
    button.setAttribute("aria-label", `${label}: ${available.name ?? item.id}`);
    button.addEventListener("click", () => {
      showInstallResult(`Installing ${available.name ?? item.id} ${available.version} from the index…`);
      $("install-result").scrollIntoView({ block: "nearest" });
      button.disabled = true;
      guard(async () => {
        const send = (force) => api("POST", `/api/plugins/install${force ? "?force=true" : ""}`, { id: item.id, version: available.version });
        if (!(await install(send))) button.disabled = false;
      });
    });
    buttons.append(button);
  } else {
    const note = installed.version === available.version ? "Up to date" : `Version ${installed.version} is installed`;
    buttons.append(Object.assign(document.createElement("span"), { className: "muted", textContent: note }));
  }
  card.append(title, description, facts, buttons);
  return card;
}

function settingsSection(plugin, open) {
  const details = document.createElement("details");
  details.dataset.section = "settings";
  details.dataset.plugin = plugin.id;
  const summary = document.createElement("summary");
  summary.textContent = "Settings";
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (details.open && details.childElementCount === 1) guard(() => fillSettings(plugin, details));
  });
  details.open = open;
  return details;
}

function docsSection(plugin, open) {
  const details = document.createElement("details");
  details.className = "docs";
  details.dataset.section = "docs";
  details.dataset.plugin = plugin.id;
  const summary = document.createElement("summary");
  summary.textContent = "Documentation";
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (!details.open || details.childElementCount > 1) return;
    guard(async () => {
      const { docs } = await api("GET", `/api/plugins/${plugin.id}/docs`);
      const view = document.createElement("article");
      view.className = "doc";
      if (docs.length === 0) {
        view.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "This plugin has no documentation." }));
        details.append(view);
        return;
      }
      const pages = document.createElement("nav");
      const show = async (file) => {
        const response = await fetch(`/api/plugins/${plugin.id}/${file.split("/").map(encodeURIComponent).join("/")}`);
        if (!response.ok) throw new ApiError(response.status, "error", `cannot read ${file}`);
        view.replaceChildren(render(await response.text()));
      };
      for (const file of docs) {
        const button = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: file.slice("docs/".length) });
        button.addEventListener("click", () => guard(() => show(file)));
        pages.append(button);
      }
      details.append(pages, view);
      await show(docs[0]);
    });
  });
  details.open = open;
  return details;
}

function isSecret(schema) {
  return schema.format === "password" || schema.writeOnly === true;
}

async function fillSettings(plugin, details) {
  const { settings, schema } = await api("GET", `/api/plugins/${plugin.id}/config`);
  const properties = schema?.properties ?? {};
  const form = document.createElement("form");
  form.className = "settings";
  form.noValidate = true;
  const required = new Set(schema?.required ?? []);
  const formError = Object.assign(document.createElement("p"), { className: "field-error", role: "alert", hidden: true });
  form.append(formError);
  if (Object.keys(properties).length === 0) {
    form.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "This plugin has no settings." }));
    details.append(form);
    return;
  }
  for (const [name, property] of Object.entries(properties)) {
    const id = `setting-${plugin.id}-${name}`;
    const label = document.createElement("label");
    const caption = `${property.title ?? name}${required.has(name) ? " (required)" : ""}`;
    const value = settings?.[name];
    let field;
    if (property.type === "boolean") {
      label.className = "check";
      field = Object.assign(document.createElement("input"), { type: "checkbox", checked: Boolean(value ?? property.default) });
      label.append(field, caption);
    } else {
      if (Array.isArray(property.enum)) {
        field = document.createElement("select");
        for (const choice of property.enum) field.append(Object.assign(document.createElement("option"), { value: JSON.stringify(choice), textContent: String(choice) }));
        field.value = JSON.stringify(value ?? property.default ?? property.enum[0]);
      } else if (property.type === "integer" || property.type === "number") {
        field = Object.assign(document.createElement("input"), { type: "number", value: value ?? "" });
        if (property.minimum !== undefined) field.min = property.minimum;
        if (property.maximum !== undefined) field.max = property.maximum;
        if (property.type === "integer") field.step = 1;
      } else if (property.type === "string") {
        field = Object.assign(document.createElement("input"), { type: isSecret(property) ? "password" : "text" });
        field.value = isSecret(property) ? "" : value ?? "";
        if (isSecret(property)) field.placeholder = "unchanged (never shown)";
        field.autocomplete = "off";
      } else {
        field = document.createElement("textarea");
        field.value = JSON.stringify(value ?? property.default ?? null, null, 2);
        field.dataset.json = "true";
      }
      if (property.default !== undefined && !isSecret(property) && field.tagName === "INPUT") field.placeholder = String(property.default);
      label.append(caption, field);
    }
    field.id = id;
    field.name = name;
    field.dataset.type = property.type ?? "";
    const help = Object.assign(document.createElement("small"), { className: "muted", textContent: property.description ?? "" });
    const error = Object.assign(document.createElement("span"), { className: "field-error", hidden: true });
    error.dataset.for = name;
    field.setAttribute("aria-describedby", `${id}-error`);
    error.id = `${id}-error`;
    label.append(help, error);
    form.append(label);
  }
  const save = Object.assign(document.createElement("button"), { type: "submit", textContent: "Save settings" });
  const saved = Object.assign(document.createElement("span"), { className: "muted", role: "status" });
  form.append(save, saved);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saved.textContent = "";
    formError.hidden = true;
    form.querySelectorAll(".field-error[data-for]").forEach((e) => (e.hidden = true));
    const values = {};
    for (const field of form.querySelectorAll("[name]")) {
      const property = properties[field.name];
      if (field.type === "checkbox") values[field.name] = field.checked;
      else if (field.tagName === "SELECT") values[field.name] = JSON.parse(field.value);
      else if (field.dataset.json) {
        try {
          values[field.name] = JSON.parse(field.value);
        } catch {
          showFieldError(form, field.name, "This is not valid JSON.");
          return;
        }
      } else if (field.type === "number") {
        if (field.value !== "") values[field.name] = Number(field.value);
      } else if (isSecret(property)) {
        if (field.value !== "") values[field.name] = field.value; // left out: kept as it is
      } else if (field.value !== "" || required.has(field.name)) values[field.name] = field.value;
    }
    try {
      await api("PUT", `/api/plugins/${plugin.id}/config`, values);
      saved.textContent = "Saved.";
    } catch (failure) {
      if (!(failure instanceof ApiError) || failure.violations.length === 0) {
        formError.textContent = failure.message;
        formError.hidden = false;
        return;
      }
      for (const violation of failure.violations) {
        const field = violation.path.replace(/^\//, "").split("/")[0];
        if (!showFieldError(form, field, `${violation.path}: ${violation.message}`)) {
          formError.textContent = violation.message;
          formError.hidden = false;
        }
      }
    }
  });
  details.append(form);
}

function showFieldError(form, name, message) {
  const error = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
  if (!error) return false;
  error.textContent = error.hidden ? message : `${error.textContent} ${message}`;
  error.hidden = false;
  return true;
}

// ---- Plugin UI: sandboxed frames and the postMessage bridge ---------------------
//
// A plugin's UI runs in an iframe with `sandbox="allow-scripts"` and no same-origin: it
// has an opaque origin, cannot read the page, its cookie or other plugins' frames, and
// reaches Plugboard only through these messages (see docs/plugin-ui.md):
//   frame → page: plugboard:ready, plugboard:get-conversation,
//                 plugboard:insert-text {text}, plugboard:call-route {id, method, path, body}
//   page → frame: plugboard:conversation {conversation}, plugboard:route-response
//                 {id, ok, status, body}, plugboard:event {name},
//                 plugboard:message {message: {id, role, content}} (message actions),
//                 plugboard:theme {theme: "light" | "dark"}
// Mount points: sidebar (a titled frame each), toolbar (a small frame in the top bar),
// chat-input (a button beside the input opening its frame above it), message-actions (a
// button on each message opening the plugin's one frame in a dialog) and page (a link in
// the sidebar opening the frame in the main area).

const MOUNT_POINTS = ["sidebar", "toolbar", "chat-input", "message-actions", "page"];
const frames = []; // every mounted frame: {plugin, mount, element, ready, pending}
const lazyFrames = new Map(); // chat-input and message-actions frames, made on first use
let mountsSignature = "";
let messageActions = []; // the message-actions mounts, read by messageNode
let pageFrame = null;

const mountKey = (mount) => `${mount.plugin}\n${mount.mount}\n${mount.entry}`;

function uiUrl(mount) {
  const file = mount.entry.slice("ui/".length).split("/").map(encodeURIComponent).join("/");
  return `/api/plugins/${encodeURIComponent(mount.plugin)}/ui/${file}`;
}

function makeFrame(mount, className) {
  const element = document.createElement("iframe");
  element.setAttribute("sandbox", "allow-scripts");
  element.className = className;
  element.title = `${mount.title} (plugin ${mount.plugin})`;
  element.dataset.plugin = mount.plugin;
  element.dataset.mount = mount.mount;
  element.src = uiUrl(mount);
  const frame = { plugin: mount.plugin, mount: mount.mount, element, ready: false, pending: null };
  frames.push(frame);
  return frame;
}

function dropFrame(frame) {
  frame.element.remove();
  const at = frames.indexOf(frame);
  if (at >= 0) frames.splice(at, 1);
}

// Mounts the UI of the enabled plugins; nothing changes (no frame reloads) when the
// mounts are the same as last time.
function mountPluginUi(plugins) {
  const mounts = [];
  for (const plugin of plugins) {
    if (plugin.state !== "enabled") continue;
    for (const mount of plugin.ui ?? []) {
      if (!MOUNT_POINTS.includes(mount.mount) || typeof mount.entry !== "string" || !mount.entry.startsWith("ui/")) continue;
      const title = mount.title || plugin.name || plugin.id;
      mounts.push({ plugin: plugin.id, version: plugin.version, mount: mount.mount, entry: mount.entry, title });
    }
  }
  const signature = JSON.stringify(mounts);
  if (signature === mountsSignature) return;
  mountsSignature = signature;
  for (const frame of [...frames]) dropFrame(frame);
  lazyFrames.clear();
  if (!$("plugin-page").hidden) showView("chat");
  const at = (point) => mounts.filter((mount) => mount.mount === point);

  $("widgets").replaceChildren(
    ...at("sidebar").map((mount) => {
      const section = Object.assign(document.createElement("section"), { className: "widget" });
      section.append(Object.assign(document.createElement("h3"), { textContent: mount.title }), makeFrame(mount, "widget-frame").element);
      return section;
    }),
  );
  $("toolbar-mounts").replaceChildren(...at("toolbar").map((mount) => makeFrame(mount, "toolbar-frame").element));
  $("input-panel").replaceChildren();
  $("input-panel").hidden = true;
  $("input-mounts").replaceChildren(
    ...at("chat-input").map((mount) => {
      const button = Object.assign(document.createElement("button"), { type: "button", className: "input-mount", textContent: mount.title });
      button.title = `${mount.title} (plugin ${mount.plugin})`;
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-controls", "input-panel");
      button.addEventListener("click", () => toggleInputPanel(mount, button));
      return button;
    }),
  );
  messageActions = at("message-actions");
  const pages = at("page");
  $("plugin-page-links").replaceChildren(
    ...pages.map((mount) => {
      const item = document.createElement("li");
      const link = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: mount.title });
      link.title = `${mount.title} (plugin ${mount.plugin})`;
      link.addEventListener("click", () => openPluginPage(mount, link));
      item.append(link);
      return item;
    }),
  );
  $("plugin-pages").hidden = pages.length === 0;
  if (!state.streaming) renderMessages();
}

// A chat-input mount's frame, in the panel above the input; made on first use and kept,
// so what the user typed in it stays.
function toggleInputPanel(mount, button) {
  const panel = $("input-panel");
  const key = mountKey(mount);
  const wasOpen = !panel.hidden && panel.dataset.key === key;
  for (const other of $("input-mounts").children) other.setAttribute("aria-expanded", "false");
  if (wasOpen) {
    panel.hidden = true;
    delete panel.dataset.key;
    return;
  }
  let frame = lazyFrames.get(key);
  if (!frame) {
    frame = makeFrame(mount, "input-frame");
    lazyFrames.set(key, frame);
    panel.append(frame.element);
  }
  for (const child of panel.children) child.hidden = child !== frame.element;
  panel.dataset.key = key;
  panel.hidden = false;
  button.setAttribute("aria-expanded", "true");
}

// A message action: the plugin's one dialog frame (never one per message) gets the message.
function openMessageAction(mount, message) {
  const key = mountKey(mount);
  let frame = lazyFrames.get(key);
  if (!frame) {
    frame = makeFrame(mount, "dialog-frame");
    lazyFrames.set(key, frame);
    $("plugin-dialog-body").append(frame.element);
  }
  for (const child of $("plugin-dialog-body").children) child.hidden = child !== frame.element;
  $("plugin-dialog-title").textContent = mount.title;
  sendWhenReady(frame, { type: "plugboard:message", message: { id: message.id, role: message.role, content: message.content ?? "" } });
  if (!$("plugin-dialog").open) $("plugin-dialog").showModal();
}

$("close-dialog").addEventListener("click", () => $("plugin-dialog").close());

// A page mount fills the main area; its frame is made fresh each time it opens.
function openPluginPage(mount, link) {
  showView("page");
  pageFrame = makeFrame(mount, "page-frame");
  $("plugin-page-title").textContent = mount.title;
  $("plugin-page-body").replaceChildren(pageFrame.element);
  link.setAttribute("aria-current", "page");
  document.title = `${mount.title} · Plugboard`;
}

function closePluginPage() {
  if (pageFrame) dropFrame(pageFrame);
  pageFrame = null;
  for (const link of $("plugin-page-links").querySelectorAll("[aria-current]")) link.removeAttribute("aria-current");
}

$("close-page").addEventListener("click", () => showView("chat"));

// The main area shows the chat, the plugin administration or a plugin's page.
function showView(view) {
  document.querySelector(".chat").hidden = view !== "chat";
  $("admin").hidden = view !== "admin";
  $("plugin-page").hidden = view !== "page";
  closePluginPage();
  document.body.classList.remove("sidebar-open");
  if (view === "chat") document.title = state.conversation ? `${state.conversation.title} · Plugboard` : "Plugboard";
}

function postTo(frame, message) {
  // A sandboxed frame's origin is opaque ("null"), so "*" is the only target that
  // reaches it; the message goes to that one window only.
  frame.element.contentWindow?.postMessage(message, "*");
}

function sendWhenReady(frame, message) {
  if (frame.ready) postTo(frame, message);
  else frame.pending = message;
}

const conversationForFrames = () => (state.conversation ? { id: state.conversation.id, title: state.conversation.title } : null);

function broadcastTheme() {
  for (const frame of frames) postTo(frame, { type: "plugboard:theme", theme: currentTheme() });
}

function broadcastConversation() {
  for (const frame of frames) postTo(frame, { type: "plugboard:conversation", conversation: conversationForFrames() });
}

// Text from a plugin goes in at the input's cursor (its end when it was never focused).
function insertText(text) {
  input.setRangeText(text, input.selectionStart, input.selectionEnd, "end");
  autosize();
  input.focus();
}

const ROUTE_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

// Calls one of the frame's own plugin's routes with the page's session, and answers.
async function callRoute(frame, data) {
  const reply = (fields) => postTo(frame, { type: "plugboard:route-response", id: data.id, ...fields });
  const method = typeof data.method === "string" ? data.method.toUpperCase() : "GET";
  const prefix = `/api/plugins/${encodeURIComponent(frame.plugin)}/http`;
  let url = null;
  if (typeof data.path === "string" && data.path.startsWith("/") && data.path.length <= 2048) {
    // The URL parser resolves dot segments (percent-encoded ones too) and backslashes;
    // only what still lies under the plugin's routes is called.
    const candidate = new URL(prefix + data.path, location.origin);
    if (candidate.origin === location.origin && candidate.pathname.startsWith(`${prefix}/`)) url = candidate;
  }
  if (!ROUTE_METHODS.has(method) || !url || !["string", "number"].includes(typeof data.id)) {
    reply({ ok: false, status: 400, body: "a route call needs an id, a method (GET, POST, PUT, PATCH or DELETE) and a path starting with /" });
    return;
  }
  try {
    const options = { method, headers: {} };
    if (data.body !== undefined && method !== "GET") {
      options.headers["content-type"] = "application/json";
      options.body = JSON.stringify(data.body);
    }
    const response = await fetch(url.pathname + url.search, options);
    const text = await response.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: passed on as text.
    }
    reply({ ok: response.ok, status: response.status, body });
  } catch (failure) {
    reply({ ok: false, status: 0, body: failure.message });
  }
}

window.addEventListener("message", async (event) => {
  // Only frames this page mounted, known by their window, never by what they say.
  const frame = frames.find((candidate) => candidate.element.contentWindow === event.source);
  const data = event.data;
  if (!frame || typeof data !== "object" || data === null || typeof data.type !== "string") return;
  switch (data.type) {
    case "plugboard:ready":
      frame.ready = true;
      postTo(frame, { type: "plugboard:theme", theme: currentTheme() });
      postTo(frame, { type: "plugboard:conversation", conversation: conversationForFrames() });
      if (frame.pending) postTo(frame, frame.pending);
      frame.pending = null;
      break;
    case "plugboard:get-conversation":
      postTo(frame, { type: "plugboard:conversation", conversation: conversationForFrames() });
      break;
    case "plugboard:insert-text":
      if (typeof data.text === "string" && data.text !== "") insertText(data.text.slice(0, 10000));
      break;
    case "plugboard:call-route":
      await callRoute(frame, data);
      break;
  }
});

// ---- Start -----------------------------------------------------------------------

async function start() {
  const { user } = await api("GET", "/api/session");
  if (!user) {
    showAuth(false);
    return;
  }
  state.user = user;
  $("auth").hidden = true;
  $("studio").hidden = false;
  $("me").textContent = state.user.is_admin ? `${state.user.username} (admin)` : state.user.username;
  $("open-admin").hidden = !state.user.is_admin;
  newChat();
  await Promise.all([guard(loadConversations), guard(loadModels), guard(loadCommands)]);
}

start();
