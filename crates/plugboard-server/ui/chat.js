// The chat: messages (edit, delete, trace), sending and streaming replies, the composer, slash commands, models.

import { $, badge } from "/ui/dom.js";
import { ApiError, api, guard, parseEvents, showError } from "/ui/api.js";
import { render } from "/ui/markdown.js";
import { currentConversation, currentUser, setCurrentConversation } from "/ui/state.js";
import { broadcastConversation, broadcastEvent, messageActionMounts, mountPluginUi, openMessageAction } from "/ui/plugin-frames.js";
import { decided, loadApprovals, showPendingApproval } from "/ui/approvals.js";

const chat = {
  messages: [], // the open conversation's messages, as shown
  streaming: null, // the AbortController of the reply being streamed
  heldLive: [], // live-feed events that arrived while streaming, applied once it is over
  commands: [], // what the slash-command popup offers
  selectedCommand: 0, // its highlighted entry
};

// What a first message's new conversation sets off (conversations.js lists and titles it);
// app.js sets it, so this module imports nothing from conversations.js, which imports it.
const hooks = { conversationStarted: () => {} };

export function onConversationStarted(callback) {
  hooks.conversationStarted = callback;
}

// ---- Messages --------------------------------------------------------------------

function authorName(message) {
  if (message.role === "user") return currentUser()?.username ?? "You";
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
    for (const mount of messageActionMounts()) {
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
  const shown = chat.messages.filter((m) => !m.deleted_at_ms);
  list.replaceChildren(...shown.filter((m) => m.role !== "tool").map(messageNode));
  // Tool results go under the call they answer.
  for (const result of shown.filter((m) => m.role === "tool")) {
    const call = [...list.querySelectorAll("details.tool")].find((d) => d.dataset.callId === result.data?.tool_call_id);
    if (call) setToolResult(call, result.content, result.data?.is_error);
  }
  $("empty").hidden = chat.messages.length > 0;
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

// Shows these messages (a conversation just opened, or none for a new chat).
export function showMessages(messages) {
  chat.messages = messages;
  renderMessages();
  guard(loadApprovals); // tool calls still waiting for the person
}

// A message of the live feed (live.js, through app.js): one posted, edited or deleted
// elsewhere (another tab, the model, a plugin's post) shows in the open conversation. While
// this page streams a reply (until it has read the stored messages at the end) events are
// held, then applied: one already shown is replaced in place, never drawn twice.
export function liveMessage(name, data) {
  if (!name.startsWith("message_")) return;
  if (chat.streaming) {
    chat.heldLive.push([name, data]);
    return;
  }
  const conversationId = data.message?.conversation_id ?? data.conversation_id;
  if (!currentConversation() || currentConversation().id !== conversationId) return;
  const list = $("messages");
  const nodeOf = (id) => [...list.children].find((node) => node.dataset.id === id);
  if (name === "message_deleted") {
    chat.messages = chat.messages.filter((m) => m.id !== data.message_id);
    nodeOf(data.message_id)?.remove();
    $("empty").hidden = chat.messages.length > 0;
    broadcastConversation();
    return;
  }
  const message = data.message;
  const index = chat.messages.findIndex((m) => m.id === message.id);
  if (index >= 0) {
    chat.messages[index] = message;
    const node = nodeOf(message.id);
    if (node) node.replaceWith(messageNode(message));
    else renderMessages();
  } else {
    chat.messages.push(message);
    if (message.role === "tool") {
      renderMessages(); // a tool's result goes under the call it answers
    } else {
      const node = messageNode(message);
      list.append(node);
      $("empty").hidden = true;
      node.scrollIntoView({ block: "end" });
    }
  }
  broadcastConversation(); // widgets look again (word counts, say)
}

// Whether this page is streaming a reply now.
export const isStreaming = () => chat.streaming !== null;

// The plugins' message actions changed: the messages are drawn again with them, unless a
// reply is being streamed (drawing would drop its node; the stream's end draws them anyway).
export function messageActionsChanged() {
  if (!chat.streaming) renderMessages();
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
    chat.messages = chat.messages.filter((m) => m.id !== message.id);
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
    row.insertCell().textContent = step.plugin ?? step.model ?? step.source ?? "";
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
    } else if (step.stage === "approval") {
      const decision = step.decision?.replaceAll("_", " ") ?? "";
      what.textContent = [`${step.tool}: ${decision}`, step.denial_reason, step.reason].filter(Boolean).join(" · ");
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

export async function loadModels() {
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
  const known = chosen && overview.models.some((m) => m.id === chosen);
  // Without a default, no model is picked for the person (the first listed may be a
  // provider plugin's): they choose one, and the server's reason shows.
  if (!known && overview.models.length > 0) {
    const none = Object.assign(document.createElement("option"), { value: "", textContent: "Choose a model" });
    select.prepend(none);
  }
  select.value = known ? chosen : "";
  const problem = $("model-problem");
  if (overview.models.length === 0) {
    const messages = overview.problems.map((p) => p.message);
    problem.textContent = messages.length ? messages.join(" ") : "No model is available. /run and plugin commands still work.";
    problem.hidden = false;
  } else if (!known && overview.no_default_reason) {
    problem.textContent = overview.no_default_reason;
    problem.hidden = false;
  } else {
    problem.hidden = true;
  }
  // A model still downloading or loading shows up by itself.
  if (overview.problems.some((p) => p.message.includes("not ready yet"))) setTimeout(() => guard(loadModels), 3000);
}

// ---- Chat ------------------------------------------------------------------------

async function send(text) {
  const controller = new AbortController();
  chat.streaming = controller;
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
  if (currentConversation()) body.conversation_id = currentConversation().id;
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
            if (!currentConversation()) {
              setCurrentConversation({ id: data.conversation_id, title: text.slice(0, 60) });
              hooks.conversationStarted(data.conversation_id);
            }
            break;
          case "message":
            chat.messages.push(data.message);
            $("messages").append(messageNode(data.message));
            break;
          case "delta":
            reply.content += data.text;
            refresh();
            break;
          case "tool_call":
            toolNodes.set(data.id, addToolCall(ensureReply(), `${data.plugin}/${data.tool}`, data.arguments));
            break;
          case "tool_approval":
            showPendingApproval({ ...data, conversation_id: currentConversation()?.id });
            break;
          case "tool_approval_decided":
            decided(data.id);
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
            broadcastEvent("message-sent");
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
    $("send").hidden = false;
    $("stop").hidden = true;
    // The stored conversation is the truth (ids, the partial reply of a stopped turn).
    if (currentConversation()) {
      const { messages } = await api("GET", `/api/conversations/${currentConversation().id}/messages`).catch(() => ({
        messages: chat.messages,
      }));
      chat.messages = messages;
      renderMessages();
    }
    chat.streaming = null;
    for (const [name, data] of chat.heldLive.splice(0)) liveMessage(name, data);
    $("input").focus();
  }
}

export function stopStreaming() {
  chat.streaming?.abort();
}

const input = $("input");
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || chat.streaming) return;
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
  if (event.key === "Escape" && chat.streaming) stopStreaming();
});

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
}
input.addEventListener("input", () => {
  autosize();
  showCommands();
});

