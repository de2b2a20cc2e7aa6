// MCP server administration (administrators), through /api/mcp/servers: each server with its
// state, its tools (the names the model sees), its last error, restart and remove; a form to
// add one or change one added here. Secret values (`env`, `headers`) come back as "(secret)":
// the form shows them so, and sending "(secret)" back keeps the stored value. Servers of the
// configuration file are shown but changed only there.

import { $, badge, el } from "/ui/dom.js";
import { api, guard, newestOnly } from "/ui/api.js";
import { showView } from "/ui/plugin-frames.js";

const loads = newestOnly();
// The name of the server the form changes, or null when it adds one.
let editing = null;
// While the page is open, the list is read again now and then: servers connect in the background.
let refresh = null;

function showResult(text, { error = false } = {}) {
  const result = $("mcp-result");
  result.hidden = !text;
  result.textContent = text;
  result.classList.toggle("error", error);
}

// Runs `action` (a change); shows what the server said, and the list as it is now.
async function change(action, done) {
  try {
    await action();
    showResult(done);
  } catch (failure) {
    if (failure.status === 401) throw failure;
    showResult(failure.message, { error: true });
  }
  await loadServers();
}

// `NAME=value` lines (`NAME: value` for headers) to an object, and back.
function parsePairs(text, separator) {
  const pairs = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(separator);
    if (at < 0) throw new Error(`"${line.trim()}" is not NAME${separator}value`);
    pairs[line.slice(0, at).trim()] = line.slice(at + separator.length).trim();
  }
  return pairs;
}

function pairsText(pairs, separator) {
  return Object.entries(pairs ?? {}).map(([name, value]) => `${name}${separator}${value}`).join("\n");
}

function showTransportFields() {
  const http = $("mcp-transport").value === "http";
  $("mcp-stdio-fields").hidden = http;
  $("mcp-http-fields").hidden = !http;
}

function resetForm() {
  editing = null;
  $("mcp-form").reset();
  $("mcp-name").disabled = false;
  $("mcp-form-title").textContent = "Add an MCP server";
  $("mcp-submit").textContent = "Add";
  $("mcp-cancel").hidden = true;
  showTransportFields();
}

function editServer(server) {
  const config = server.config;
  editing = server.name;
  $("mcp-name").value = config.name;
  $("mcp-name").disabled = true;
  $("mcp-transport").value = config.transport;
  $("mcp-command").value = config.command ?? "";
  $("mcp-args").value = (config.args ?? []).join("\n");
  $("mcp-env").value = pairsText(config.env, "=");
  $("mcp-cwd").value = config.cwd ?? "";
  $("mcp-url").value = config.url ?? "";
  $("mcp-headers").value = pairsText(config.headers, ": ");
  $("mcp-enabled").checked = config.enabled !== false;
  $("mcp-timeout").value = config.timeout_secs ?? "";
  $("mcp-form-title").textContent = `Change ${server.name}`;
  $("mcp-submit").textContent = "Save";
  $("mcp-cancel").hidden = false;
  showTransportFields();
  $("mcp-form").scrollIntoView({ block: "nearest" });
}

function formConfig() {
  const config = { name: $("mcp-name").value.trim(), transport: $("mcp-transport").value, enabled: $("mcp-enabled").checked };
  if (config.transport === "stdio") {
    config.command = $("mcp-command").value.trim();
    config.args = $("mcp-args").value.split("\n").map((arg) => arg.trim()).filter(Boolean);
    config.env = parsePairs($("mcp-env").value, "=");
    if ($("mcp-cwd").value.trim()) config.cwd = $("mcp-cwd").value.trim();
  } else {
    config.url = $("mcp-url").value.trim();
    config.headers = parsePairs($("mcp-headers").value, ":");
  }
  if ($("mcp-timeout").value) config.timeout_secs = Number($("mcp-timeout").value);
  return config;
}

