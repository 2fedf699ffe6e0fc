// CognitionOS console: plain ES modules, no build step, nothing loaded from elsewhere.
// Signs in with the same tokens or API keys as the API, sent as headers. The short-lived access token lives in this
// tab's sessionStorage; the refresh token is an HttpOnly, SameSite=Strict cookie on /api/v1/auth that no script can
// read and that the server honours only with the X-Refresh-Cookie header, so a new tab signs itself in and another
// site has nothing to ride on. Talks only to /api/v1 and /health.

const main = document.getElementById("main");
const COOKIE_MODE = { "X-Refresh-Cookie": "true" };
const session = {
  get token() { return sessionStorage.getItem("cos.token"); },
  get apiKey() { return sessionStorage.getItem("cos.apiKey"); },
  me: null,
  save(values) { for (const [k, v] of Object.entries(values)) v ? sessionStorage.setItem(`cos.${k}`, v) : sessionStorage.removeItem(`cos.${k}`); },
  clear() { ["token", "apiKey"].forEach((k) => sessionStorage.removeItem(`cos.${k}`)); this.me = null; },
  signedIn() { return Boolean(this.token || this.apiKey); },
};
let leaving = () => {}; // what the current page must stop (a live stream) before another is drawn

// --- small helpers ----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...nodes(children));
  return node;
}
// Children as nodes: arrays flattened, null and undefined left out, anything else as text (never parsed as HTML).
const nodes = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
  .map((c) => (c instanceof Node ? c : String(c)));
const fill = (node, ...children) => node.replaceChildren(...nodes(children));
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
};
const badge = (status) => el("span", { class: `badge s-${status}`, "data-status": status }, status);
const VERIFICATION = {
  tested: "Code the run wrote was executed and its checks passed",
  reviewed: "A critic approved the work, with its reasons",
  unverified: "Nothing checked this result: read it with care",
};
const verificationBadge = (run) => run.verification
  ? el("span", { class: `badge v-${run.verification}`, "data-verification": run.verification, title: VERIFICATION[run.verification] || "" }, run.verification)
  : null;
