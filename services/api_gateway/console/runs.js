// Runs: the list, one run followed live (its task graph, timeline, steps and result), and starting one.
import { api } from "./api.js";
import { badge, el, fill, onLeave, svgEl, toast, usd, verificationBadge, when } from "./dom.js";
import { drawRunFiles, uploadFile } from "./files.js";
import { streamEvents } from "./sse.js";

// --- runs -------------------------------------------------------------------------------------------

export async function runsPage() {
  const goal = el("textarea", { name: "goal", placeholder: "What should the agents do?", required: true });
  const attached = el("input", { type: "file", name: "files", multiple: true, id: "run-files" });
  const start = async (event) => {
    event.preventDefault();
    try {
      const files = [];
      for (const file of attached.files) files.push((await uploadFile(file)).id);
      const run = await api("/runs", { method: "POST", body: { goal: goal.value, files } });
      location.hash = `#/runs/${run.id}`;
    } catch (e) {
      toast(e.message, true);
    }
  };
  const runs = (await api("/runs")).items;
  return el(
    "div",
    {},
    el("h1", {}, "Runs"),
    el(
      "form",
      { class: "card", onsubmit: start, id: "start-run" },
      el("label", {}, "Goal", goal),
      el("label", {}, "Files its code reads at /work/inputs (optional)", attached),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Start run")),
    ),
    el(
      "div",
      { class: "card" },
      runs.length === 0
        ? el("p", { class: "muted" }, "No runs yet.")
        : el(
            "table",
            { id: "runs" },
            el("tr", {}, el("th", {}, "Goal"), el("th", {}, "Status"), el("th", {}, "Cost"), el("th", {}, "Started")),
            runs.map((run) =>
              el(
                "tr",
                {},
                el("td", {}, el("a", { href: `#/runs/${run.id}` }, run.goal.slice(0, 120))),
                el("td", {}, badge(run.status), " ", verificationBadge(run)),
                el("td", {}, usd(run.spent_usd)),
                el("td", {}, when(run.created_at)),
              ),
            ),
          ),
    ),
  );
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
// How long a task took (so far, while it runs): " · 3.2 s".
const took = (task) =>
  task.started_at
    ? ` · ${((new Date(task.finished_at || Date.now()) - new Date(task.started_at)) / 1000).toFixed(1)} s`
    : "";

export async function runPage(runId) {
  let run = await api(`/runs/${runId}`);
  const events = [];
  let selected = null;
  const header = el("div", { class: "card" });
  const graph = el("div", { class: "card", id: "dag" });
  const detail = el("div", { class: "card", id: "task-detail" });
  const timeline = el("ul", { class: "timeline", id: "timeline" });
  const result = el("div", { class: "card", id: "result" });
  const filesCard = el("div", { class: "card", id: "run-files-card" });
  const modelLine = el("p", { class: "muted", id: "model-progress" });

  const drawHeader = () =>
    fill(
      header,
      el("div", { class: "row" }, el("h1", {}, run.goal), badge(run.status), verificationBadge(run)),
      el(
        "p",
        { class: "muted" },
        `Run ${run.id} · started ${when(run.created_at)} · total cost `,
        el("strong", { id: "run-cost" }, usd(run.spent_usd)),
        run.budget_usd ? ` of ${usd(run.budget_usd)}` : "",
      ),
      TERMINAL.has(run.status) ? null : modelLine,
      run.status === "waiting"
        ? el("p", { id: "run-waiting" }, "This run waits for you: ", el("a", { href: "#/approvals" }, "decide"), ".")
        : null,
      run.parent_run_id
        ? el(
            "p",
            { class: "muted", id: "run-parent" },
            `${run.origin === "fork" ? "Forked" : "Retried"} from `,
            el("a", { href: `#/runs/${run.parent_run_id}` }, `run ${run.parent_run_id}`),
          )
        : null,
      TERMINAL.has(run.status)
        ? el("button", { id: "retry-run", onclick: () => retry(null) }, "Retry")
        : el("button", { class: "danger", id: "cancel-run", onclick: cancel }, "Cancel run"),
    );
  const drawResult = () => {
    const summary = run.result?.summary;
    fill(
      result,
      el("h2", {}, "Result"),
      run.error ? el("p", { class: "s-failed badge" }, run.error) : null,
      summary
        ? el("p", { id: "run-summary" }, summary)
        : el("p", { class: "muted" }, TERMINAL.has(run.status) ? "No summary." : "Still running…"),
    );
  };
  const drawDetail = () => {
    const task = run.tasks.find((t) => t.task_key === selected);
    if (!task) {
      fill(detail, el("p", { class: "muted" }, "Select a task in the graph to see its steps."));
      return;
    }
    const own = events.filter((e) => e.task_id === task.id);
    fill(
      detail,
      el(
        "div",
        { class: "row" },
        el("h2", {}, task.name),
        badge(task.status),
        el(
          "span",
          { class: "muted", id: "task-facts" },
          `${task.agent_role}${task.tool ? ` · ${task.tool}` : ""} · attempt ${task.attempts}/${task.max_attempts}${took(task)}`,
        ),
      ),
      el("p", {}, task.description || ""),
      own.map(stepView),
      task.output
        ? el("details", {}, el("summary", {}, "Output"), el("pre", {}, JSON.stringify(task.output, null, 2)))
        : null,
      task.error ? el("pre", { class: "s-failed" }, task.error) : null,
      TERMINAL.has(run.status)
        ? el("button", { id: "retry-from-task", onclick: () => retry(task.task_key) }, "Retry from here")
        : null,
    );
  };
  const redraw = () => {
    drawHeader();
    drawGraph(graph, run, selected, (key) => {
      selected = key;
      redraw();
    });
    drawDetail();
    drawResult();
  };
  const addEvent = (event) => {
    events.push(event);
    timeline.append(
      el(
        "li",
        {},
        el("span", { class: "when" }, new Date(event.created_at).toLocaleTimeString()),
        el("span", { class: "mono" }, event.event_type),
        " ",
        event.message || "",
        event.cost_usd ? el("span", { class: "muted" }, ` (${usd(event.cost_usd)})`) : "",
      ),
    );
  };
  let refreshPending = false; // events arrive in bursts: one reload of the run for each burst
  const refresh = () => {
    if (refreshPending) return;
    refreshPending = true;
    setTimeout(async () => {
      refreshPending = false;
      run = await api(`/runs/${runId}`).catch(() => run);
      redraw();
    }, 150);
  };
  // A new run: what succeeded (outside this task and what follows it) is copied, the rest runs again.
  async function retry(fromTask) {
    try {
      const child = await api(`/runs/${runId}/retry`, { method: "POST", body: { from_task: fromTask } });
      location.hash = `#/runs/${child.id}`;
    } catch (e) {
      toast(e.message, true);
    }
  }
  async function cancel() {
    if (!confirm("Cancel this run? Its unfinished tasks stop.")) return;
    try {
      run = await api(`/runs/${runId}/cancel`, { method: "POST" });
      redraw();
    } catch (e) {
      toast(e.message, true);
    }
  }

  const controller = new AbortController();
  onLeave(() => controller.abort());
  const onEvent = (event) => {
    if (event.event_type === "progress") {
      modelLine.textContent = describeProgress(event);
      return;
    }
    modelLine.textContent = "";
    addEvent(event);
    if (event.event_type === "artifact_created") drawRunFiles(filesCard, run);
    refresh();
  };
  streamEvents(`/runs/${runId}/events`, onEvent, controller.signal)
    .then(refresh)
    .catch((e) => toast(e.message, true));
  redraw();
  drawRunFiles(filesCard, run);
  return el(
    "div",
    {},
    header,
    graph,
    el("div", { class: "grid" }, detail, el("div", { class: "card" }, el("h2", {}, "Timeline"), timeline)),
    result,
    filesCard,
  );
}

// Where the run's call to the embedded model stands (a progress event, between real events).
function describeProgress(progress) {
  const who = progress.role || "the run";
  if (progress.state === "waiting")
    return `${who}: waiting for the model${progress.ahead ? `, ${progress.ahead} ahead` : ""}`;
  return `${who}: the model is writing, ${progress.tokens || 0} tokens so far`;
}

function stepView(event) {
  const d = event.data || {};
  if (event.event_type === "llm_call") {
    const line = el(
      "p",
      { class: "step" },
      "LLM ",
      el("strong", {}, d.model),
      ` · ${d.tokens ?? "?"} tokens · ${usd(event.cost_usd)} · ${Math.round(d.latency_ms || 0)} ms${d.cached ? " · cached" : ""}`,
    );
    if (d.prompt === undefined) return line; // the server keeps no prompts (STORE_LLM_TEXT=false)
    return el(
      "div",
      { class: "step" },
      line,
      el(
        "details",
        { class: "llm-text" },
        el("summary", {}, `Prompt and answer${d.prompt_version ? ` (${d.prompt_version})` : ""}`),
        d.agent_system_prompt ? [el("h3", {}, "Agent's system prompt"), el("pre", {}, d.agent_system_prompt)] : null,
        el("h3", {}, "Prompt"),
        el("pre", { class: "llm-prompt" }, d.prompt),
        el("h3", {}, "Answer"),
        el("pre", { class: "llm-completion" }, d.completion),
      ),
    );
  }
  if (event.event_type === "tool_call") {
    return el(
      "div",
      { class: "step" },
      el("p", {}, "Tool ", el("strong", {}, d.tool), " ", badge(d.status), ` · ${Math.round(d.duration_ms || 0)} ms`),
      d.result?.stdout ? el("pre", { class: "sandbox-output" }, d.result.stdout) : null,
      d.result?.stderr ? el("pre", {}, d.result.stderr) : null,
    );
  }
  if (event.event_type === "critic_verdict") {
    return el(
      "p",
      { class: "step" },
      "Critic: ",
      el("strong", {}, event.message),
      d.feedback ? ` — ${d.feedback}` : "",
    );
  }
  return el("p", { class: "step muted" }, `${event.event_type}: ${event.message || ""}`);
}

// The task DAG, left to right by depth (a task sits one column right of its deepest dependency).
function drawGraph(container, run, selected, onSelect) {
  const tasks = run.tasks;
  const depth = {};
  const keys = new Set(tasks.map((t) => t.task_key));
  const depthOf = (task, seen = new Set()) => {
    if (depth[task.task_key] !== undefined) return depth[task.task_key];
    if (seen.has(task.task_key)) return 0;
    seen.add(task.task_key);
    const parents = task.depends_on
      .filter((k) => keys.has(k))
      .map((k) =>
        depthOf(
          tasks.find((t) => t.task_key === k),
          seen,
        ),
      );
    depth[task.task_key] = parents.length ? Math.max(...parents) + 1 : 0;
    return depth[task.task_key];
  };
  for (const task of tasks) depthOf(task);
  const columns = {};
  const position = {};
  for (const task of tasks) {
    columns[depth[task.task_key]] ??= [];
    const column = columns[depth[task.task_key]];
    position[task.task_key] = { x: 20 + depth[task.task_key] * 210, y: 20 + column.length * 72 };
    column.push(task);
  }
  const width = Math.max(400, ...Object.values(position).map((p) => p.x + 190));
  const height = Math.max(100, ...Object.values(position).map((p) => p.y + 70));
  const svg = svgEl("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    height,
    role: "img",
    "aria-label": "Task graph",
  });
  const defs = svgEl("defs");
  const marker = svgEl("marker", {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: "10",
    refY: "5",
    markerWidth: "7",
    markerHeight: "7",
    orient: "auto",
  });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }));
  defs.append(marker);
  svg.append(defs);
  for (const task of tasks) {
    for (const parent of task.depends_on.filter((k) => position[k])) {
      const a = position[parent],
        b = position[task.task_key];
      svg.append(
        svgEl("path", {
          class: "edge",
          d: `M${a.x + 170},${a.y + 26} C${a.x + 190},${a.y + 26} ${b.x - 20},${b.y + 26} ${b.x},${b.y + 26}`,
        }),
      );
    }
  }
  for (const task of tasks) {
    const p = position[task.task_key];
    const group = svgEl("g", {
      class: `node ${task.status}${task.task_key === selected ? " selected" : ""}`,
      "data-task": task.task_key,
      "data-status": task.status,
      transform: `translate(${p.x},${p.y})`,
    });
    group.append(svgEl("rect", { width: "170", height: "52" }));
    const name = svgEl("text", { x: "10", y: "21" });
    name.textContent = task.name.length > 24 ? `${task.name.slice(0, 23)}…` : task.name;
    const state = svgEl("text", { x: "10", y: "40", class: "state" });
    state.textContent = `${task.status}${task.tool ? ` · ${task.tool}` : ""}`;
    group.append(name, state);
    group.addEventListener("click", () => onSelect(task.task_key));
    svg.append(group);
  }
  fill(container, el("h2", {}, "Tasks"), svg);
}
