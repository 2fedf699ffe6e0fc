// Audit log (admins): who did what administrative action, to what, in which request; and whether the log's hash
// chain is intact.
import { api, session } from "./api.js";
import { attempt, badge, el, fill, when } from "./dom.js";

export async function auditPage() {
  if (session.me?.role !== "admin")
    return el(
      "div",
      {},
      el("h1", {}, "Audit log"),
      el("p", { class: "card muted" }, "Only an admin reads the audit log."),
    );
  const action = el("input", { type: "text", name: "action", placeholder: "action, or a prefix: user.*" });
  const result = el("div", { id: "audit-verify" });
  const list = el("div", { class: "card", id: "audit-events" });
  const load = async () => {
    const query = new URLSearchParams({ limit: "100" });
    if (action.value.trim()) query.set("action", action.value.trim());
    const events = (await api(`/auth/audit/events?${query}`)).items;
    fill(
      list,
      events.length === 0
        ? el("p", { class: "muted" }, "No events.")
        : el(
            "table",
            {},
            el(
              "tr",
              {},
              el("th", {}, "#"),
              el("th", {}, "When"),
              el("th", {}, "Who"),
              el("th", {}, "Action"),
              el("th", {}, "Target"),
              el("th", {}, "Details"),
            ),
            events.map((e) =>
              el(
                "tr",
                { "data-action": e.action },
                el("td", { class: "mono" }, String(e.id)),
                el("td", {}, when(e.created_at)),
                el(
                  "td",
                  {},
                  e.actor_username || "system",
                  e.actor_key_id ? el("span", { class: "muted" }, " (API key)") : null,
                ),
                el("td", { class: "mono" }, e.action),
                el("td", { class: "mono" }, `${e.target_type} ${e.target_id}`),
                el("td", { class: "mono" }, JSON.stringify(e.details)),
              ),
            ),
          ),
    );
  };
  const verify = () =>
    attempt(async () => {
      const checked = await api("/auth/audit/verify", { method: "POST" });
      fill(
        result,
        checked.ok
          ? [badge("ok"), ` intact: ${checked.checked} events checked`]
          : [badge("failed"), ` broken at event ${checked.first_broken_id}: ${checked.reason}`],
      );
    });
  const filter = (event) => {
    event.preventDefault();
    attempt(load);
  };
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "Audit log"),
    el(
      "form",
      { class: "card row", onsubmit: filter, id: "audit-filter" },
      action,
      el("button", { type: "submit" }, "Filter"),
      el("button", { type: "button", class: "secondary", id: "verify-audit", onclick: verify }, "Verify the chain"),
      result,
    ),
    list,
  );
}