// Costs for people: dollars and cents, two significant digits below a cent, never "$0.000000" (cognitionos_sdk.formatting).
function usd(value) {
  if (value === null || value === undefined) return "—";
  const amount = Number(value);
  if (amount === 0) return "$0";
  if (Math.abs(amount) >= 0.01) return `$${amount.toFixed(2)}`;
  if (Math.abs(amount) < 0.0001) return "< $0.0001";
  return `$${amount.toPrecision(2).replace(/0+$/, "")}`;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
function toast(message, error = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = error ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

// --- the API ----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, envelope) {
    super(envelope?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = envelope?.error?.code;
  }
}

function authHeaders() {
  if (session.apiKey) return { "X-API-Key": session.apiKey };
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

async function api(path, { method = "GET", body, retry = true, extraHeaders = {} } = {}) {
  const headers = { ...authHeaders(), ...extraHeaders, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  const sent = session.token;
  const response = await fetch(path.startsWith("/health") ? path : `/api/v1${path}`, {
    method, headers, body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  // Refused with an expired token: another call may have renewed it meanwhile; else renew it (once for all).
  if (response.status === 401 && retry && sent && (session.token !== sent || (await refreshTokens()))) {
    return api(path, { method, body, retry: false, extraHeaders });
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && retry) { wanted.keep(); signOut(); } // a session that ended; sign-in attempts say why instead
    throw new ApiError(response.status, data);
  }
  return data;
}

// A new access token from the refresh cookie (rotated as it is used): how a session outlives its access token and
// how a new tab signs itself in. One refresh at a time, in this tab (a page's parallel calls all meet an expired
// token at once) and across tabs (a Web Lock): the server takes a refresh token presented twice for a stolen one and
// ends the whole session.
let refreshing = null;
function refreshTokens() {
  refreshing ??= (navigator.locks ? navigator.locks.request("cos-refresh", rotate) : rotate())
    .finally(() => { refreshing = null; });
  return refreshing;
}
async function rotate() {
  const response = await fetch("/api/v1/auth/refresh", { method: "POST", headers: COOKIE_MODE });
  if (!response.ok) return false;
  const tokens = await response.json();
  session.save({ token: tokens.access_token, apiKey: null });
  return true;
}

// The server-sent events of a response body: (name, data) to onEvent, until the body ends.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

// Server-sent events over fetch, so the Authorization header goes with them (EventSource cannot send it).
async function streamEvents(path, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { ...authHeaders(), Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) };
      const response = await fetch(`/api/v1${path}`, { headers, signal });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      let ended = false;
      await readEvents(response, (name, data) => {
        if (ended) return;
        if (data.event_type === "end" || name === "end") { ended = true; return; }
        if (data.id !== undefined) lastId = String(data.id);
        onEvent(data);
      });
      if (ended) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// --- sign in ----------------------------------------------------------------------------------------

function signOut() {
  if (session.token) fetch("/api/v1/auth/logout", { method: "POST", headers: { ...authHeaders(), ...COOKIE_MODE } }).catch(() => {});
  session.clear();
  location.hash = "#/login";
}

// Where a signed-out visitor was going: taken there once signed in.
const wanted = {
  keep() { if (!/^#\/(login)?$/.test(location.hash) && location.hash) sessionStorage.setItem("cos.next", location.hash); },
  take() { const next = sessionStorage.getItem("cos.next") || "#/runs"; sessionStorage.removeItem("cos.next"); return next; },
};
// To a page, drawn even when the address already says so (the sign-in form is shown at any address).
function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function loginPage() {
  const error = el("p", { class: "muted", id: "login-error" });
  const username = el("input", { type: "text", name: "username", autocomplete: "username", required: true });
  const password = el("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const key = el("input", { type: "password", name: "api_key", placeholder: "cos_…" });
  const withPassword = async (event) => {
    event.preventDefault();
    try {
      const tokens = await api("/auth/login", { method: "POST", body: { username: username.value, password: password.value }, retry: false, extraHeaders: COOKIE_MODE });
      session.save({ token: tokens.access_token, apiKey: null });
      go(wanted.take());
    } catch (e) { error.textContent = e.message; }
  };
  const withKey = async (event) => {
    event.preventDefault();
    session.save({ apiKey: key.value.trim(), token: null });
    try { await api("/auth/me", { retry: false }); go(wanted.take()); } catch (e) { session.clear(); error.textContent = e.message; }
  };
  return el("div", { class: "card", id: "login" },
    el("h1", {}, "Sign in"),
    el("form", { onsubmit: withPassword, class: "row" },
      el("label", {}, "Username or email ", username), el("label", {}, "Password ", password),
      el("button", { type: "submit", id: "sign-in" }, "Sign in")),
    el("h2", {}, "Or with an API key"),
    el("form", { onsubmit: withKey, class: "row" }, key, el("button", { type: "submit", class: "secondary" }, "Use key")),
    error,
    el("p", { class: "muted" }, "No account yet? ", el("a", { href: "#/signup", id: "to-sign-up" }, "Create one")));
}

function signUpPage() {
  const error = el("p", { class: "muted", id: "sign-up-error" });
  const username = el("input", { type: "text", name: "username", autocomplete: "username", required: true, minlength: "3" });
  const email = el("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = el("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const create = async (event) => {
    event.preventDefault();
    try {
      await api("/auth/register", { method: "POST", body: { username: username.value, email: email.value, password: password.value }, retry: false });
      const tokens = await api("/auth/login", { method: "POST", body: { username: username.value, password: password.value }, retry: false, extraHeaders: COOKIE_MODE });
      session.save({ token: tokens.access_token, apiKey: null });
      go(wanted.take());
    } catch (e) { error.textContent = e.status === 403 ? "Sign-up is closed here: ask an administrator for an account." : e.message; }
  };
  return el("div", { class: "card", id: "sign-up" },
    el("h1", {}, "Create an account"),
    el("form", { onsubmit: create, class: "row" },
      el("label", {}, "Username ", username), el("label", {}, "Email ", email), el("label", {}, "Password (8 or more characters) ", password),
      el("button", { type: "submit", id: "create-account" }, "Create account")),
    error,
    el("p", { class: "muted" }, "Have an account? ", el("a", { href: "#/login" }, "Sign in")));
}

function notFoundPage(message = "There is no such page here.") {
  return el("div", { class: "card not-found", id: "not-found" }, el("h1", {}, "Not found"), el("p", {}, message),
    el("p", {}, el("a", { href: "#/runs" }, "Back to your runs")));
}

// --- runs -------------------------------------------------------------------------------------------

async function runsPage() {
  const goal = el("textarea", { name: "goal", placeholder: "What should the agents do?", required: true });
  const start = async (event) => {
    event.preventDefault();
    try {
      const run = await api("/runs", { method: "POST", body: { goal: goal.value } });
      location.hash = `#/runs/${run.id}`;
    } catch (e) { toast(e.message, true); }
  };
  const runs = (await api("/runs")).items;
  return el("div", {},
    el("h1", {}, "Runs"),
    el("form", { class: "card", onsubmit: start, id: "start-run" }, el("label", {}, "Goal", goal),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Start run"))),
    el("div", { class: "card" },
      runs.length === 0 ? el("p", { class: "muted" }, "No runs yet.") :
      el("table", { id: "runs" },
        el("tr", {}, el("th", {}, "Goal"), el("th", {}, "Status"), el("th", {}, "Cost"), el("th", {}, "Started")),
        runs.map((run) => el("tr", {},
          el("td", {}, el("a", { href: `#/runs/${run.id}` }, run.goal.slice(0, 120))),
          el("td", {}, badge(run.status), " ", verificationBadge(run)), el("td", {}, usd(run.spent_usd)), el("td", {}, when(run.created_at)))))));
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
// How long a task took (so far, while it runs): " · 3.2 s".
const took = (task) => task.started_at
  ? ` · ${((new Date(task.finished_at || Date.now()) - new Date(task.started_at)) / 1000).toFixed(1)} s`
  : "";

async function runPage(runId) {
  let run = await api(`/runs/${runId}`);
  const events = [];
  let selected = null;
  const header = el("div", { class: "card" });
  const graph = el("div", { class: "card", id: "dag" });
  const detail = el("div", { class: "card", id: "task-detail" });
  const timeline = el("ul", { class: "timeline", id: "timeline" });
  const result = el("div", { class: "card", id: "result" });
  const modelLine = el("p", { class: "muted", id: "model-progress" });

  const drawHeader = () => fill(header,
    el("div", { class: "row" }, el("h1", {}, run.goal), badge(run.status), verificationBadge(run)),
    el("p", { class: "muted" }, `Run ${run.id} · started ${when(run.created_at)} · total cost `,
      el("strong", { id: "run-cost" }, usd(run.spent_usd)), run.budget_usd ? ` of ${usd(run.budget_usd)}` : ""),
    TERMINAL.has(run.status) ? null : modelLine,
    TERMINAL.has(run.status) ? null : el("button", { class: "danger", id: "cancel-run", onclick: cancel }, "Cancel run"));
  const drawResult = () => {
    const summary = run.result?.summary;
    fill(result, el("h2", {}, "Result"),
      run.error ? el("p", { class: "s-failed badge" }, run.error) : null,
      summary ? el("p", { id: "run-summary" }, summary) : el("p", { class: "muted" }, TERMINAL.has(run.status) ? "No summary." : "Still running…"));
  };
  const drawDetail = () => {
    const task = run.tasks.find((t) => t.task_key === selected);
    if (!task) { fill(detail, el("p", { class: "muted" }, "Select a task in the graph to see its steps.")); return; }
    const own = events.filter((e) => e.task_id === task.id);
    fill(detail,
      el("div", { class: "row" }, el("h2", {}, task.name), badge(task.status), el("span", { class: "muted", id: "task-facts" }, `${task.agent_role}${task.tool ? ` · ${task.tool}` : ""} · attempt ${task.attempts}/${task.max_attempts}${took(task)}`)),
      el("p", {}, task.description || ""),
      own.map(stepView),
      task.output ? el("details", {}, el("summary", {}, "Output"), el("pre", {}, JSON.stringify(task.output, null, 2))) : null,
      task.error ? el("pre", { class: "s-failed" }, task.error) : null);
  };
  const redraw = () => { drawHeader(); drawGraph(graph, run, selected, (key) => { selected = key; redraw(); }); drawDetail(); drawResult(); };
  const addEvent = (event) => {
    events.push(event);
    timeline.append(el("li", {}, el("span", { class: "when" }, new Date(event.created_at).toLocaleTimeString()),
      el("span", { class: "mono" }, event.event_type), " ", event.message || "", event.cost_usd ? el("span", { class: "muted" }, ` (${usd(event.cost_usd)})`) : ""));
  };
  let refreshing = null;
  const refresh = () => {
    refreshing ??= setTimeout(async () => {
      refreshing = null;
      run = await api(`/runs/${runId}`).catch(() => run);
      redraw();
    }, 150);
  };
  async function cancel() {
    if (!confirm("Cancel this run? Its unfinished tasks stop.")) return;
    try { run = await api(`/runs/${runId}/cancel`, { method: "POST" }); redraw(); } catch (e) { toast(e.message, true); }
  }

  const controller = new AbortController();
  leaving = () => controller.abort();
  const onEvent = (event) => {
    if (event.event_type === "progress") { modelLine.textContent = describeProgress(event); return; }
    modelLine.textContent = "";
    addEvent(event);
    refresh();
  };
  streamEvents(`/runs/${runId}/events`, onEvent, controller.signal)
    .then(refresh).catch((e) => toast(e.message, true));
  redraw();
  return el("div", {}, header, graph, el("div", { class: "grid" }, detail,
    el("div", { class: "card" }, el("h2", {}, "Timeline"), timeline)), result);
}

// Where the run's call to the embedded model stands (a progress event, between real events).
function describeProgress(progress) {
  const who = progress.role || "the run";
  if (progress.state === "waiting") return `${who}: waiting for the model${progress.ahead ? `, ${progress.ahead} ahead` : ""}`;
  return `${who}: the model is writing, ${progress.tokens || 0} tokens so far`;
}

function stepView(event) {
  const d = event.data || {};
  if (event.event_type === "llm_call") {
    const line = el("p", { class: "step" }, "LLM ", el("strong", {}, d.model), ` · ${d.tokens ?? "?"} tokens · ${usd(event.cost_usd)} · ${Math.round(d.latency_ms || 0)} ms${d.cached ? " · cached" : ""}`);
    if (d.prompt === undefined) return line; // the server keeps no prompts (STORE_LLM_TEXT=false)
    return el("div", { class: "step" }, line, el("details", { class: "llm-text" }, el("summary", {}, `Prompt and answer${d.prompt_version ? ` (${d.prompt_version})` : ""}`),
      d.agent_system_prompt ? [el("h3", {}, "Agent's system prompt"), el("pre", {}, d.agent_system_prompt)] : null,
      el("h3", {}, "Prompt"), el("pre", { class: "llm-prompt" }, d.prompt),
      el("h3", {}, "Answer"), el("pre", { class: "llm-completion" }, d.completion)));
  }
  if (event.event_type === "tool_call") {
    return el("div", { class: "step" }, el("p", {}, "Tool ", el("strong", {}, d.tool), " ", badge(d.status), ` · ${Math.round(d.duration_ms || 0)} ms`),
      d.result?.stdout ? el("pre", { class: "sandbox-output" }, d.result.stdout) : null,
      d.result?.stderr ? el("pre", {}, d.result.stderr) : null);
  }
  if (event.event_type === "critic_verdict") {
    return el("p", { class: "step" }, "Critic: ", el("strong", {}, event.message), d.feedback ? ` — ${d.feedback}` : "");
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
    const parents = task.depends_on.filter((k) => keys.has(k)).map((k) => depthOf(tasks.find((t) => t.task_key === k), seen));
    return (depth[task.task_key] = parents.length ? Math.max(...parents) + 1 : 0);
  };
  tasks.forEach((t) => depthOf(t));
  const columns = {};
  const position = {};
  for (const task of tasks) {
    const column = (columns[depth[task.task_key]] ??= []);
    position[task.task_key] = { x: 20 + depth[task.task_key] * 210, y: 20 + column.length * 72 };
    column.push(task);
  }
  const width = Math.max(400, ...Object.values(position).map((p) => p.x + 190));
  const height = Math.max(100, ...Object.values(position).map((p) => p.y + 70));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img", "aria-label": "Task graph" });
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }));
  defs.append(marker);
  svg.append(defs);
  for (const task of tasks) {
    for (const parent of task.depends_on.filter((k) => position[k])) {
      const a = position[parent], b = position[task.task_key];
      svg.append(svgEl("path", { class: "edge", d: `M${a.x + 170},${a.y + 26} C${a.x + 190},${a.y + 26} ${b.x - 20},${b.y + 26} ${b.x},${b.y + 26}` }));
    }
  }
  for (const task of tasks) {
    const p = position[task.task_key];
    const group = svgEl("g", { class: `node ${task.status}${task.task_key === selected ? " selected" : ""}`, "data-task": task.task_key, "data-status": task.status, transform: `translate(${p.x},${p.y})` });
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

// --- conversations ----------------------------------------------------------------------------------

async function chatPage(conversationId) {
  const conversations = await api("/conversations?limit=50");
  const list = el("ul", { class: "timeline", id: "conversations" }, conversations.items.map((c) =>
    el("li", {}, el("a", { href: `#/chat/${c.id}` }, c.title || "(untitled)"), el("span", { class: "muted" }, ` · ${when(c.created_at)}`))));
  const startNew = async () => {
    try { const made = await api("/conversations", { method: "POST", body: {} }); location.hash = `#/chat/${made.id}`; } catch (e) { toast(e.message, true); }
  };
  const side = el("div", { class: "card" }, el("div", { class: "row" }, el("h2", {}, "Conversations"),
    el("button", { id: "new-conversation", onclick: startNew }, "New")), list);
  if (!conversationId) return el("div", {}, el("h1", {}, "Chat"), side);

  const conversation = await api(`/conversations/${conversationId}`);
  const log = el("div", { id: "chat-log" });
  const bubble = (m) => el("div", { class: `card bubble ${m.role}`, "data-role": m.role },
    el("div", { class: "muted" }, m.role === "tool" ? "tool result" : m.role, m.cost_usd ? ` · ${usd(m.cost_usd)}` : "",
      m.metadata?.kind === "run_result" ? " · run result" : ""),
    m.tool_calls ? m.tool_calls.map((c) => el("pre", { class: "tool-call" }, `${c.function.name}(${c.function.arguments})`)) : null,
    m.content ? (m.role === "tool" ? el("pre", {}, m.content) : el("p", { class: "content" }, m.content)) : null);
  const history = await api(`/conversations/${conversationId}/messages?limit=200`);
  history.items.forEach((m) => log.append(bubble(m)));
  const input = el("textarea", { name: "message", placeholder: "Say something", required: true });
  const send = async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    let live = null;
    const response = await fetch(`/api/v1/conversations/${conversationId}/messages`, {
      method: "POST", headers: { ...authHeaders(), "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ content, stream: true }) });
    if (!response.ok) { toast((await response.json().catch(() => null))?.error?.message || `HTTP ${response.status}`, true); return; }
    await readEvents(response, (name, data) => {
      if (name === "message" || name === "tool_result" || name === "run_result") {
        if (data.role === "assistant" && live) { live.replaceWith(bubble(data)); live = null; } else log.append(bubble(data));
      } else if (name === "delta") {
        if (!live) { live = bubble({ role: "assistant", content: "" }); log.append(live); }
        const text = live.querySelector(".content");
        if (text) text.append(data.content); else live.append(el("p", { class: "content" }, data.content));
      } else if (name === "tool_call") {
        log.append(el("div", { class: "card bubble assistant" }, el("pre", { class: "tool-call" }, `${data.name}(${data.arguments})`)));
      } else if (name === "done") {
        log.append(el("p", { class: "muted", id: "turn-cost" }, `${data.usage.prompt_tokens + data.usage.completion_tokens} tokens · ${usd(data.usage.cost_usd)}`));
      } else if (name === "error") {
        toast(data.error.message, true);
      }
    });
  };
  return el("div", { class: "grid chat" }, side, el("div", {},
    el("div", { class: "card" }, el("h1", {}, conversation.title || "New conversation")), log,
    el("form", { class: "card", id: "chat-form", onsubmit: send }, input, el("div", { class: "row" }, el("button", { type: "submit" }, "Send")))));
}

// --- memory -----------------------------------------------------------------------------------------

const MEMORY_TYPES = ["", "fact", "preference", "episodic", "semantic", "long_term", "short_term", "working", "pattern", "skill"];
const SCOPES = ["", "user", "global", "task", "session"];

async function memoryPage() {
  const query = el("input", { type: "text", name: "query", placeholder: "Search your memories" });
  const mode = el("select", { name: "mode" }, el("option", { value: "semantic" }, "semantic"), el("option", { value: "hybrid" }, "hybrid"));
  const type = el("select", { name: "memory_type" }, MEMORY_TYPES.map((t) => el("option", { value: t }, t || "any type")));
  const scope = el("select", { name: "scope" }, SCOPES.map((s) => el("option", { value: s }, s || "any scope")));
  const results = el("div", { class: "card", id: "memories" });
  const show = (memories) => fill(results, memories.length === 0 ? el("p", { class: "muted" }, "Nothing found.") :
    el("table", {}, el("tr", {}, el("th", {}, "Memory"), el("th", {}, "Type"), el("th", {}, "Scope"), el("th", {}, "Score"), el("th", {}, "")),
      memories.map((m) => el("tr", { "data-memory": m.id },
        el("td", {}, el("details", {}, el("summary", {}, m.content.slice(0, 140)), el("pre", {}, m.content),
          el("p", { class: "muted" }, `created ${when(m.created_at)} · source ${m.source || "—"} · confidence ${m.confidence}`))),
        el("td", {}, m.memory_type), el("td", {}, m.scope), el("td", {}, m.score !== undefined ? m.score.toFixed(3) : "—"),
        el("td", {}, el("button", { class: "danger", onclick: () => remove(m.id) }, "Delete"))))));
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
      const found = await api("/memories/retrieve", { method: "POST", body: {
        query: query.value, k: 20, hybrid: mode.value === "hybrid",
        memory_types: type.value ? [type.value] : null, scopes: scope.value ? [scope.value] : null } });
      show(found.map((m) => ({ ...m, score: m.relevance_score })));
    } catch (e) { toast(e.message, true); }
  };
  async function remove(id) {
    if (!confirm("Delete this memory? It cannot be brought back.")) return;
    try { await api(`/memories/${id}`, { method: "DELETE" }); toast("Memory deleted"); await search(); } catch (e) { toast(e.message, true); }
  }
  await search();
  return el("div", {}, el("h1", {}, "Memory"),
    el("form", { class: "card row", onsubmit: search, id: "memory-search" }, query, mode, type, scope, el("button", { type: "submit" }, "Search")),
    results);
}

// --- spend ------------------------------------------------------------------------------------------

function barChart(rows, label) {
  const max = Math.max(...rows.map((r) => r.cost_usd), 1e-9);
  const height = 24 * rows.length + 10;
  const svg = svgEl("svg", { class: "bars", viewBox: `0 0 600 ${height}`, width: "100%", height, role: "img", "aria-label": label });
  rows.forEach((row, i) => {
    const name = svgEl("text", { x: "0", y: String(i * 24 + 16) });
    name.textContent = row.key;
    const bar = svgEl("rect", { x: "170", y: String(i * 24 + 4), height: "16", width: String(Math.max(2, (row.cost_usd / max) * 320)) });
    const value = svgEl("text", { x: String(180 + Math.max(2, (row.cost_usd / max) * 320)), y: String(i * 24 + 16) });
    value.textContent = `${usd(row.cost_usd)} · ${row.calls} calls`;
    svg.append(name, bar, value);
  });
  return rows.length ? svg : el("p", { class: "muted" }, "No LLM calls yet.");
}

async function spendPage() {
  const [byDay, byModel, budget] = await Promise.all([api("/ai/spend?group_by=day"), api("/ai/spend?group_by=model"), api("/ai/budget")]);
  const page = el("div", {}, el("h1", {}, "Spend"),
    el("div", { class: "grid" },
      el("div", { class: "card", id: "spend-by-day" }, el("h2", {}, "Per day"), barChart([...byDay.rows].sort((a, b) => a.key.localeCompare(b.key)), "Spend per day")),
      el("div", { class: "card", id: "spend-by-model" }, el("h2", {}, "Per model"), barChart(byModel.rows, "Spend per model"))),
    el("div", { class: "card", id: "budget" }, el("h2", {}, "Your budget"), budget ? el("table", {},
      el("tr", {}, el("th", {}, "Period"), el("th", {}, "Limit"), el("th", {}, "Spent"), el("th", {}, "Left")),
      budget.usage.map((u) => el("tr", {}, el("td", {}, u.period), el("td", {}, u.limit_usd === null ? "none" : usd(u.limit_usd)),
        el("td", {}, usd(u.spent_usd)), el("td", {}, u.limit_usd === null ? "—" : usd(Math.max(0, u.limit_usd - u.spent_usd - u.reserved_usd))))))
      : el("p", { class: "muted" }, "No budget is set for you.")));
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
    try { await api(`/ai/admin/budgets/user/${encodeURIComponent(user.value.trim())}`, { method: "PUT", body }); toast("Budget saved"); } catch (e) { toast(e.message, true); }
  };
  return el("div", { class: "card", id: "admin-spend" }, el("h2", {}, "Every user (admin)"), barChart(byUser.rows, "Spend per user"),
    el("h2", {}, "Set a user's budget"),
    el("form", { class: "row", onsubmit: setBudget }, user, daily, monthly, el("button", { type: "submit" }, "Save budget")));
}

// --- API keys ---------------------------------------------------------------------------------------

// What a key may do, in words: "$5 cap · 60/min · gpt-4o-mini" or "no limits".
function keyLimits(key) {
  const parts = [];
  if (key.max_budget_usd !== null && key.max_budget_usd !== undefined) parts.push(`${usd(key.max_budget_usd)} cap`);
  if (key.rpm_limit) parts.push(`${key.rpm_limit} requests/min`);
  if (key.tpm_limit) parts.push(`${key.tpm_limit} tokens/min`);
  if (key.allowed_models?.length) parts.push(key.allowed_models.join(", "));
  return parts.length ? parts.join(" · ") : "no limits";
}

async function keysPage() {
  const name = el("input", { type: "text", name: "name", placeholder: "key name", required: true });
  const days = el("input", { type: "number", name: "expires_in_days", placeholder: "expires in days", min: "1" });
  const budget = el("input", { type: "number", name: "max_budget_usd", placeholder: "spend cap, USD", min: "0", step: "any" });
  const rpm = el("input", { type: "number", name: "rpm_limit", placeholder: "requests / minute", min: "1" });
  const tpm = el("input", { type: "number", name: "tpm_limit", placeholder: "LLM tokens / minute", min: "1" });
  const models = el("input", { type: "text", name: "allowed_models", placeholder: "models it may use, comma-separated (any if empty)" });
  const number = (input) => (input.value ? Number(input.value) : null);
  const created = el("div", { id: "created-key" });
  const list = el("div", { class: "card", id: "keys" });
  const load = async () => {
    const keys = (await api("/auth/api-keys?limit=200")).items;
    fill(list, keys.length === 0 ? el("p", { class: "muted" }, "No API keys.") : el("table", {},
      el("tr", {}, el("th", {}, "Name"), el("th", {}, "Prefix"), el("th", {}, "Limits"), el("th", {}, "Created"), el("th", {}, "Expires"), el("th", {}, "Last used"), el("th", {}, "")),
      keys.map((k) => el("tr", { "data-key": k.name },
        el("td", {}, k.name), el("td", { class: "mono" }, k.prefix), el("td", { class: "limits" }, keyLimits(k)),
        el("td", {}, when(k.created_at)), el("td", {}, when(k.expires_at)),
        el("td", {}, when(k.last_used_at)),
        el("td", {}, k.revoked_at ? badge("revoked") : el("button", { class: "danger", onclick: () => revoke(k.id) }, "Revoke"))))));
  };
  const create = async (event) => {
    event.preventDefault();
    try {
      const allowed = models.value.split(",").map((m) => m.trim()).filter(Boolean);
      const key = await api("/auth/api-keys", { method: "POST", body: {
        name: name.value, expires_in_days: number(days), max_budget_usd: budget.value || null, rpm_limit: number(rpm),
        tpm_limit: number(tpm), allowed_models: allowed.length ? allowed : null } });
      fill(created, el("div", { class: "secret" }, el("p", {}, "Copy this key now: it is shown once."), el("code", { id: "new-key" }, key.key)));
      [name, days, budget, rpm, tpm, models].forEach((input) => { input.value = ""; });
      await load();
    } catch (e) { toast(e.message, true); }
  };
  async function revoke(id) {
    if (!confirm("Revoke this key? Anything using it stops working at once.")) return;
    try { await api(`/auth/api-keys/${id}`, { method: "DELETE" }); toast("Key revoked"); await load(); } catch (e) { toast(e.message, true); }
  }
  await load();
  return el("div", {}, el("h1", {}, "API keys"),
    el("form", { class: "card row", onsubmit: create, id: "create-key" }, name, days, budget, rpm, tpm, models,
      el("button", { type: "submit" }, "Create key"), created),
    list);
}

// --- health -----------------------------------------------------------------------------------------

async function healthPage() {
  const [health, models] = await Promise.all([api("/health"), api("/ai/models").catch(() => null)]);
  return el("div", {}, el("div", { class: "row" }, el("h1", {}, "Health"), badge(health.status)),
    el("div", { class: "card", id: "services" }, el("table", {},
      el("tr", {}, el("th", {}, "Service"), el("th", {}, "Status"), el("th", {}, "Circuit"), el("th", {}, "Latency"), el("th", {}, "Note")),
      Object.entries(health.services).map(([name, s]) => el("tr", { "data-service": name },
        el("td", {}, name), el("td", {}, badge(s.status)), el("td", {}, badge(s.circuit)),
        el("td", {}, s.latency_ms === null || s.latency_ms === undefined ? "—" : `${s.latency_ms} ms`), el("td", { class: "muted" }, s.error || ""))))),
    models ? el("div", { class: "card", id: "providers" }, el("h2", {}, "Providers"), el("table", {},
      Object.entries(models.providers).map(([name, state]) => el("tr", {}, el("td", {}, name), el("td", {}, badge(state)))))) : null);
}

// --- routing ----------------------------------------------------------------------------------------

const PAGES = { runs: runsPage, chat: chatPage, memory: memoryPage, spend: spendPage, keys: keysPage, health: healthPage };
const SIGNED_OUT_PAGES = { login: loginPage, signup: signUpPage };

let resumed = false; // this tab asked once whether the refresh cookie still holds a session
async function route() {
  leaving();
  leaving = () => {};
  if (!resumed) {
    resumed = true;
    if (!session.signedIn()) await refreshTokens();
  }
  const [, requested, id] = location.hash.replace(/^#/, "").split("/");
  const page = requested || "runs";
  const signedIn = session.signedIn();
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  if (!signedIn || page in SIGNED_OUT_PAGES) {
    if (!signedIn && !(page in SIGNED_OUT_PAGES)) wanted.keep();
    document.getElementById("who").textContent = "";
    fill(main, (SIGNED_OUT_PAGES[page] || loginPage)());
    return;
  }
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.getAttribute("href") === `#/${page}`);
  try {
    session.me ??= await api("/auth/me");
    document.getElementById("who").textContent = `${session.me.username} (${session.me.role})`;
    if (!(page in PAGES)) { fill(main, notFoundPage()); return; }
    const view = page === "runs" && id ? await runPage(id) : await PAGES[page](id);
    fill(main, view);
  } catch (e) {
    if (!session.signedIn()) return;
    if (e.status === 404 || e.status === 422) fill(main, notFoundPage(e.status === 404 ? e.message : "There is no such item here."));
    else fill(main, el("div", { class: "card" }, el("h1", {}, "Something went wrong"), el("p", {}, e.message)));
  }
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
