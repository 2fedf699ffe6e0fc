// CognitionOS console: native ES modules, no build step, nothing loaded from elsewhere. This module routes:
// each page is a module of its own; dom.js, api.js and sse.js are what they share.
import { api, refreshTokens, session, signOut, wanted } from "./api.js";
import { approvalsPage } from "./approvals.js";
import { auditPage } from "./audit.js";
import { schedulesPage, templatesPage, webhooksPage } from "./automation.js";
import { chatPage } from "./chat.js";
import { el, fill, leave } from "./dom.js";
import { healthPage } from "./health.js";
import { keysPage } from "./keys.js";
import { loginPage, notFoundPage, signUpPage } from "./login.js";
import { memoryPage } from "./memory.js";
import { runPage, runsPage } from "./runs.js";
import { spendPage } from "./spend.js";
import { teamsPage } from "./teams.js";

const main = document.getElementById("main");

// --- routing ----------------------------------------------------------------------------------------

const PAGES = {
  runs: runsPage,
  approvals: approvalsPage,
  chat: chatPage,
  templates: templatesPage,
  schedules: schedulesPage,
  webhooks: webhooksPage,
  memory: memoryPage,
  spend: spendPage,
  keys: keysPage,
  teams: teamsPage,
  audit: auditPage,
  health: healthPage,
};
const SIGNED_OUT_PAGES = { login: loginPage, signup: signUpPage };

let resumed = false; // this tab asked once whether the refresh cookie still holds a session
async function route() {
  leave();
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
  const section = page === "templates" || page === "webhooks" ? "schedules" : page; // one nav entry: Automation
  for (const link of document.querySelectorAll("nav a"))
    link.classList.toggle("active", link.getAttribute("href") === `#/${section}`);
  try {
    session.me ??= await api("/auth/me");
    document.getElementById("who").textContent = `${session.me.username} (${session.me.role})`;
    document.getElementById("nav-audit").hidden = session.me.role !== "admin";
    if (!(page in PAGES)) {
      fill(main, notFoundPage());
      return;
    }
    const view = page === "runs" && id ? await runPage(id) : await PAGES[page](id);
    fill(main, view);
  } catch (e) {
    if (!session.signedIn()) return;
    if (e.status === 404 || e.status === 422)
      fill(main, notFoundPage(e.status === 404 ? e.message : "There is no such item here."));
    else fill(main, el("div", { class: "card" }, el("h1", {}, "Something went wrong"), el("p", {}, e.message)));
  }
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
