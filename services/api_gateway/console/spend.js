// Spend: per day and per model, your budget; admins see everyone's and set budgets.
import { api, session } from "./api.js";
import { el, svgEl, toast, usd } from "./dom.js";

// --- spend ------------------------------------------------------------------------------------------

function barChart(rows, label) {
  const max = Math.max(...rows.map((r) => r.cost_usd), 1e-9);
  const height = 24 * rows.length + 10;
  const svg = svgEl("svg", {
    class: "bars",
    viewBox: `0 0 600 ${height}`,
    width: "100%",
    height,
    role: "img",
    "aria-label": label,
  });
  rows.forEach((row, i) => {
    const name = svgEl("text", { x: "0", y: String(i * 24 + 16) });
    name.textContent = row.key;
    const bar = svgEl("rect", {
      x: "170",
      y: String(i * 24 + 4),
      height: "16",
      width: String(Math.max(2, (row.cost_usd / max) * 320)),
    });
    const value = svgEl("text", { x: String(180 + Math.max(2, (row.cost_usd / max) * 320)), y: String(i * 24 + 16) });
    value.textContent = `${usd(row.cost_usd)} · ${row.calls} calls`;
    svg.append(name, bar, value);
  });
  return rows.length ? svg : el("p", { class: "muted" }, "No LLM calls yet.");
}

export async function spendPage() {
  const [byDay, byModel, budget] = await Promise.all([
    api("/ai/spend?group_by=day"),
    api("/ai/spend?group_by=model"),
    api("/ai/budget"),
  ]);
  const page = el(
    "div",
    {},
    el("h1", {}, "Spend"),
    el(
      "div",
      { class: "grid" },
      el(
        "div",
        { class: "card", id: "spend-by-day" },
        el("h2", {}, "Per day"),
        barChart(
          [...byDay.rows].sort((a, b) => a.key.localeCompare(b.key)),
          "Spend per day",
        ),
      ),
      el(
        "div",
        { class: "card", id: "spend-by-model" },
        el("h2", {}, "Per model"),
        barChart(byModel.rows, "Spend per model"),
      ),
    ),
    el(
      "div",
      { class: "card", id: "budget" },
      el("h2", {}, "Your budget"),
      budget
        ? el(
            "table",
            {},
            el("tr", {}, el("th", {}, "Period"), el("th", {}, "Limit"), el("th", {}, "Spent"), el("th", {}, "Left")),
            budget.usage.map((u) =>
              el(
                "tr",
                {},
                el("td", {}, u.period),
                el("td", {}, u.limit_usd === null ? "none" : usd(u.limit_usd)),
                el("td", {}, usd(u.spent_usd)),
                el("td", {}, u.limit_usd === null ? "—" : usd(Math.max(0, u.limit_usd - u.spent_usd - u.reserved_usd))),
              ),
            ),
          )
        : el("p", { class: "muted" }, "No budget is set for you."),
    ),
  );
  if (session.me?.role === "admin") page.append(await adminSpend());
  return page;
}

async function adminSpend() {
  const byUser = await api("/ai/admin/spend?group_by=user");
  const user = el("input", { type: "text", name: "user_id", placeholder: "user id" });
  const daily = el("input", { type: "text", name: "daily_usd", placeholder: "daily USD" });
  const monthly = el("input", { type: "text", name: "monthly_usd", placeholder: "monthly USD" });
  const setBudget = async (event) => {
    event.preventDefault();
    const body = {};
    if (daily.value) body.daily_usd = daily.value;
    if (monthly.value) body.monthly_usd = monthly.value;
    try {
      await api(`/ai/admin/budgets/user/${encodeURIComponent(user.value.trim())}`, { method: "PUT", body });
      toast("Budget saved");
    } catch (e) {
      toast(e.message, true);
    }
  };
  return el(
    "div",
    { class: "card", id: "admin-spend" },
    el("h2", {}, "Every user (admin)"),
    barChart(byUser.rows, "Spend per user"),
    el("h2", {}, "Set a user's budget"),
    el(
      "form",
      { class: "row", onsubmit: setBudget },
      user,
      daily,
      monthly,
      el("button", { type: "submit" }, "Save budget"),
    ),
  );
}
