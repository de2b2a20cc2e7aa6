// Plugin settings forms made from each plugin's JSON Schema: fields, secrets never shown, errors by their fields.

import { ApiError, api } from "/ui/api.js";

function isSecret(schema) {
  return schema.format === "password" || schema.writeOnly === true;
}

// Fills a plugin card's Settings section with a form made from the plugin's JSON Schema;
// the server's violations show next to their fields.
export async function fillSettings(plugin, details) {
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
