// Automation: templates (run again with new values), schedules (with their next fire times and what they did) and
// webhooks (the secret shown once, the delivery log, redeliver, ping).
import { api, go } from "./api.js";
import { attempt, badge, el, fill, when } from "./dom.js";

const EVENT_TYPES = [
  "run.succeeded",
  "run.failed",
  "run.cancelled",
  "run.waiting",
  "approval.requested",
  "artifact.created",
  "schedule.paused",
];

const tabs = (current) =>
  el(
    "p",
    { class: "row tabs" },
    ["templates", "schedules", "webhooks"].map((page) =>
      page === current
        ? el("strong", {}, page[0].toUpperCase() + page.slice(1))
        : el("a", { href: `#/${page}` }, page[0].toUpperCase() + page.slice(1)),
    ),
  );

// A text field's value as the template declares the parameter: 3 for an integer, true for a boolean.
function typed(value, type) {
  if (type === "integer" || type === "number") {
    const number = Number(value);
    if (value.trim() === "" || Number.isNaN(number)) throw new Error(`${value} is not a ${type}`);
    return number;
  }
  if (type === "boolean") return value === "true";
  return value;
}

// "city, days:integer=3" -> [{name: "city", type: "string"}, {name: "days", type: "integer", default: 3}]
function declared(text) {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [head, fallback] = part.split("=");
      const [name, type = "string"] = head.split(":").map((s) => s.trim());
      return fallback === undefined ? { name, type } : { name, type, default: typed(fallback.trim(), type) };
    });
}

// "city=Lyon, days=3" -> {city: "Lyon", days: 3}, typed as the template declares each.
function valuesFor(text, parameters) {
  const types = Object.fromEntries(parameters.map((p) => [p.name, p.type]));
  const values = {};
  for (const pair of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error(`Write name=value, not ${pair}`);
    const name = pair.slice(0, at).trim();
    values[name] = typed(pair.slice(at + 1).trim(), types[name] || "string");
  }
  return values;
}

const describeParameters = (parameters) =>
  parameters
    .map((p) => `${p.name}: ${p.type}${p.default !== undefined && p.default !== null ? ` = ${p.default}` : ""}`)
    .join(", ") || "none";

// --- templates --------------------------------------------------------------------------------------

export async function templatesPage() {
  const name = el("input", { type: "text", name: "name", placeholder: "name", required: true });
  const goal = el("textarea", {
    name: "goal",
    placeholder: "Goal, with {{parameters}}: Write a digest of {{city}}",
    required: true,
  });
  const parameters = el("input", { type: "text", name: "parameters", placeholder: "parameters: city, days:integer=3" });
  const plan = el("textarea", {
    name: "plan",
    placeholder: "Optional: a fixed plan, as a JSON list of tasks (no planning call)",
  });
  const list = el("div", { class: "card", id: "templates" });
  const load = async () => {
    const templates = (await api("/templates?limit=200")).items;
    fill(
      list,
      templates.length === 0
        ? el("p", { class: "muted" }, "No templates yet.")
        : el(
            "table",
            {},
            el(
              "tr",
              {},
              el("th", {}, "Name"),
              el("th", {}, "Version"),
              el("th", {}, "Goal"),
              el("th", {}, "Parameters"),
              el("th", {}, ""),
            ),
            templates.map((t) => templateRow(t, load)),
          ),
    );
  };
  const create = (event) => {
    event.preventDefault();
    attempt(async () => {
      const body = { name: name.value, goal: goal.value, parameters: declared(parameters.value) };
      if (plan.value.trim()) body.plan = JSON.parse(plan.value);
      await api("/templates", { method: "POST", body });
      for (const input of [name, goal, parameters, plan]) input.value = "";
      await load();
    }, "Template created");
  };
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "Templates"),
    tabs("templates"),
    el(
      "form",
      { class: "card", onsubmit: create, id: "create-template" },
      el("div", { class: "row" }, name, parameters),
      goal,
      plan,
      el("div", { class: "row" }, el("button", { type: "submit" }, "Create template")),
    ),
    list,
  );
}

