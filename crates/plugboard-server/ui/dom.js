// DOM helpers shared by the studio's modules and the API reference (api-docs.js), so neither keeps a copy.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** An element with properties (`text` sets its text) and children (strings become text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node[key] = value;
  }
  for (const child of children) if (child !== undefined && child !== null && child !== false) node.append(child);
  return node;
}

/** A small label ("edited", "v1.2.0", a plugin's state), with an optional tooltip. */
export function badge(text, title) {
  const span = document.createElement("span");
  span.className = "badge";
  span.textContent = text;
  if (title) span.title = title;
  return span;
}
