// The interactive API reference: reads the server's OpenAPI document (/api/openapi.json)
// and renders every operation by tag, with a form to try each one with the browser's own
// session. Like the rest of the web interface it is embedded in the server and fetches
// nothing from anywhere else. Everything the document says reaches the page as text
// (textContent, text nodes): never as markup.

import { $, el } from "/ui/dom.js";
import { render } from "/ui/markdown.js";
import { setupThemeToggle } from "/ui/theme.js";

const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];

/** Markdown of a description: single line breaks are the source's wrapping, not breaks. */
function prose(text, className = "description") {
  const unwrapped = String(text).replace(/([^\n])\n(?!\n|\s*([-*+]|\d+[.)])\s|\s*(```|~~~))/g, "$1 ");
  return el("div", { class: className }, render(unwrapped));
}

// ---- Theme (the chat page's choice) ----------------------------------------------

setupThemeToggle();

// ---- Schemas ---------------------------------------------------------------------

let spec = {};

/** The object a local `$ref` ("#/components/schemas/User") points at, or undefined. */
function lookup(ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  let node = spec;
  for (const part of ref.slice(2).split("/")) {
    node = node?.[part.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return node;
}

const refName = (ref) => ref.split("/").pop();

/** A schema with its `$ref` followed (one level). */
function resolve(schema) {
  return schema?.$ref ? lookup(schema.$ref) ?? {} : schema ?? {};
}

/** A short type for a schema: `string`, `integer (int64)`, `array of User`, `User | null`. */
function typeText(schema) {
  if (!schema || Object.keys(schema).length === 0) return "any";
  if (schema.$ref) return refName(schema.$ref);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return alternatives.map(typeText).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeText).join(" & ");
  let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type ?? "any";
  if (schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    type = type.replace("array", `array of ${typeText(schema.items)}`);
  }
  if (schema.format) type += ` (${schema.format})`;
  if (schema.enum) type += `: ${schema.enum.map((value) => JSON.stringify(value)).join(", ")}`;
  return type;
}

/** The schemas nested in `schema` worth expanding: properties, items, alternatives. */
function schemaView(schema, depth = 0, seen = new Set()) {
  const box = el("div", { class: "schema" });
  const named = schema?.$ref;
  if (named) {
    if (seen.has(named) || depth > 6) return el("span", { class: "muted", text: `${refName(named)} (see above)` });
    seen = new Set(seen).add(named);
  }
  const target = resolve(schema);
  if (target.description && depth === 0) box.append(prose(target.description, "schema-description"));
  const alternatives = target.oneOf ?? target.anyOf;
  if (alternatives) {
    const list = el("ol", { class: "alternatives" });
    for (const alternative of alternatives) {
      if (alternative.type === "null") continue;
      list.append(el("li", {}, el("span", { class: "type", text: typeText(alternative) }), schemaView(alternative, depth + 1, seen)));
    }
    box.append(el("p", { class: "muted", text: target.oneOf ? "One of:" : "Any of:" }), list);
    return box;
  }
  const items = target.items ?? (Array.isArray(target.type) && target.type.includes("array") ? target.items : undefined);
  if (items) {
    const inner = resolve(items);
    if (inner.properties || inner.oneOf || inner.anyOf) box.append(schemaView(items, depth + 1, seen));
    return box;
  }
  if (!target.properties) return box;
  const required = new Set(target.required ?? []);
  const list = el("ul", { class: "properties" });
  for (const [name, property] of Object.entries(target.properties)) {
    const resolved = resolve(property);
    const row = el(
      "li",
      {},
      el("code", { class: "name", text: name }),
      " ",
      el("span", { class: "type", text: typeText(property) }),
      required.has(name) ? el("span", { class: "required", text: "required" }) : null,
    );
    const description = property.description ?? resolved.description;
    if (description) row.append(prose(description, "property-description"));
    const nested = resolved.properties || resolved.items || resolved.oneOf || resolved.anyOf;
    if (nested && depth < 6) row.append(schemaView(property, depth + 1, seen));
    list.append(row);
  }
  box.append(list);
  return box;
}

/** A value shaped like `schema`, to start a request body from. */
function exampleOf(schema, depth = 0) {
  if (!schema || depth > 8) return null;
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if (schema.$ref) return exampleOf(lookup(schema.$ref), depth + 1);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return exampleOf(alternatives.find((alternative) => alternative.type !== "null"), depth + 1);
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "object" || schema.properties) {
    const value = {};
    const required = schema.required ?? Object.keys(schema.properties ?? {});
    for (const name of required) value[name] = exampleOf(schema.properties?.[name], depth + 1);
    return value;
  }
  return { array: [], string: "", integer: 0, number: 0, boolean: false }[type] ?? null;
}

// ---- Operations ------------------------------------------------------------------

/** Who may call an operation, from its `security` (or the document's). */
function securityText(operation) {
  const requirements = operation.security ?? spec.security ?? [];
  if (requirements.length === 0) return "Open to anyone";
  const names = requirements.map((requirement) => Object.keys(requirement));
  const schemes = names.filter((keys) => keys.length).map((keys) => keys.join(" + "));
  const optional = names.some((keys) => keys.length === 0);
  const how = schemes
    .map((name) => (name === "session_cookie" ? "session cookie" : name === "bearer_token" ? "API token (Bearer)" : name))
    .join(" or ");
  return optional ? `Sign-in optional (${how})` : `Needs sign-in: ${how}`;
}

function parametersOf(pathItem, operation) {
  const byKey = new Map();
  for (const parameter of [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])]) {
    const resolved = resolve(parameter);
    byKey.set(`${resolved.in}:${resolved.name}`, resolved);
  }
  return [...byKey.values()];
}

function parametersTable(parameters) {
  const body = el("tbody");
  for (const parameter of parameters) {
    body.append(
      el(
        "tr",
        {},
        el("td", {}, el("code", { text: parameter.name }), parameter.required ? el("span", { class: "required", text: "required" }) : null),
        el("td", { text: parameter.in }),
        el("td", { class: "type", text: typeText(parameter.schema) }),
        el("td", {}, parameter.description ? prose(parameter.description) : ""),
      ),
    );
  }
  return el(
    "table",
    { class: "parameters" },
    el("thead", {}, el("tr", {}, el("th", { text: "Name" }), el("th", { text: "In" }), el("th", { text: "Type" }), el("th", { text: "Description" }))),
    body,
  );
}

function contentView(content) {
  const box = el("div");
  for (const [mediaType, media] of Object.entries(content ?? {})) {
    box.append(el("p", { class: "media-type" }, el("code", { text: mediaType })));
    if (media.schema && Object.keys(media.schema).length) {
      box.append(el("p", { class: "type", text: typeText(media.schema) }), schemaView(media.schema));
    }
  }
  return box;
}

function responsesView(responses) {
  const list = el("ul", { class: "responses" });
  for (const [status, raw] of Object.entries(responses ?? {})) {
    const response = resolve(raw);
    const row = el("li", {}, el("span", { class: `status status-${String(status)[0]}`, text: status }));
    if (response.description) row.append(prose(response.description, "response-description"));
    if (response.headers) {
      const names = Object.keys(response.headers).join(", ");
      row.append(el("p", { class: "muted", text: `Headers: ${names}` }));
    }
    if (response.content) {
      const details = el("details", {}, el("summary", { text: Object.keys(response.content).join(", ") }), contentView(response.content));
      row.append(details);
    }
    list.append(row);
  }
  return list;
}

const JSON_TYPE = /[/+]json\b/i;
const TEXT_TYPE = /^text\/|[/+](json|xml|javascript)\b|event-stream/i;

/** The "Try it" form of one operation, and where its answer shows. */
function tryForm(path, method, parameters, requestBody) {
  const form = el("form", { class: "try" });
  form.append(el("h4", { text: "Try it" }));
  const inputs = [];
  for (const parameter of parameters.filter((p) => ["path", "query", "header"].includes(p.in))) {
    const schema = resolve(parameter.schema);
    let input;
    if (schema.enum) {
      input = el("select", { name: parameter.name }, ...(parameter.required ? [] : [el("option", { value: "", text: "" })]));
      for (const value of schema.enum) input.append(el("option", { value: String(value), text: String(value) }));
    } else {
      const example = parameter.example ?? schema.example;
      input = el("input", { name: parameter.name, placeholder: example !== undefined ? String(example) : typeText(parameter.schema) });
    }
    input.required = Boolean(parameter.required);
    inputs.push({ parameter, input });
    form.append(el("label", { class: "field" }, el("span", {}, el("code", { text: parameter.name }), ` (${parameter.in})`), input));
  }
  let bodyInput = null;
  let fileInput = null;
  let typeInput = null;
  if (requestBody) {
    const body = resolve(requestBody);
    const [mediaType, media] = Object.entries(body.content ?? {})[0] ?? ["application/json", {}];
    const isJson = JSON_TYPE.test(mediaType);
    const example = media.example ?? (isJson ? exampleOf(media.schema) : undefined);
    bodyInput = el("textarea", {
      name: "body",
      rows: isJson ? 6 : 3,
      spellcheck: false,
      value: example === undefined || example === null ? "" : isJson ? JSON.stringify(example, null, 2) : String(example),
    });
    typeInput = el("input", { name: "content-type", value: mediaType.includes("*") ? "application/json" : mediaType });
    form.append(
      el("label", { class: "field" }, el("span", { text: "Content-Type" }), typeInput),
      el("label", { class: "field" }, el("span", { text: body.required ? "Body (required)" : "Body" }), bodyInput),
    );
    if (!isJson) {
      fileInput = el("input", { type: "file", name: "file" });
      form.append(el("label", { class: "field" }, el("span", { text: "or a file" }), fileInput));
    }
  }
  const send = el("button", { type: "submit", text: "Send" });
  const abort = el("button", { type: "button", class: "danger", text: "Stop", hidden: true });
  const problem = el("p", { class: "error", role: "alert", hidden: true });
  const output = el("div", { class: "answer", hidden: true });
  form.append(el("div", { class: "buttons" }, send, abort), problem, output);

  let controller = null;
  abort.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    let url = path;
    const query = new URLSearchParams();
    const headers = new Headers();
    for (const { parameter, input } of inputs) {
      const value = input.value;
      if (value === "") {
        if (parameter.in === "path") {
          problem.textContent = `fill in ${parameter.name}: it is part of the path`;
          problem.hidden = false;
          return;
        }
        continue;
      }
      if (parameter.in === "path") {
        const encoded = parameter.allowReserved
          ? value.split("/").map(encodeURIComponent).join("/")
          : encodeURIComponent(value);
        url = url.replace(`{${parameter.name}}`, encoded);
      } else if (parameter.in === "query") query.append(parameter.name, value);
      else headers.set(parameter.name, value);
    }
    if (query.size) url += `?${query}`;
    const init = { method: method.toUpperCase(), headers, credentials: "same-origin" };
    if (bodyInput) {
      const file = fileInput?.files?.[0];
      if (file) init.body = file;
      else if (bodyInput.value !== "") init.body = bodyInput.value;
      if (init.body !== undefined && typeInput.value) headers.set("content-type", typeInput.value);
    }
    controller = new AbortController();
    init.signal = controller.signal;
    send.disabled = true;
    abort.hidden = false;
    output.hidden = false;
    output.replaceChildren(el("p", { class: "muted", text: `${init.method} ${url} …` }));
    const started = performance.now();
    try {
      const response = await fetch(url, init);
      await showAnswer(output, init.method, url, response, started);
    } catch (error) {
      const stopped = error.name === "AbortError";
      output.append(el("p", { class: stopped ? "muted" : "error", text: stopped ? "Stopped." : `The request failed: ${error.message}` }));
    } finally {
      controller = null;
      send.disabled = false;
      abort.hidden = true;
    }
  });
  return form;
}

/** Shows status, headers and body; text bodies as they arrive (server-sent events too). */
async function showAnswer(output, method, url, response, started) {
  const status = el("p", { class: "status-line" },
    el("span", { class: `status status-${String(response.status)[0]}`, text: `${response.status} ${response.statusText}` }),
    ` ${method} ${url}`);
  const headerLines = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  const body = el("pre", { class: "body" });
  output.replaceChildren(status, el("details", {}, el("summary", { text: "Headers" }), el("pre", { text: headerLines })), body);
  const type = response.headers.get("content-type") ?? "";
  if (type && !TEXT_TYPE.test(type)) {
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: "answer", text: "Save it" });
    body.replaceWith(el("p", {}, `${blob.size} bytes of ${type}. `, link));
  } else if (response.body) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      body.textContent = text;
    }
    text += decoder.decode();
    if (JSON_TYPE.test(type)) {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // Not JSON after all: show it as it came.
      }
    }
    body.textContent = text || "(no body)";
  }
  status.append(el("span", { class: "muted", text: ` · ${Math.round(performance.now() - started)} ms` }));
}

function operationView(path, method, pathItem, operation) {
  const id = `op-${operation.operationId ?? `${method}-${path}`}`.replace(/[^\w-]/g, "-");
  const requirements = operation.security ?? spec.security ?? [];
  const secured = requirements.length > 0 && requirements.every((requirement) => Object.keys(requirement).length);
  const details = el(
    "details",
    { class: "operation", id },
    el(
      "summary",
      {},
      el("span", { class: `method method-${method}`, text: method.toUpperCase() }),
      el("code", { class: "path", text: path }),
      el("span", { class: "summary", text: operation.summary ?? "" }),
      secured ? el("span", { class: "lock", title: "Needs sign-in", text: "sign-in" }) : null,
    ),
  );
  details.dataset.search = [method, path, operation.summary, operation.operationId, ...(operation.tags ?? [])]
    .join(" ")
    .toLowerCase();
  let rendered = false;
  details.addEventListener("toggle", () => {
    if (!details.open || rendered) return;
    rendered = true;
    const parameters = parametersOf(pathItem, operation);
    const body = el("div", { class: "operation-body" });
    if (operation.description) body.append(prose(operation.description));
    body.append(el("p", { class: "muted", text: `${securityText(operation)} · operationId ${operation.operationId ?? "none"}` }));
    if (operation.deprecated) body.append(el("p", { class: "error", text: "Deprecated." }));
    if (parameters.length) body.append(el("h4", { text: "Parameters" }), parametersTable(parameters));
    if (operation.requestBody) {
      const requestBody = resolve(operation.requestBody);
      body.append(el("h4", { text: requestBody.required ? "Request body (required)" : "Request body" }));
      if (requestBody.description) body.append(prose(requestBody.description));
      body.append(contentView(requestBody.content));
    }
    body.append(el("h4", { text: "Responses" }), responsesView(operation.responses));
    body.append(tryForm(path, method, parameters, operation.requestBody));
    details.append(body);
  });
  return details;
}

const tagId = (name) => `tag-${name.replace(/[^\w-]/g, "-")}`;

function renderDocument() {
  $("api-title").textContent = `${spec.info?.title ?? "The"} API reference`;
  document.title = `${spec.info?.title ?? "API"} API reference`;
  $("api-version").textContent = `version ${spec.info?.version ?? "?"} · OpenAPI ${spec.openapi ?? "?"}`;
  if (spec.info?.description) $("api-description").replaceChildren(prose(spec.info.description));

  const byTag = new Map((spec.tags ?? []).map((tag) => [tag.name, { tag, operations: [] }]));
  for (const [path, pathItem] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      const operation = pathItem[method];
      if (!operation) continue;
      for (const name of operation.tags?.length ? operation.tags : ["other"]) {
        if (!byTag.has(name)) byTag.set(name, { tag: { name }, operations: [] });
        byTag.get(name).operations.push(operationView(path, method, pathItem, operation));
      }
    }
  }
  const nav = $("tags");
  for (const { tag, operations } of byTag.values()) {
    if (operations.length === 0) continue;
    const section = el("section", { class: "tag", id: tagId(tag.name) }, el("h2", { text: tag.name }));
    if (tag.description) section.append(prose(tag.description));
    section.append(...operations);
    $("operations").append(section);
    nav.append(el("li", {}, el("a", { href: `#${tagId(tag.name)}`, text: `${tag.name} (${operations.length})` })));
  }
  if (location.hash) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target instanceof HTMLDetailsElement) target.open = true;
    target?.scrollIntoView();
  }
}

$("filter").addEventListener("input", () => {
  const words = $("filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const section of document.querySelectorAll("section.tag")) {
    let shown = 0;
    for (const operation of section.querySelectorAll("details.operation")) {
      operation.hidden = !words.every((word) => operation.dataset.search.includes(word));
      if (!operation.hidden) shown++;
    }
    section.hidden = shown === 0;
  }
});

async function start() {
  try {
    const response = await fetch("/api/openapi.json", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    spec = await response.json();
  } catch (error) {
    $("load-error").textContent = `Cannot load the API document: ${error.message}. Reload to try again.`;
    $("load-error").hidden = false;
    return;
  }
  renderDocument();
  try {
    const { user } = await (await fetch("/api/session", { credentials: "same-origin" })).json();
    $("api-session").textContent = user
      ? `Signed in as ${user.username}: "Try it" sends your session cookie.`
      : "Not signed in: sign in on the chat page to try operations that need it.";
  } catch {
    // The reference works without knowing.
  }
}

start();