function templateRow(template, reload) {
  const spec = template.spec;
  const values = el("input", {
    type: "text",
    name: "values",
    placeholder: spec.parameters.map((p) => `${p.name}=…`).join(", ") || "no parameters",
  });
  const run = () =>
    attempt(async () => {
      const made = await api(`/templates/${template.id}/runs`, {
        method: "POST",
        body: { parameters: valuesFor(values.value, spec.parameters) },
      });
      go(`#/runs/${made.id}`);
    });
  const remove = () => {
    if (!confirm(`Delete the template ${template.name} and its schedules?`)) return;
    attempt(async () => {
      await api(`/templates/${template.id}`, { method: "DELETE" });
      await reload();
    }, "Template deleted");
  };
  return el(
    "tr",
    { "data-template": template.name },
    el("td", {}, template.name),
    el("td", {}, `v${template.version}`),
    el(
      "td",
      {},
      spec.goal,
      spec.plan ? el("span", { class: "muted" }, ` (fixed plan, ${spec.plan.length} tasks)`) : null,
    ),
    el("td", { class: "mono" }, describeParameters(spec.parameters)),
    el(
      "td",
      {},
      el(
        "div",
        { class: "row" },
        values,
        el("button", { type: "button", class: "run-template", onclick: run }, "Run"),
        el("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    ),
  );
}

// --- schedules --------------------------------------------------------------------------------------

export async function schedulesPage() {
  const templates = (await api("/templates?limit=200")).items;
  const name = el("input", { type: "text", name: "name", placeholder: "name", required: true });
  const template = el(
    "select",
    { name: "template" },
    templates.map((t) => el("option", { value: t.id }, t.name)),
  );
  const cron = el("input", { type: "text", name: "cron", placeholder: "cron: 0 9 * * 1-5" });
  const every = el("input", { type: "number", name: "interval", placeholder: "or every N seconds", min: "60" });
  const zone = el("input", {
    type: "text",
    name: "timezone",
    value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
  });
  const values = el("input", { type: "text", name: "values", placeholder: "parameters: city=Lyon, days=3" });
  const overlap = el(
    "select",
    { name: "overlap" },
    el("option", { value: "skip" }, "skip a slot while a run runs"),
    el("option", { value: "buffer_one" }, "buffer one slot"),
    el("option", { value: "allow_all" }, "start anyway"),
  );
  const list = el("div", { id: "schedules" });
  const load = async () => {
    const schedules = (await api("/schedules?limit=100")).items;
    const cards = await Promise.all(schedules.map((s) => scheduleCard(s, load)));
    fill(list, cards.length ? cards : el("p", { class: "card muted" }, "No schedules yet."));
  };
  const create = (event) => {
    event.preventDefault();
    attempt(async () => {
      const chosen = templates.find((t) => t.id === template.value);
      if (!chosen) throw new Error("Create a template first");
      await api("/schedules", {
        method: "POST",
        body: {
          name: name.value,
          template_id: chosen.id,
          cron: cron.value.trim() || null,
          interval_seconds: every.value ? Number(every.value) : null,
          timezone: zone.value,
          parameters: valuesFor(values.value, chosen.spec.parameters),
          overlap: overlap.value,
        },
      });
      for (const input of [name, cron, every, values]) input.value = "";
      await load();
    }, "Schedule created");
  };
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "Schedules"),
    tabs("schedules"),
    el(
      "form",
      { class: "card", onsubmit: create, id: "create-schedule" },
      el("div", { class: "row" }, name, template, overlap),
      el("div", { class: "row" }, cron, every, zone),
      el("div", { class: "row" }, values, el("button", { type: "submit" }, "Create schedule")),
    ),
    list,
  );
}

async function scheduleCard(schedule, reload) {
  const [upcoming, events] = await Promise.all([
    api(`/schedules/${schedule.id}/next?count=3`),
    api(`/schedules/${schedule.id}/runs?limit=5`),
  ]);
  const act = (path, done) =>
    attempt(async () => {
      await api(`/schedules/${schedule.id}${path}`, { method: "POST" });
      await reload();
    }, done);
  const setPaused = (paused) =>
    attempt(
      async () => {
        await api(`/schedules/${schedule.id}`, { method: "PATCH", body: { paused } });
        await reload();
      },
      paused ? "Paused" : "Resumed",
    );
  const remove = () => {
    if (!confirm(`Delete the schedule ${schedule.name}?`)) return;
    attempt(async () => {
      await api(`/schedules/${schedule.id}`, { method: "DELETE" });
      await reload();
    }, "Schedule deleted");
  };
  const timing = schedule.cron ? `${schedule.cron} (${schedule.timezone})` : `every ${schedule.interval_seconds} s`;
  return el(
    "div",
    { class: "card schedule", "data-schedule": schedule.name },
    el("h2", {}, schedule.name, " ", badge(schedule.paused ? "paused" : "active")),
    el("p", { class: "mono" }, timing, ` · overlap: ${schedule.overlap}`),
    schedule.pause_reason ? el("p", { class: "pause-reason" }, `Paused: ${schedule.pause_reason}`) : null,
    el(
      "p",
      { class: "next-times" },
      upcoming.times.length
        ? ["Next: ", upcoming.times.map(when).join(" · ")]
        : el("span", { class: "muted" }, "Does not fire while paused."),
    ),
    el(
      "div",
      { class: "row" },
      el("button", { type: "button", class: "trigger", onclick: () => act("/trigger", "Fired") }, "Fire now"),
      schedule.paused
        ? el("button", { type: "button", class: "secondary resume", onclick: () => setPaused(false) }, "Resume")
        : el("button", { type: "button", class: "secondary pause", onclick: () => setPaused(true) }, "Pause"),
      el("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
    ),
    events.items.length
      ? el(
          "table",
          { class: "schedule-events" },
          events.items.map((e) =>
            el(
              "tr",
              {},
              el("td", {}, when(e.created_at)),
              el("td", {}, badge(e.kind)),
              el("td", {}, e.run_id ? el("a", { href: `#/runs/${e.run_id}` }, e.run_status || "run") : ""),
              el("td", { class: "muted" }, e.message),
            ),
          ),
        )
      : null,
  );
}

// --- webhooks ---------------------------------------------------------------------------------------

export async function webhooksPage() {
  const target = el("input", {
    type: "url",
    name: "url",
    placeholder: "your receiver's URL (http or https)",
    required: true,
  });
  const boxes = EVENT_TYPES.map((type) =>
    el("input", {
      type: "checkbox",
      name: "event",
      value: type,
      checked: type.startsWith("run.") && type !== "run.waiting",
    }),
  );
  const created = el("div", { id: "created-webhook" });
  const list = el("div", { id: "webhooks" });
  const load = async () => {
    const hooks = (await api("/webhooks?limit=100")).items;
    const cards = await Promise.all(hooks.map((h) => webhookCard(h, load)));
    fill(list, cards.length ? cards : el("p", { class: "card muted" }, "No webhooks yet."));
  };
  const create = (event) => {
    event.preventDefault();
    attempt(async () => {
      const types = boxes.filter((b) => b.checked).map((b) => b.value);
      const hook = await api("/webhooks", { method: "POST", body: { url: target.value, event_types: types } });
      fill(
        created,
        el(
          "div",
          { class: "secret" },
          el("p", {}, "Copy the signing secret now: it is shown once. Your receiver verifies each delivery with it."),
          el("code", { id: "new-secret" }, hook.secret),
        ),
      );
      target.value = "";
      await load();
    });
  };
  await load();
  return el(
    "div",
    {},
    el("h1", {}, "Webhooks"),
    tabs("webhooks"),
    el(
      "form",
      { class: "card", onsubmit: create, id: "create-webhook" },
      el("div", { class: "row" }, target),
      el(
        "div",
        { class: "row" },
        boxes.map((box) => el("label", { class: "check" }, box, ` ${box.value}`)),
      ),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Add webhook")),
      created,
    ),
    list,
  );
}

async function webhookCard(hook, reload) {
  const deliveries = (await api(`/webhooks/${hook.id}/deliveries?limit=10`)).items;
  const post = (path, done) =>
    attempt(async () => {
      await api(`/webhooks/${hook.id}${path}`, { method: "POST" });
      await reload();
    }, done);
  const remove = () => {
    if (!confirm(`Delete the webhook to ${hook.url}?`)) return;
    attempt(async () => {
      await api(`/webhooks/${hook.id}`, { method: "DELETE" });
      await reload();
    }, "Webhook deleted");
  };
  return el(
    "div",
    { class: "card webhook", "data-webhook": hook.url },
    el("h2", { class: "mono" }, hook.url, " ", badge(hook.enabled ? "active" : "paused")),
    el("p", { class: "muted" }, hook.event_types.join(" · ")),
    el(
      "div",
      { class: "row" },
      el(
        "button",
        { type: "button", class: "secondary ping", onclick: () => post("/ping", "Ping queued") },
        "Send a test ping",
      ),
      el("button", { type: "button", class: "secondary", onclick: reload }, "Refresh"),
      el("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
    ),
    deliveries.length
      ? el(
          "table",
          { class: "deliveries" },
          el(
            "tr",
            {},
            el("th", {}, "Event"),
            el("th", {}, "Status"),
            el("th", {}, "Attempts"),
            el("th", {}, "Last answer"),
            el("th", {}, "Created"),
            el("th", {}, ""),
          ),
          deliveries.map((d) =>
            el(
              "tr",
              { "data-delivery": d.id },
              el("td", {}, d.event_type),
              el("td", {}, badge(d.status)),
              el("td", {}, String(d.attempts)),
              el("td", { class: "muted" }, d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error || "—"),
              el("td", {}, when(d.created_at)),
              el(
                "td",
                {},
                d.status === "pending"
                  ? ""
                  : el(
                      "button",
                      {
                        type: "button",
                        class: "secondary redeliver",
                        onclick: () => post(`/deliveries/${d.id}/redeliver`, "Queued again"),
                      },
                      "Redeliver",
                    ),
              ),
            ),
          ),
        )
      : el("p", { class: "muted" }, "No deliveries yet."),
  );
}
