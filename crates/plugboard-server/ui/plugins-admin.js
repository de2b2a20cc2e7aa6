// Plugin administration (administrators): plugin cards, package installs, the plugin index, live plugin events.

import { $, badge, el } from "/ui/dom.js";
import { ApiError, api, guard, newestOnly } from "/ui/api.js";
import { render } from "/ui/markdown.js";
import { loadCommands } from "/ui/chat.js";
import { showView } from "/ui/plugin-frames.js";
import { fillSettings } from "/ui/settings-form.js";

const admin = {
  events: null, // the EventSource of plugin events, opened with the page the first time
};

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

function showAdmin(open) {
  showView(open ? "admin" : "chat");
  // Installs, uninstalls and switches may have changed what plugins mount.
  if (!open) guard(loadCommands);
  if (open) {
    guard(loadPlugins);
    if (!admin.events) {
      admin.events = new EventSource("/api/plugins/events");
      admin.events.onmessage = (event) => logEvent("event", event.data);
      for (const name of ["loaded", "unloaded", "enabled", "disabled", "failed", "settings-changed", "fault", "breaker-opened"]) {
        admin.events.addEventListener(name, (event) => {
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
      pluginCard(
        plugin,
        health.plugins?.[plugin.id],
        { settings: open.has(`settings:${plugin.id}`), docs: open.has(`docs:${plugin.id}`), tasks: open.has(`tasks:${plugin.id}`) },
        packages.get(plugin.id),
      ),
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
  if (plugin.state === "compiling") {
    fact("Loading", "Its component is being compiled for this server (the first start of this version); it loads by itself when done, meanwhile chats run without it.");
  }
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
  // A compiling plugin loads by itself; reloading it would compile it a second time.
  const usable = plugin.state !== "failed" && plugin.state !== "compiling";
  if (usable) action("Reload", "reload", "link");
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
  if (usable) {
    if (plugin.schedules?.length) card.append(tasksSection(plugin, opened.tasks));
    card.append(settingsSection(plugin, opened.settings), docsSection(plugin, opened.docs));
  }
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
      // Each file by its path in docs/, as listed and served; a relative link between
      // them opens the page it names, resolved from the page it is on.
      const show = async (file) => {
        const response = await fetch(`/api/plugins/${plugin.id}/docs/${file.split("/").map(encodeURIComponent).join("/")}`);
        if (!response.ok) throw new ApiError(response.status, "error", `cannot read ${file}`);
        const follow = (target) => {
          const path = decodeURIComponent(new URL(target, `https://docs.invalid/${file}`).pathname.slice(1));
          if (docs.includes(path)) guard(() => show(path));
          else guard(async () => { throw new ApiError(404, "not_found", `this plugin has no page ${path}`); });
        };
        view.replaceChildren(render(await response.text(), { onLink: follow }));
        view.dataset.page = file;
      };
      for (const file of docs) {
        const button = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: file });
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

// ---- Scheduled tasks: schedule, next and last run, "Run now" ---------------------------

const when = (ms) => (ms === null || ms === undefined ? "not scheduled" : new Date(ms).toLocaleString());

function lastRunInWords(run) {
  if (!run) return "never run";
  const how = run.outcome === "ok" ? "ok" : run.error ? `${run.outcome}: ${run.error}` : run.outcome;
  return `${new Date(run.started_at_ms).toLocaleString()} (${run.trigger}), ${how}, ${run.duration_ms} ms`;
}

function tasksSection(plugin, open) {
  const details = document.createElement("details");
  details.className = "tasks";
  details.dataset.section = "tasks";
  details.dataset.plugin = plugin.id;
  const summary = document.createElement("summary");
  summary.textContent = `Scheduled tasks (${plugin.schedules.length})`;
  const table = document.createElement("table");
  details.append(summary, table);
  const fill = async () => {
    const { tasks } = await api("GET", `/api/plugins/${encodeURIComponent(plugin.id)}/tasks`);
    const head = el("tr", {}, el("th", { text: "Task" }), el("th", { text: "Schedule" }), el("th", { text: "Next run" }), el("th", { text: "Last run" }), el("th"));
    table.replaceChildren(head, ...tasks.map((task) => taskRow(plugin, task, fill)));
  };
  details.addEventListener("toggle", () => {
    if (details.open) guard(fill);
  });
  details.open = open;
  return details;
}

function taskRow(plugin, task, refresh) {
  const run = el("button", { type: "button", text: task.running ? "Running…" : "Run now", disabled: task.running || plugin.state !== "enabled" });
  run.dataset.task = task.name;
  const last = el("td", { class: task.last_run && task.last_run.outcome !== "ok" ? "task-problem" : undefined, text: lastRunInWords(task.last_run) });
  run.addEventListener("click", () =>
    guard(async () => {
      run.disabled = true;
      run.textContent = "Running…";
      try {
        const { run: done } = await api("POST", `/api/plugins/${encodeURIComponent(plugin.id)}/tasks/${encodeURIComponent(task.name)}/run`);
        last.textContent = lastRunInWords(done);
      } finally {
        await refresh();
      }
    }),
  );
  return el(
    "tr",
    { class: "task" },
    el("td", { text: task.name }),
    el("td", { text: task.description, title: task.catch_up ? "missed runs are made up for" : "" }),
    el("td", { text: when(task.next_run_ms) }),
    last,
    el("td", {}, run),
  );
}
