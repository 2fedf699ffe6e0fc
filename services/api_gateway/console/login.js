// Signing in, signing up, and the page for what is not there.
import { api, COOKIE_MODE, go, session, wanted } from "./api.js";
import { el } from "./dom.js";

// Signs in with a password (the refresh token set as the HttpOnly cookie) and goes where the visitor was going.
async function signIn(username, password) {
  const tokens = await api("/auth/login", {
    method: "POST",
    body: { username, password },
    retry: false,
    extraHeaders: COOKIE_MODE,
  });
  session.save({ token: tokens.access_token, apiKey: null });
  go(wanted.take());
}

export function loginPage() {
  const error = el("p", { class: "muted", id: "login-error" });
  const username = el("input", { type: "text", name: "username", autocomplete: "username", required: true });
  const password = el("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const key = el("input", { type: "password", name: "api_key", placeholder: "cos_…" });
  const withPassword = async (event) => {
    event.preventDefault();
    try {
      await signIn(username.value, password.value);
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const withKey = async (event) => {
    event.preventDefault();
    session.save({ apiKey: key.value.trim(), token: null });
    try {
      await api("/auth/me", { retry: false });
      go(wanted.take());
    } catch (e) {
      session.clear();
      error.textContent = e.message;
    }
  };
  return el(
    "div",
    { class: "card", id: "login" },
    el("h1", {}, "Sign in"),
    el(
      "form",
      { onsubmit: withPassword, class: "row" },
      el("label", {}, "Username or email ", username),
      el("label", {}, "Password ", password),
      el("button", { type: "submit", id: "sign-in" }, "Sign in"),
    ),
    el("h2", {}, "Or with an API key"),
    el(
      "form",
      { onsubmit: withKey, class: "row" },
      key,
      el("button", { type: "submit", class: "secondary" }, "Use key"),
    ),
    error,
    el("p", { class: "muted" }, "No account yet? ", el("a", { href: "#/signup", id: "to-sign-up" }, "Create one")),
  );
}

export function signUpPage() {
  const error = el("p", { class: "muted", id: "sign-up-error" });
  const username = el("input", {
    type: "text",
    name: "username",
    autocomplete: "username",
    required: true,
    minlength: "3",
  });
  const email = el("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = el("input", {
    type: "password",
    name: "password",
    autocomplete: "new-password",
    required: true,
    minlength: "8",
  });
  const create = async (event) => {
    event.preventDefault();
    try {
      await api("/auth/register", {
        method: "POST",
        body: { username: username.value, email: email.value, password: password.value },
        retry: false,
      });
      await signIn(username.value, password.value);
    } catch (e) {
      error.textContent = e.status === 403 ? "Sign-up is closed here: ask an administrator for an account." : e.message;
    }
  };
  return el(
    "div",
    { class: "card", id: "sign-up" },
    el("h1", {}, "Create an account"),
    el(
      "form",
      { onsubmit: create, class: "row" },
      el("label", {}, "Username ", username),
      el("label", {}, "Email ", email),
      el("label", {}, "Password (8 or more characters) ", password),
      el("button", { type: "submit", id: "create-account" }, "Create account"),
    ),
    error,
    el("p", { class: "muted" }, "Have an account? ", el("a", { href: "#/login" }, "Sign in")),
  );
}

export function notFoundPage(message = "There is no such page here.") {
  return el(
    "div",
    { class: "card not-found", id: "not-found" },
    el("h1", {}, "Not found"),
    el("p", {}, message),
    el("p", {}, el("a", { href: "#/runs" }, "Back to your runs")),
  );
}
