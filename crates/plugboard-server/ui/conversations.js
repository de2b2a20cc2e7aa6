// Conversations: the sidebar's list and search, opening one or a new chat, the open one's files, plugins, exports.

import { $ } from "/ui/dom.js";
import { ApiError, api, guard, newestOnly } from "/ui/api.js";
import { currentConversation, setCurrentConversation } from "/ui/state.js";
import { isStreaming, showMessages, stopStreaming } from "/ui/chat.js";
import { broadcastConversation, showView } from "/ui/plugin-frames.js";

const sidebar = {
  searchTimer: undefined, // the search waits for a pause in typing
  liveTimer: undefined, // a burst of live events reads the list once
};

// ---- Conversations ---------------------------------------------------------------

const conversationLoads = newestOnly();

export async function loadConversations() {
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
    if (currentConversation()?.id === conversation.id) open.setAttribute("aria-current", "true");
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
        if (currentConversation()?.id === renamed.id) setConversation(renamed);
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
        if (currentConversation()?.id === conversation.id) newChat();
        await loadConversations();
      });
    });
    item.append(open, rename, remove);
    list.append(item);
  }
}

$("search").addEventListener("input", () => {
  clearTimeout(sidebar.searchTimer);
  sidebar.searchTimer = setTimeout(() => guard(loadConversations), 200);
});

function setConversation(conversation) {
  setCurrentConversation(conversation);
  broadcastConversation();
  $("plugins-menu").hidden = !conversation;
  $("export-menu").hidden = !conversation;
  $("plugins-menu").open = false;
  $("export-menu").open = false;
  $("title").textContent = conversation ? conversation.title : "New chat";
  document.title = conversation ? `${conversation.title} · Plugboard` : "Plugboard";
}

export function newChat() {
  stopStreaming();
  showView("chat");
  setConversation(null);
  showMessages([]);
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
    if (currentConversation()?.id !== conversation.id) return;
    showMessages(messages);
    await Promise.all([loadConversations(), loadAttachments()]);
  });
}

// A conversation the server made for a message sent from a new chat (chat.js): listed, then
// recorded with its stored title.
export function adoptConversation(id) {
  loadConversations().then(() => api("GET", `/api/conversations/${id}`)).then(
    ({ conversation }) => setConversation(conversation),
    () => {},
  );
}

// An event of the live feed (live.js, through app.js): the list is read again (a new
// message moves its conversation to the top); the open conversation follows a rename made
// elsewhere, and gives way to a new chat when it was deleted elsewhere.
export function liveConversation(name, data) {
  const open = currentConversation();
  // Renamed elsewhere: the title follows (menus stay as they are; a plugin choice changed
  // here is already shown).
  if (name === "conversation_changed" && open?.id === data.conversation.id && open.title !== data.conversation.title) {
    setCurrentConversation(data.conversation);
    $("title").textContent = data.conversation.title;
    document.title = `${data.conversation.title} · Plugboard`;
    broadcastConversation();
  }
  if (name === "conversation_deleted" && open?.id === data.conversation_id && !isStreaming()) newChat();
  if (name === "conversation_created" || name === "conversation_changed" || name === "conversation_deleted" || name === "message_posted") {
    clearTimeout(sidebar.liveTimer);
    sidebar.liveTimer = setTimeout(() => guard(loadConversations), 100);
  }
}

// After the live feed reconnected or missed events: the list and the open conversation's
// messages are read again (unless a reply is streaming, whose end reads them anyway).
export async function reloadOpen() {
  await loadConversations();
  const open = currentConversation();
  if (!open || isStreaming()) return;
  try {
    const { messages } = await api("GET", `/api/conversations/${open.id}/messages`);
    if (currentConversation()?.id === open.id && !isStreaming()) showMessages(messages);
  } catch (failure) {
    // Deleted while the feed was away.
    if (!(failure instanceof ApiError && failure.status === 404)) throw failure;
    if (currentConversation()?.id === open.id) newChat();
  }
}

$("new-chat").addEventListener("click", newChat);
$("open-sidebar").addEventListener("click", () => document.body.classList.add("sidebar-open"));
$("close-sidebar").addEventListener("click", () => document.body.classList.remove("sidebar-open"));

// ---- Attachments -----------------------------------------------------------------

const attachmentLoads = newestOnly();

async function loadAttachments() {
  const current = attachmentLoads();
  if (!currentConversation()) return renderAttachments([]);
  const { attachments } = await api("GET", `/api/conversations/${currentConversation().id}/attachments`);
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
    if (!currentConversation()) {
      const { conversation } = await api("POST", "/api/conversations", { title: file.name });
      setConversation(conversation);
      await loadConversations();
    }
    const response = await fetch(`/api/conversations/${currentConversation().id}/attachments`, {
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
  const id = currentConversation().id;
  const [{ plugins }, { plugins: choice }, { servers: mcpServers }] = await Promise.all([
    api("GET", "/api/plugins"),
    api("GET", `/api/conversations/${id}`),
    api("GET", "/api/mcp/tools"),
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
  // MCP servers switch off as one source each (`mcp:<name>`), beside the plugins.
  const mcp = mcpServers.map((server) => ({ id: server.source, name: `${server.name} (MCP server)` }));
  group($("tool-toggles"), [...enabled.filter((p) => (p.tools ?? []).length > 0), ...mcp], choice.disabled_tools, "tool");
  // Each plugin tool (by the name the model sees) and each MCP server: as the
  // administrator set it, ask first, or never.
  const keys = [
    ...enabled.flatMap((p) => (p.tools ?? []).map((tool) => ({ key: `${p.id.replaceAll("-", "_")}__${tool.name}`, label: `${p.name ?? p.id}: ${tool.name}` }))),
    ...mcpServers.map((server) => ({ key: server.source, label: `${server.name} (MCP server)` })),
  ];
  const chosen = choice.tool_policies ?? {};
  const choices = $("tool-policy-choices");
  choices.replaceChildren();
  if (keys.length === 0) choices.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No tool is offered." }));
  for (const { key, label } of keys) {
    const row = document.createElement("label");
    const select = document.createElement("select");
    select.name = `policy:${key}`;
    for (const [value, text] of [["", "as set"], ["ask", "ask first"], ["deny", "never"]]) {
      select.append(Object.assign(document.createElement("option"), { value, textContent: text }));
    }
    select.value = chosen[key] ?? "";
    select.addEventListener("change", () => guard(() => saveToggles(id)));
    row.append(`${label} `, select);
    choices.append(row);
  }
}

async function saveToggles(id) {
  const off = (key) =>
    [...document.querySelectorAll(`#plugin-toggles input[name^="${key}:"]`)].filter((b) => !b.checked).map((b) => b.name.slice(key.length + 1));
  const tool_policies = Object.fromEntries(
    [...document.querySelectorAll('#plugin-toggles select[name^="policy:"]')].filter((s) => s.value).map((s) => [s.name.slice("policy:".length), s.value]),
  );
  await api("PATCH", `/api/conversations/${id}`, { plugins: { disabled_filters: off("filter"), disabled_tools: off("tool"), tool_policies } });
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
    link.href = `/api/conversations/${currentConversation().id}/export?plugin=${encodeURIComponent(plugin)}&format=${encodeURIComponent(format.id)}`;
    link.download = "";
    link.textContent = `${format.display_name} (.${format.extension})`;
    item.append(link);
    list.append(item);
  }
}
