// The page's small helpers: elements, badges, money and dates, the toast, and what the current page must stop
// before another is drawn.

let leaving = () => {};
export function onLeave(stop) {
  leaving = stop;
}
export function leave() {
  leaving();
  leaving = () => {};
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false)
      node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...nodes(children));
  return node;
}
// Children as nodes: arrays flattened, null and undefined left out, anything else as text (never parsed as HTML).
export const nodes = (children) =>
  children
    .flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
export const fill = (node, ...children) => node.replaceChildren(...nodes(children));
export const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
};
export const badge = (status) => el("span", { class: `badge s-${status}`, "data-status": status }, status);
export const VERIFICATION = {
  tested: "Code the run wrote was executed and its checks passed",
  reviewed: "A critic approved the work, with its reasons",
  unverified: "Nothing checked this result: read it with care",
};
export const verificationBadge = (run) =>
  run.verification
    ? el(
        "span",
        {
          class: `badge v-${run.verification}`,
          "data-verification": run.verification,
          title: VERIFICATION[run.verification] || "",
        },
        run.verification,
      )
    : null;
// Costs for people: dollars and cents, two significant digits below a cent, never "$0.000000" (cognitionos_sdk.formatting).
export function usd(value) {
  if (value === null || value === undefined) return "—";
  const amount = Number(value);
  if (amount === 0) return "$0";
  if (Math.abs(amount) >= 0.01) return `$${amount.toFixed(2)}`;
  if (Math.abs(amount) < 0.0001) return "< $0.0001";
  return `$${amount.toPrecision(2).replace(/0+$/, "")}`;
}
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export function toast(message, error = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = error ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}
// Runs a page's action: its error, or `done` when it worked, in the toast.
export async function attempt(action, done) {
  try {
    await action();
    if (done) toast(done);
  } catch (e) {
    toast(e.message, true);
  }
}
