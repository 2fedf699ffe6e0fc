// Conversations: the list, one conversation, and replies streaming in.
import { api, authHeaders } from "./api.js";
import { el, toast, usd, when } from "./dom.js";
import { readEvents } from "./sse.js";

// --- conversations ----------------------------------------------------------------------------------

export async function chatPage(conversationId) {
  const conversations = await api("/conversations?limit=50");
  const list = el(
    "ul",
    { class: "timeline", id: "conversations" },
    conversations.items.map((c) =>
      el(
        "li",
        {},
        el("a", { href: `#/chat/${c.id}` }, c.title || "(untitled)"),
        el("span", { class: "muted" }, ` · ${when(c.created_at)}`),
      ),
    ),
  );
  const startNew = async () => {
    try {
      const made = await api("/conversations", { method: "POST", body: {} });
      location.hash = `#/chat/${made.id}`;
    } catch (e) {
      toast(e.message, true);
    }
  };
  const side = el(
    "div",
    { class: "card" },
    el(
      "div",
      { class: "row" },
      el("h2", {}, "Conversations"),
      el("button", { id: "new-conversation", onclick: startNew }, "New"),
    ),
    list,
  );
  if (!conversationId) return el("div", {}, el("h1", {}, "Chat"), side);

  const conversation = await api(`/conversations/${conversationId}`);
  const log = el("div", { id: "chat-log" });
  const bubble = (m) =>
    el(
      "div",
      { class: `card bubble ${m.role}`, "data-role": m.role },
      el(
        "div",
        { class: "muted" },
        m.role === "tool" ? "tool result" : m.role,
        m.cost_usd ? ` · ${usd(m.cost_usd)}` : "",
        m.metadata?.kind === "run_result" ? " · run result" : "",
      ),
      m.tool_calls
        ? m.tool_calls.map((c) => el("pre", { class: "tool-call" }, `${c.function.name}(${c.function.arguments})`))
        : null,
      m.content ? (m.role === "tool" ? el("pre", {}, m.content) : el("p", { class: "content" }, m.content)) : null,
    );
  const history = await api(`/conversations/${conversationId}/messages?limit=200`);
  for (const m of history.items) log.append(bubble(m));
  const input = el("textarea", { name: "message", placeholder: "Say something", required: true });
  const send = async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    let live = null;
    const response = await fetch(`/api/v1/conversations/${conversationId}/messages`, {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ content, stream: true }),
    });
    if (!response.ok) {
      toast((await response.json().catch(() => null))?.error?.message || `HTTP ${response.status}`, true);
      return;
    }
    await readEvents(response, (name, data) => {
      if (name === "message" || name === "tool_result" || name === "run_result") {
        if (data.role === "assistant" && live) {
          live.replaceWith(bubble(data));
          live = null;
        } else log.append(bubble(data));
      } else if (name === "delta") {
        if (!live) {
          live = bubble({ role: "assistant", content: "" });
          log.append(live);
        }
        const text = live.querySelector(".content");
        if (text) text.append(data.content);
        else live.append(el("p", { class: "content" }, data.content));
      } else if (name === "tool_call") {
        log.append(
          el(
            "div",
            { class: "card bubble assistant" },
            el("pre", { class: "tool-call" }, `${data.name}(${data.arguments})`),
          ),
        );
      } else if (name === "done") {
        log.append(
          el(
            "p",
            { class: "muted", id: "turn-cost" },
            `${data.usage.prompt_tokens + data.usage.completion_tokens} tokens · ${usd(data.usage.cost_usd)}`,
          ),
        );
      } else if (name === "error") {
        toast(data.error.message, true);
      }
    });
  };
  return el(
    "div",
    { class: "grid chat" },
    side,
    el(
      "div",
      {},
      el("div", { class: "card" }, el("h1", {}, conversation.title || "New conversation")),
      log,
      el(
        "form",
        { class: "card", id: "chat-form", onsubmit: send },
        input,
        el("div", { class: "row" }, el("button", { type: "submit" }, "Send")),
      ),
    ),
  );
}