// Text from a plugin goes in at the input's cursor (its end when it was never focused).
export function insertText(text) {
  input.setRangeText(text, input.selectionStart, input.selectionEnd, "end");
  autosize();
  input.focus();
}

// ---- Slash commands --------------------------------------------------------------

export async function loadCommands() {
  const { plugins } = await api("GET", "/api/plugins");
  mountPluginUi(plugins);
  chat.commands = [{ name: "help", usage: "/help", description: "Lists the commands", plugin: "" }];
  for (const plugin of plugins) {
    if (plugin.state !== "enabled") continue;
    for (const command of plugin.commands ?? []) chat.commands.push({ ...command, plugin: plugin.id });
    if ((plugin.tools ?? []).length > 0) {
      chat.commands.push({ name: `run ${plugin.id}`, usage: `/run ${plugin.id} <input>`, description: plugin.description, plugin: plugin.id });
    }
  }
}

function showCommands() {
  const text = input.value;
  const list = $("commands");
  if (!text.startsWith("/") || text.includes("\n")) return hideCommands();
  const typed = text.slice(1).toLowerCase();
  const matches = chat.commands.filter((command) => command.name.startsWith(typed.split(" ").slice(0, 2).join(" ")) || command.name.startsWith(typed));
  if (matches.length === 0) return hideCommands();
  chat.selectedCommand = Math.min(chat.selectedCommand, matches.length - 1);
  list.replaceChildren(
    ...matches.map((command, index) => {
      const item = document.createElement("li");
      item.role = "option";
      item.setAttribute("aria-selected", index === chat.selectedCommand ? "true" : "false");
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
    const chosen = chat.commands.find((command) => command.name === items[chat.selectedCommand]?.dataset.name);
    if (chosen) choose(chosen);
    return;
  }
  chat.selectedCommand = (chat.selectedCommand + step + items.length) % items.length;
  items.forEach((item, index) => item.setAttribute("aria-selected", index === chat.selectedCommand ? "true" : "false"));
}

function hideCommands() {
  $("commands").hidden = true;
  chat.selectedCommand = 0;
}
