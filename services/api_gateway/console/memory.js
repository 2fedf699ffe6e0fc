// Memory: semantic or hybrid search, filters, view and delete.
import { api } from "./api.js";
import { el, fill, toast, when } from "./dom.js";

// The memory types and scopes, as the API publishes them (its OpenAPI document), not copied here.
let vocabulary = null;
async function memoryVocabulary() {
  if (vocabulary === null) {
    const document = await (await fetch("/openapi.json")).json();
    const fields = document.components.schemas["memory-service.MemoryCreate"].properties;
    vocabulary = { types: fields.memory_type.enum, scopes: fields.scope.enum };
  }
  return vocabulary;
}

export async function memoryPage() {
  const { types, scopes } = await memoryVocabulary();
  const query = el("input", { type: "text", name: "query", placeholder: "Search your memories" });
  const mode = el(
    "select",
    { name: "mode" },
    el("option", { value: "semantic" }, "semantic"),
    el("option", { value: "hybrid" }, "hybrid"),
  );
  const type = el(
    "select",
    { name: "memory_type" },
    ["", ...types].map((t) => el("option", { value: t }, t || "any type")),
  );
  const scope = el(
    "select",
    { name: "scope" },
    ["", ...scopes].map((s) => el("option", { value: s }, s || "any scope")),
  );
  const results = el("div", { class: "card", id: "memories" });
  const show = (memories) =>
    fill(
      results,
      memories.length === 0
        ? el("p", { class: "muted" }, "Nothing found.")
        : el(
            "table",
            {},
            el(
              "tr",
              {},
              el("th", {}, "Memory"),
              el("th", {}, "Type"),
              el("th", {}, "Scope"),
              el("th", {}, "Score"),
              el("th", {}, ""),
            ),
            memories.map((m) =>
              el(
                "tr",
                { "data-memory": m.id },
                el(
                  "td",
                  {},
                  el(
                    "details",
                    {},
                    el("summary", {}, m.content.slice(0, 140)),
                    el("pre", {}, m.content),
                    el(
                      "p",
                      { class: "muted" },
                      `created ${when(m.created_at)} · source ${m.source || "—"} · confidence ${m.confidence}`,
                    ),
                  ),
                ),
                el("td", {}, m.memory_type),
                el("td", {}, m.scope),
                el("td", {}, m.score !== undefined ? m.score.toFixed(3) : "—"),
                el("td", {}, el("button", { class: "danger", onclick: () => remove(m.id) }, "Delete")),
              ),
            ),
          ),
    );
  const search = async (event) => {
    event?.preventDefault();
    try {
      if (!query.value.trim()) {
        const params = new URLSearchParams();
        if (type.value) params.set("memory_type", type.value);
        if (scope.value) params.set("scope", scope.value);
        show((await api(`/memories?${params}`)).items);
        return;
      }
      const found = await api("/memories/retrieve", {
        method: "POST",
        body: {
          query: query.value,
          k: 20,
          hybrid: mode.value === "hybrid",
          memory_types: type.value ? [type.value] : null,
          scopes: scope.value ? [scope.value] : null,
        },
      });
      show(found.map((m) => ({ ...m, score: m.relevance_score })));
    } catch (e) {
      toast(e.message, true);
    }
  };
  async function remove(id) {
    if (!confirm("Delete this memory? It cannot be brought back.")) return;
    try {
      await api(`/memories/${id}`, { method: "DELETE" });
      toast("Memory deleted");
      await search();
    } catch (e) {
      toast(e.message, true);
    }
  }
  await search();
  return el(
    "div",
    {},
    el("h1", {}, "Memory"),
    el(
      "form",
      { class: "card row", onsubmit: search, id: "memory-search" },
      query,
      mode,
      type,
      scope,
      el("button", { type: "submit" }, "Search"),
    ),
    results,
  );
}
