// Plugin UI: the mount points, the sandboxed frames, the main area's views and the postMessage bridge to frames.

import { $ } from "/ui/dom.js";
import { currentConversation } from "/ui/state.js";
import { currentTheme } from "/ui/theme.js";

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

const mounted = {
  frames: [], // every mounted frame: {plugin, mount, element, ready, pending}
  lazyFrames: new Map(), // chat-input and message-actions frames, made on first use
  signature: "", // the mounts last mounted, to leave frames alone when nothing changed
  messageActions: [], // the message-actions mounts, read by chat.js's messageNode
  pageFrame: null,
};

// What the mounts and the frames need from the chat; app.js sets them (chat.js imports this
// module, so these are callbacks instead of imports back).
const hooks = {
  mountsChanged: () => {}, // the message actions may have changed: draw the messages again
  insertText: () => {}, // a frame sent text for the message being written
};

export function onMountsChanged(callback) {
  hooks.mountsChanged = callback;
}

export function onInsertText(callback) {
  hooks.insertText = callback;
}

// The message-actions mounts, each a button on every stored message.
export const messageActionMounts = () => mounted.messageActions;

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
  mounted.frames.push(frame);
  return frame;
}

function dropFrame(frame) {
  frame.element.remove();
  const at = mounted.frames.indexOf(frame);
  if (at >= 0) mounted.frames.splice(at, 1);
}

// Mounts the UI of the enabled plugins; nothing changes (no frame reloads) when the
// mounts are the same as last time.
export function mountPluginUi(plugins) {
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
  if (signature === mounted.signature) return;
  mounted.signature = signature;
  for (const frame of [...mounted.frames]) dropFrame(frame);
  mounted.lazyFrames.clear();
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
  mounted.messageActions = at("message-actions");
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
  hooks.mountsChanged();
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
  let frame = mounted.lazyFrames.get(key);
  if (!frame) {
    frame = makeFrame(mount, "input-frame");
    mounted.lazyFrames.set(key, frame);
    panel.append(frame.element);
  }
  for (const child of panel.children) child.hidden = child !== frame.element;
  panel.dataset.key = key;
  panel.hidden = false;
  button.setAttribute("aria-expanded", "true");
}

// A message action: the plugin's one dialog frame (never one per message) gets the message.
export function openMessageAction(mount, message) {
  const key = mountKey(mount);
  let frame = mounted.lazyFrames.get(key);
  if (!frame) {
    frame = makeFrame(mount, "dialog-frame");
    mounted.lazyFrames.set(key, frame);
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
  mounted.pageFrame = makeFrame(mount, "page-frame");
  $("plugin-page-title").textContent = mount.title;
  $("plugin-page-body").replaceChildren(mounted.pageFrame.element);
  link.setAttribute("aria-current", "page");
  document.title = `${mount.title} · Plugboard`;
}

function closePluginPage() {
  if (mounted.pageFrame) dropFrame(mounted.pageFrame);
  mounted.pageFrame = null;
  for (const link of $("plugin-page-links").querySelectorAll("[aria-current]")) link.removeAttribute("aria-current");
}

$("close-page").addEventListener("click", () => showView("chat"));

// The main area shows the chat, the plugin or user administration, or a plugin's page.
export function showView(view) {
  document.querySelector(".chat").hidden = view !== "chat";
  $("admin").hidden = view !== "admin";
  $("users-admin").hidden = view !== "users";
  $("mcp-admin").hidden = view !== "mcp";
  $("plugin-page").hidden = view !== "page";
  closePluginPage();
  document.body.classList.remove("sidebar-open");
  const conversation = currentConversation();
  if (view === "chat") document.title = conversation ? `${conversation.title} · Plugboard` : "Plugboard";
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

const conversationForFrames = () => {
  const conversation = currentConversation();
  return conversation ? { id: conversation.id, title: conversation.title } : null;
};

export function broadcastTheme() {
  for (const frame of mounted.frames) postTo(frame, { type: "plugboard:theme", theme: currentTheme() });
}

export function broadcastConversation() {
  for (const frame of mounted.frames) postTo(frame, { type: "plugboard:conversation", conversation: conversationForFrames() });
}

// Tells every frame something happened ("message-sent").
export function broadcastEvent(name) {
  for (const frame of mounted.frames) postTo(frame, { type: "plugboard:event", name });
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
  const frame = mounted.frames.find((candidate) => candidate.element.contentWindow === event.source);
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
      if (typeof data.text === "string" && data.text !== "") hooks.insertText(data.text.slice(0, 10000));
      break;
    case "plugboard:call-route":
      await callRoute(frame, data);
      break;
  }
});