function serverCard(server) {
  const card = el("li", { class: "plugin mcp-server" });
  card.dataset.name = server.name;
  const title = el("h3", {}, server.name, badge(server.state), server.transport ? badge(server.transport) : null);
  title.querySelector(".badge").classList.add(`state-${server.state === "ready" ? "enabled" : server.state}`);
  if (server.managed_by === "config") title.append(badge("configuration file", "Change it in the configuration file"));
  card.append(title);

  const facts = el("dl");
  const config = server.config ?? {};
  const where = config.transport === "http" ? config.url : [config.command, ...(config.args ?? [])].join(" ");
  if (where) facts.append(el("dt", { text: config.transport === "http" ? "URL" : "Command" }), el("dd", {}, el("code", { text: where })));
  const secrets = Object.keys(config.env ?? config.headers ?? {});
  if (secrets.length) facts.append(el("dt", { text: config.transport === "http" ? "Headers" : "Environment" }), el("dd", { text: secrets.join(", ") }));
  if (server.server_info?.name) facts.append(el("dt", { text: "Server" }), el("dd", { text: `${server.server_info.name} ${server.server_info.version ?? ""}`.trim() }));
  if (server.restarts) facts.append(el("dt", { text: "Restarts" }), el("dd", { text: String(server.restarts) }));
  if (server.last_error) facts.append(el("dt", { text: "Last error" }), el("dd", { class: "error" }, el("pre", { class: "mcp-error", text: server.last_error })));
  card.append(facts);

  if (server.tools.length) {
    const tools = el("details", { class: "mcp-tools" }, el("summary", { text: `${server.tools.length} ${server.tools.length === 1 ? "tool" : "tools"}` }));
    const list = el("dl");
    for (const tool of server.tools) list.append(el("dt", {}, el("code", { text: tool.offered_as })), el("dd", { text: tool.description || tool.name }));
    tools.append(list);
    card.append(tools);
  }

  const buttons = el("div", { class: "buttons" });
  const path = `/api/mcp/servers/${encodeURIComponent(server.name)}`;
  const restart = el("button", { type: "button", text: "Restart" });
  restart.addEventListener("click", () => guard(() => change(() => api("POST", `${path}/restart`), `Restarting ${server.name}.`)));
  buttons.append(restart);
  if (server.managed_by === "api") {
    const edit = el("button", { type: "button", class: "link", text: "Change" });
    edit.addEventListener("click", () => (server.config ? editServer(server) : showResult(`${server.name} cannot be read; remove it and add it again.`, { error: true })));
    // Removing takes a second click on the same button.
    const remove = el("button", { type: "button", class: "link", text: "Remove" });
    remove.addEventListener("click", () => {
      if (!remove.classList.contains("danger")) {
        remove.classList.add("danger");
        remove.classList.remove("link");
        remove.textContent = `Remove ${server.name} and stop it`;
        return;
      }
      guard(() => change(() => api("DELETE", path), `Removed ${server.name}.`));
    });
    buttons.append(edit, remove);
  }
  card.append(buttons);
  return card;
}

async function loadServers() {
  const current = loads();
  const { servers } = await api("GET", "/api/mcp/servers");
  if (!current()) return;
  const list = $("mcp-list");
  list.replaceChildren(...servers.map(serverCard));
  if (servers.length === 0) list.append(el("li", { class: "muted", text: "No MCP server yet." }));
}

$("open-mcp").addEventListener("click", () => {
  showView("mcp");
  showResult("");
  resetForm();
  guard(loadServers);
  clearInterval(refresh);
  refresh = setInterval(() => {
    if ($("mcp-admin").hidden) clearInterval(refresh);
    else guard(loadServers);
  }, 3000);
});
$("close-mcp").addEventListener("click", () => {
  clearInterval(refresh);
  showView("chat");
});
$("mcp-transport").addEventListener("change", showTransportFields);
$("mcp-cancel").addEventListener("click", resetForm);

$("mcp-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guard(async () => {
    let config;
    try {
      config = formConfig();
    } catch (failure) {
      showResult(failure.message, { error: true });
      return;
    }
    const name = editing;
    await change(async () => {
      if (name) await api("PUT", `/api/mcp/servers/${encodeURIComponent(name)}`, config);
      else await api("POST", "/api/mcp/servers", config);
      resetForm();
    }, name ? `Saved ${name}; it restarts with the change.` : `Added ${config.name}; it is starting.`);
  });
});

resetForm();
