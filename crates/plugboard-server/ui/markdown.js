// Markdown to DOM nodes. Text only ever reaches the page through text nodes (never
// innerHTML), so whatever a model or a plugin writes cannot inject HTML or script.
// Supported: paragraphs, headings, fenced code, lists, block quotes, rules, and inline
// code, bold, italics and links (http, https and mailto; relative links only when the
// caller follows them itself, as the plugin docs viewer does).

const SAFE_LINK = /^(https?:|mailto:)/i;
// A path relative to the page it is on: no scheme, not protocol-relative, not a fragment.
const RELATIVE_LINK = /^(?![a-z][a-z0-9+.-]*:|\/\/|#)[^\s]+$/i;

function el(tag, ...children) {
  const node = document.createElement(tag);
  for (const child of children) node.append(child);
  return node;
}

// Inline markup of one line of text, as nodes. `options.onLink(target)`, when given,
// follows a relative link (the page opens it where it wants; the browser never does).
function inline(text, options) {
  const nodes = [];
  const pattern = /(`+)([\s\S]*?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    if (match[2] !== undefined) nodes.push(el("code", match[2]));
    else if (match[3] !== undefined || match[4] !== undefined) nodes.push(el("strong", ...inline(match[3] ?? match[4], options)));
    else if (match[5] !== undefined || match[6] !== undefined) nodes.push(el("em", ...inline(match[5] ?? match[6], options)));
    else if (SAFE_LINK.test(match[8])) {
      const link = el("a", ...inline(match[7], options));
      link.href = match[8];
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
      nodes.push(link);
    } else if (options.onLink && RELATIVE_LINK.test(match[8])) {
      const target = match[8];
      const link = el("a", ...inline(match[7], options));
      link.href = "#";
      link.dataset.target = target;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        options.onLink(target);
      });
      nodes.push(link);
    } else nodes.push(document.createTextNode(match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

// Lines joined inside a paragraph, keeping single line breaks.
function withBreaks(lines, options) {
  const nodes = [];
  lines.forEach((line, index) => {
    if (index > 0) nodes.push(el("br"));
    nodes.push(...inline(line, options));
  });
  return nodes;
}

/**
 * Renders `source` into a document fragment. `options.onLink(target)`: follows relative
 * links (without it they stay text).
 */
export function render(source, options = {}) {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      const code = el("code", body.join("\n"));
      if (fence[2]) code.dataset.language = fence[2];
      fragment.append(el("pre", code));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      fragment.append(el(`h${Math.min(heading[1].length + 2, 6)}`, ...inline(heading[2], options)));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(el("hr"));
      i++;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      fragment.append(el("blockquote", render(quoted.join("\n"), options)));
      continue;
    }
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (item) {
      const ordered = /\d/.test(item[1]);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length) {
        const next = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
        if (!next || /\d/.test(next[1]) !== ordered) break;
        list.append(el("li", ...inline(next[2], options)));
        i++;
      }
      fragment.append(list);
      continue;
    }
    if (line.trim() === "") {
      i++;
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() !== "" &&
      !/^\s*(```|~~~|#{1,6}\s|>|([-*+]|\d+[.)])\s)/.test(lines[i])
    ) {
      paragraph.push(lines[i++]);
    }
    fragment.append(el("p", ...withBreaks(paragraph, options)));
  }
  return fragment;
}
