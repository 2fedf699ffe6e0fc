// Approvals: the tool calls waiting for your decision across runs (approve as asked, edit, reject), and the
// questions runs asked you (answer them).
import { api } from "./api.js";
import { badge, el, fill, toast, when } from "./dom.js";

const PYTHON_WORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except finally for from " +
    "global if import in is lambda nonlocal not or pass raise return try while with yield print"
  ).split(" "),
);
// Python, lightly highlighted: comments, strings, numbers and keywords as spans (text nodes only, never HTML).
const PYTHON_TOKEN =
  /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;
export function highlightPython(code) {
  const parts = [];
  let last = 0;
  for (const match of code.matchAll(PYTHON_TOKEN)) {
    const [text, comment, string, number, word] = match;
    if (match.index > last) parts.push(code.slice(last, match.index));
    if (comment) parts.push(el("span", { class: "tok-comment" }, text));
    else if (string) parts.push(el("span", { class: "tok-string" }, text));
    else if (number) parts.push(el("span", { class: "tok-number" }, text));
    else if (PYTHON_WORDS.has(word)) parts.push(el("span", { class: "tok-keyword" }, text));
    else parts.push(text);
    last = match.index + text.length;
  }
  parts.push(code.slice(last));
  return el("pre", { class: "code", "data-language": "python" }, parts);
}

// The call as the agent asked it: code highlighted, a request's method and URL first, other tools as JSON.
function callView(approval) {
  const p = approval.parameters;
  if (approval.tool === "execute_python" && typeof p.code === "string") return highlightPython(p.code);
  const shown = [];
  if (approval.tool === "http_request")
    shown.push(el("p", { class: "mono request-line" }, `${p.method || "GET"} ${p.url}`));
  shown.push(el("pre", {}, JSON.stringify(p, null, 2)));
  return shown;
}

function approvalCard(approval, reload) {
  const said = approval.context?.notes || approval.context?.result;
  const note = el("input", { type: "text", name: "note", placeholder: "note (optional)" });
  const editor = el("textarea", { name: "parameters", rows: "8", hidden: true, spellcheck: "false" });
  editor.value = JSON.stringify(approval.parameters, null, 2);
  const decide = async (decision, parameters) => {
    try {
      await api(`/approvals/${approval.id}/decision`, {
        method: "POST",
        body: { decision, parameters, note: note.value || null },
      });
      if (approval.conversation_id) await continueChat(approval.conversation_id);
      toast(decision === "approve" ? "Approved: the work goes on" : "Rejected: the call will not run");
      await reload();
    } catch (e) {
      toast(e.message, true);
    }
  };
  const approveEdited = () => {
    if (editor.hidden) {
      editor.hidden = false;
      return;
    }
    let parameters;
    try {
      parameters = JSON.parse(editor.value);
    } catch (e) {
      toast(`Not JSON: ${e.message}`, true);
      return;
    }
    decide("approve", parameters);
  };
  return el(
    "div",
    { class: "card approval", "data-approval": approval.id },
    el(
      "div",
      { class: "row" },
      el("h2", {}, approval.tool),
      badge(approval.status),
      approval.run_id
        ? el("a", { href: `#/runs/${approval.run_id}` }, "the run")
        : el("a", { href: "#/chat" }, "the conversation"),
      el("span", { class: "muted" }, `asked ${when(approval.created_at)} · expires ${when(approval.expires_at)}`),
    ),
    said ? el("p", { class: "muted" }, `The agent says: ${String(said).slice(0, 500)}`) : null,
    callView(approval),
    editor,
    el(
      "div",
      { class: "row" },
      el("button", { class: "approve", onclick: () => decide("approve", null) }, "Approve"),
      el("button", { class: "edit", onclick: approveEdited }, "Edit and approve"),
      el("button", { class: "danger reject", onclick: () => decide("reject", null) }, "Reject"),
      note,
    ),
  );
}

// A conversation's turn ended at the held call: once nothing in it waits any more, it goes on (the reply is then in
// the conversation).
async function continueChat(conversationId) {
  try {
    await api(`/conversations/${conversationId}/resume`, { method: "POST", body: {} });
  } catch (e) {
    if (e.status !== 409) throw e; // another call of that turn still waits: the last decision continues it
  }
}

function questionCard(approval, reload) {
  const answer = el("input", { type: "text", name: "answer", placeholder: "your answer", required: true });
  const send = async (event) => {
    event.preventDefault();
    try {
      await api(`/runs/${approval.run_id}/inputs`, {
        method: "POST",
        body: { answer: answer.value, approval_id: approval.id },
      });
      toast("Answered: the run goes on");
      await reload();
    } catch (e) {
      toast(e.message, true);
    }
  };
  return el(
    "form",
    { class: "card approval question", "data-approval": approval.id, onsubmit: send },
    el(
      "div",
      { class: "row" },
      el("h2", {}, "A run asks you"),
      el("a", { href: `#/runs/${approval.run_id}` }, "the run"),
    ),
    el("p", { class: "question-text" }, approval.parameters.question),
    el("div", { class: "row" }, answer, el("button", { type: "submit" }, "Answer")),
  );
}

export async function approvalsPage() {
  const list = el("div", { id: "approvals" });
  const load = async () => {
    const pending = (await api("/approvals?status=pending&limit=100")).items;
    fill(
      list,
      pending.length === 0
        ? el("p", { class: "card muted" }, "Nothing waits for you.")
        : pending.map((a) => (a.tool === "ask_user" ? questionCard(a, load) : approvalCard(a, load))),
    );
  };
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "Approvals"),
    el("p", { class: "muted" }, "Tool calls held for your decision, and questions runs asked you."),
    list,
  );
}
