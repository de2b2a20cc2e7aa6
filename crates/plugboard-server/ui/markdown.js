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

const SPACE = /\s/;

// For each index of `text` (and its end), the first index at or after it whose character
// passes `test`, or the text's length.
function nextWhere(text, test) {
  const next = new Int32Array(text.length + 1);
  next[text.length] = text.length;
  for (let i = text.length - 1; i >= 0; i--) next[i] = test(text[i]) ? i : next[i + 1];
  return next;
}

// Finds inline markup in one pass, in time linear in the text: what the regular expression
//   (`+)([\s\S]*?)\1 | \*\*([^*]+)\*\* | __([^_]+)__ | \*([^*\s][^*]*)\* | _([^_\s][^_]*)_
//   | \[([^\]]+)\]\(([^)\s]+)\)
// matches, without its backtracking (quadratic on an unclosed `[`, `(` or backtick run):
// each alternative is decided from where the next `*`, `_`, `]`, `)` or backtick run is.
function scan(text) {
  const n = text.length;
  const special = nextWhere(text, (c) => c === "`" || c === "*" || c === "_" || c === "[");
  const star = nextWhere(text, (c) => c === "*");
  const under = nextWhere(text, (c) => c === "_");
  const close = nextWhere(text, (c) => c === "]");
  const parenOrSpace = nextWhere(text, (c) => c === ")" || SPACE.test(c));
  const tick = nextWhere(text, (c) => c === "`");
  // Where the backtick run through i ends, and the longest run starting at or after i.
  const runEnd = new Int32Array(n + 1);
  const longest = new Int32Array(n + 2);
  runEnd[n] = n;
  for (let i = n - 1; i >= 0; i--) {
    runEnd[i] = text[i] !== "`" ? i : text[i + 1] === "`" ? runEnd[i + 1] : i + 1;
    const starts = text[i] === "`" && text[i - 1] !== "`";
    longest[i] = Math.max(longest[i + 1], starts ? runEnd[i] - i : 0);
  }

  // `` `+ `` takes as many backticks as still lets the same number close the code, then the
  // closing run comes as early as it can: within its own run, or the first later run long enough.
  function code(p) {
    const own = runEnd[p] - p;
    const k = Math.max(Math.floor(own / 2), Math.min(own, longest[runEnd[p]]));
    if (k === 0) return null;
    let q = p + k;
    if (own - k < k) {
      q = tick[runEnd[p]];
      while (runEnd[q] - q < k) q = tick[runEnd[q]];
    }
    return { end: q + k, code: text.slice(p + k, q) };
  }

  // `**…**` or `__…__` (`next`: where each marker character is).
  function strong(p, marker, next) {
    if (text[p + 1] !== marker) return null;
    const j = next[p + 2];
    return j > p + 2 && j < n && text[j + 1] === marker ? { end: j + 2, strong: text.slice(p + 2, j) } : null;
  }

  // `*…*` or `_…_`, not starting with a space.
  function emphasis(p, marker, next) {
    const first = text[p + 1];
    if (first === undefined || first === marker || SPACE.test(first)) return null;
    const j = next[p + 2];
    return j < n ? { end: j + 1, em: text.slice(p + 1, j) } : null;
  }

  // `[text](target)`, the target without spaces.
  function link(p) {
    const j = close[p + 1];
    if (j === p + 1 || j >= n || text[j + 1] !== "(") return null;
    const m = parenOrSpace[j + 2];
    if (m === j + 2 || m >= n || text[m] !== ")") return null;
    return { end: m + 1, label: text.slice(p + 1, j), target: text.slice(j + 2, m) };
  }

  function at(p) {
    switch (text[p]) {
      case "`":
        return code(p);
      case "*":
        return strong(p, "*", star) ?? emphasis(p, "*", star);
      case "_":
        return strong(p, "_", under) ?? emphasis(p, "_", under);
      default:
        return link(p);
    }
  }

  const found = [];
  let p = special[0];
  while (p < n) {
    const match = at(p);
    if (match) {
      found.push({ start: p, ...match });
      p = special[match.end];
    } else p = special[p + 1];
  }
  return found;
}

// Inline markup of one line of text, as nodes. `options.onLink(target)`, when given,
// follows a relative link (the page opens it where it wants; the browser never does).
function inline(text, options) {
  const nodes = [];
  let last = 0;
  for (const match of scan(text)) {
    if (match.start > last) nodes.push(document.createTextNode(text.slice(last, match.start)));
    if (match.code !== undefined) nodes.push(el("code", match.code));
    else if (match.strong !== undefined) nodes.push(el("strong", ...inline(match.strong, options)));
    else if (match.em !== undefined) nodes.push(el("em", ...inline(match.em, options)));
    else if (SAFE_LINK.test(match.target)) {
      const link = el("a", ...inline(match.label, options));
      link.href = match.target;
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
      nodes.push(link);
    } else if (options.onLink && RELATIVE_LINK.test(match.target)) {
      const target = match.target;
      const link = el("a", ...inline(match.label, options));
      link.href = "#";
      link.dataset.target = target;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        options.onLink(target);
      });
      nodes.push(link);
    } else nodes.push(document.createTextNode(text.slice(match.start, match.end)));
    last = match.end;
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
