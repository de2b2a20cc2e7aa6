// Tool calls waiting for the person's approval: a card per pending call of the open
// conversation (the tool, who offers it, its arguments as editable JSON, which policy asked,
// Approve / Deny), read again when a conversation is shown (so a reloaded page finds them),
// added from the turn's stream and the live feed, removed once decided here or elsewhere.
// Also the administrators' table of tool policies on the plugins page.

import { $, el } from "/ui/dom.js";
import { ApiError, api, guard } from "/ui/api.js";
import { currentConversation } from "/ui/state.js";

const approvals = {
  pending: new Map(), // approval id → approval, of the open conversation
};

function sourceText(source) {
  return source.startsWith("mcp:") ? `MCP server ${source.slice(4)}` : `plugin ${source}`;
}

function card(approval) {
  const original = JSON.stringify(approval.arguments ?? {}, null, 2);
  const editor = el("textarea", { class: "approval-arguments", value: original, rows: Math.min(12, original.split("\n").length + 1), spellcheck: false });
  editor.setAttribute("aria-label", "Arguments (JSON)");
  const reason = el("input", { class: "approval-reason", type: "text", placeholder: "Why not? (optional, the model is told)" });
  reason.setAttribute("aria-label", "Reason for denying");
  const problem = el("p", { class: "approval-problem", role: "alert", hidden: true });
  const approve = el("button", { type: "button", class: "approve", text: "Approve" });
  const deny = el("button", { type: "button", class: "deny danger", text: "Deny" });
  const expires = new Date(approval.expires_at_ms).toLocaleTimeString();
  const node = el(
    "li",
    { class: "approval" },
    el("p", { class: "approval-title" }, "Approval needed: ", el("code", { text: approval.tool })),
    el("p", { class: "muted approval-source", text: `from ${sourceText(approval.source)} · ${approval.reason} · denied if not decided by ${expires}` }),
    editor,
    reason,
    problem,
    el("div", { class: "approval-actions" }, approve, deny),
  );
  node.dataset.id = approval.id;
  const decide = (path, body) =>
    guard(async () => {
      approve.disabled = deny.disabled = true;
      try {
        await api("POST", `/api/tool-calls/${approval.id}/${path}`, body);
        decided(approval.id);
      } catch (failure) {
        approve.disabled = deny.disabled = false;
        if (failure instanceof ApiError && (failure.status === 409 || failure.status === 404)) {
          decided(approval.id); // decided elsewhere, or gone with its conversation
          return;
        }
        problem.textContent = failure.message;
        problem.hidden = false;
      }
    });
  approve.addEventListener("click", () => {
    let edited;
    try {
      edited = JSON.parse(editor.value);
    } catch (error) {
      problem.textContent = `The arguments are not JSON: ${error.message}`;
      problem.hidden = false;
      return;
    }
    if (edited === null || typeof edited !== "object" || Array.isArray(edited)) {
      problem.textContent = "The arguments must be a JSON object, such as {\"name\": \"value\"}.";
      problem.hidden = false;
      return;
    }
    const changed = JSON.stringify(edited) !== JSON.stringify(approval.arguments ?? {});
    decide("approve", changed ? { arguments: edited } : undefined);
  });
  deny.addEventListener("click", () => decide("deny", reason.value.trim() ? { reason: reason.value.trim() } : undefined));
  return node;
}

function render() {
  const list = $("approvals");
  const shown = [...approvals.pending.values()].filter((a) => a.conversation_id === currentConversation()?.id);
  // Cards already shown stay as they are (with what the person typed).
  const existing = new Map([...list.children].map((node) => [node.dataset.id, node]));
  list.replaceChildren(...shown.map((approval) => existing.get(approval.id) ?? card(approval)));
  list.hidden = shown.length === 0;
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

// A call waits for the person (from the turn's stream or the live feed).
export function showPendingApproval(approval) {
  if (approval.status && approval.status !== "pending") return decided(approval.id);
  approvals.pending.set(approval.id, approval);
  render();
}

// A call was decided (here, in another tab, or it expired).
export function decided(id) {
  approvals.pending.delete(id);
  render();
}

// The open conversation's pending calls, read again (a conversation shown, a reconnection).
export async function loadApprovals() {
  approvals.pending.clear();
  const conversation = currentConversation();
  if (conversation) {
    const { approvals: pending } = await api("GET", `/api/conversations/${conversation.id}/approvals?status=pending`);
    if (currentConversation()?.id !== conversation.id) return;
    for (const approval of pending) approvals.pending.set(approval.id, approval);
  }
  render();
}

// The live feed's `tool_approval` events.
export function liveApproval(name, data) {
  if (name === "tool_approval") showPendingApproval(data.approval);
}

// ---- Tool policies (administrators, on the plugins page) -------------------------

const POLICY_LABELS = { "": "not set", auto: "auto: runs at once", ask: "ask: waits for approval", deny: "deny: never runs" };

function policySelect(current, onChange) {
  const select = el("select", {});
  for (const [value, label] of Object.entries(POLICY_LABELS)) select.append(el("option", { value, text: label }));
  select.value = current ?? "";
  select.addEventListener("change", () => guard(() => onChange(select.value)));
  return select;
}

async function savePolicy(key, policy) {
  if (policy) await api("PUT", "/api/tool-policies", { key, policy });
  else await api("DELETE", `/api/tool-policies/${encodeURIComponent(key)}`);
  await loadPolicies();
}

async function loadPolicies() {
  const { tools, policies } = await api("GET", "/api/tool-policies");
  const table = el("table", { class: "policy-table" });
  const head = table.createTHead().insertRow();
  for (const title of ["Tool", "Source", "Default", "Tool's policy", "Source's policy", "Applies"]) head.append(el("th", { text: title }));
  const body = table.createTBody();
  for (const tool of tools) {
    const row = body.insertRow();
    row.dataset.tool = tool.name;
    row.insertCell().append(el("code", { text: tool.name }));
    row.insertCell().textContent = sourceText(tool.source);
    row.insertCell().textContent = tool.default;
    row.insertCell().append(policySelect(tool.set, (policy) => savePolicy(tool.name, policy)));
    row.insertCell().append(policySelect(tool.source_set, (policy) => savePolicy(tool.source_key, policy)));
    const applies = row.insertCell();
    applies.textContent = tool.effective;
    applies.title = tool.reason;
  }
  const offered = new Set(tools.flatMap((tool) => [tool.name, tool.source_key]));
  const other = policies.filter((entry) => !offered.has(entry.key));
  const rest = other.length
    ? el("p", { class: "muted", text: `Also set, for tools not offered now: ${other.map((e) => `${e.key} = ${e.policy}`).join(", ")}` })
    : "";
  $("tool-policies").replaceChildren(tools.length ? table : el("p", { class: "muted", text: "No tool is offered." }), rest);
}

$("tool-policies-admin").addEventListener("toggle", () => {
  if ($("tool-policies-admin").open) guard(loadPolicies);
});
