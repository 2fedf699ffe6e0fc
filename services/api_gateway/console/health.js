// Health: every service, its circuit, and which providers are live.
import { api } from "./api.js";
import { badge, el } from "./dom.js";

// --- health -----------------------------------------------------------------------------------------

export async function healthPage() {
  const [health, models] = await Promise.all([api("/health"), api("/ai/models").catch(() => null)]);
  return el(
    "div",
    {},
    el("div", { class: "row" }, el("h1", {}, "Health"), badge(health.status)),
    el(
      "div",
      { class: "card", id: "services" },
      el(
        "table",
        {},
        el(
          "tr",
          {},
          el("th", {}, "Service"),
          el("th", {}, "Status"),
          el("th", {}, "Circuit"),
          el("th", {}, "Latency"),
          el("th", {}, "Note"),
        ),
        Object.entries(health.services).map(([name, s]) =>
          el(
            "tr",
            { "data-service": name },
            el("td", {}, name),
            el("td", {}, badge(s.status)),
            el("td", {}, badge(s.circuit)),
            el("td", {}, s.latency_ms === null || s.latency_ms === undefined ? "—" : `${s.latency_ms} ms`),
            el("td", { class: "muted" }, s.error || ""),
          ),
        ),
      ),
    ),
    models
      ? el(
          "div",
          { class: "card", id: "providers" },
          el("h2", {}, "Providers"),
          el(
            "table",
            {},
            Object.entries(models.providers).map(([name, state]) =>
              el("tr", {}, el("td", {}, name), el("td", {}, badge(state))),
            ),
          ),
        )
      : null,
  );
}
