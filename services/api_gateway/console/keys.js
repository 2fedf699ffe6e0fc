// API keys: create (with limits; shown once), list, revoke.
import { api } from "./api.js";
import { badge, el, fill, toast, usd, when } from "./dom.js";

// --- API keys ---------------------------------------------------------------------------------------

// What a key may do, in words: "$5 cap · 60/min · gpt-4o-mini" or "no limits".
function keyLimits(key) {
  const parts = [];
  if (key.max_budget_usd !== null && key.max_budget_usd !== undefined) parts.push(`${usd(key.max_budget_usd)} cap`);
  if (key.rpm_limit) parts.push(`${key.rpm_limit} requests/min`);
  if (key.tpm_limit) parts.push(`${key.tpm_limit} tokens/min`);
  if (key.allowed_models?.length) parts.push(key.allowed_models.join(", "));
  if (key.scopes?.length) parts.push(`scopes: ${key.scopes.join(" ")}`);
  if (key.team_id) parts.push(`team ${key.team_id.slice(0, 8)}`);
  return parts.length ? parts.join(" · ") : "no limits";
}

export async function keysPage() {
  const name = el("input", { type: "text", name: "name", placeholder: "key name", required: true });
  const days = el("input", { type: "number", name: "expires_in_days", placeholder: "expires in days", min: "1" });
  const budget = el("input", {
    type: "number",
    name: "max_budget_usd",
    placeholder: "spend cap, USD",
    min: "0",
    step: "any",
  });
  const rpm = el("input", { type: "number", name: "rpm_limit", placeholder: "requests / minute", min: "1" });
  const tpm = el("input", { type: "number", name: "tpm_limit", placeholder: "LLM tokens / minute", min: "1" });
  const models = el("input", {
    type: "text",
    name: "allowed_models",
    placeholder: "models it may use, comma-separated (any if empty)",
  });
  const scopes = el("input", {
    type: "text",
    name: "scopes",
    placeholder: "scopes, e.g. runs:* memories:read (all you may if empty)",
  });
  const team = el("select", { name: "team_id" }, el("option", { value: "" }, "no team: all your things"));
  for (const t of await api("/teams")) team.append(el("option", { value: t.id }, `team ${t.name} only`));
  const number = (input) => (input.value ? Number(input.value) : null);
  const created = el("div", { id: "created-key" });
  const list = el("div", { class: "card", id: "keys" });
  const load = async () => {
    const keys = (await api("/auth/api-keys?limit=200")).items;
    fill(
      list,
      keys.length === 0
        ? el("p", { class: "muted" }, "No API keys.")
        : el(
            "table",
            {},
            el(
              "tr",
              {},
              el("th", {}, "Name"),
              el("th", {}, "Prefix"),
              el("th", {}, "Limits"),
              el("th", {}, "Created"),
              el("th", {}, "Expires"),
              el("th", {}, "Last used"),
              el("th", {}, ""),
            ),
            keys.map((k) =>
              el(
                "tr",
                { "data-key": k.name },
                el("td", {}, k.name),
                el("td", { class: "mono" }, k.prefix),
                el("td", { class: "limits" }, keyLimits(k)),
                el("td", {}, when(k.created_at)),
                el("td", {}, when(k.expires_at)),
                el("td", {}, when(k.last_used_at)),
                el(
                  "td",
                  {},
                  k.revoked_at
                    ? badge("revoked")
                    : el("button", { class: "danger", onclick: () => revoke(k.id) }, "Revoke"),
                ),
              ),
            ),
          ),
    );
  };
  const create = async (event) => {
    event.preventDefault();
    try {
      const allowed = models.value
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean);
      const scoped = scopes.value.split(/[\s,]+/).filter(Boolean);
      const key = await api("/auth/api-keys", {
        method: "POST",
        body: {
          name: name.value,
          expires_in_days: number(days),
          max_budget_usd: budget.value || null,
          rpm_limit: number(rpm),
          tpm_limit: number(tpm),
          allowed_models: allowed.length ? allowed : null,
          scopes: scoped.length ? scoped : null,
          team_id: team.value || null,
        },
      });
      fill(
        created,
        el(
          "div",
          { class: "secret" },
          el("p", {}, "Copy this key now: it is shown once."),
          el("code", { id: "new-key" }, key.key),
        ),
      );
      [name, days, budget, rpm, tpm, models, scopes].forEach((input) => {
        input.value = "";
      });
      await load();
    } catch (e) {
      toast(e.message, true);
    }
  };
  async function revoke(id) {
    if (!confirm("Revoke this key? Anything using it stops working at once.")) return;
    try {
      await api(`/auth/api-keys/${id}`, { method: "DELETE" });
      toast("Key revoked");
      await load();
    } catch (e) {
      toast(e.message, true);
    }
  }
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "API keys"),
    el(
      "form",
      { class: "card row", onsubmit: create, id: "create-key" },
      name,
      days,
      budget,
      rpm,
      tpm,
      models,
      scopes,
      team,
      el("button", { type: "submit" }, "Create key"),
      created,
    ),
    list,
  );
}
