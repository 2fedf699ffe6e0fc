// The API: the session (a short-lived access token in this tab, the refresh token an HttpOnly cookie), calls with
// their errors, a single-flight refresh, and where a signed-out visitor was going.

export const COOKIE_MODE = { "X-Refresh-Cookie": "true" };
export const session = {
  get token() {
    return sessionStorage.getItem("cos.token");
  },
  get apiKey() {
    return sessionStorage.getItem("cos.apiKey");
  },
  me: null,
  save(values) {
    for (const [k, v] of Object.entries(values))
      v ? sessionStorage.setItem(`cos.${k}`, v) : sessionStorage.removeItem(`cos.${k}`);
  },
  clear() {
    for (const k of ["token", "apiKey"]) sessionStorage.removeItem(`cos.${k}`);
    this.me = null;
  },
  signedIn() {
    return Boolean(this.token || this.apiKey);
  },
};

// --- the API ----------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, envelope) {
    super(envelope?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = envelope?.error?.code;
  }
}

export function authHeaders() {
  if (session.apiKey) return { "X-API-Key": session.apiKey };
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

export async function api(path, { method = "GET", body, retry = true, extraHeaders = {} } = {}) {
  const headers = {
    ...authHeaders(),
    ...extraHeaders,
    ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
  };
  const sent = session.token;
  const response = await fetch(path.startsWith("/health") ? path : `/api/v1${path}`, {
    method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  // Refused with an expired token: another call may have renewed it meanwhile; else renew it (once for all).
  if (response.status === 401 && retry && sent && (session.token !== sent || (await refreshTokens()))) {
    return api(path, { method, body, retry: false, extraHeaders });
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && retry) {
      wanted.keep();
      signOut();
    } // a session that ended; sign-in attempts say why instead
    throw new ApiError(response.status, data);
  }
  return data;
}

// A new access token from the refresh cookie (rotated as it is used): how a session outlives its access token and
// how a new tab signs itself in. One refresh at a time, in this tab (a page's parallel calls all meet an expired
// token at once) and across tabs (a Web Lock): the server takes a refresh token presented twice for a stolen one and
// ends the whole session.
let refreshing = null;
export function refreshTokens() {
  refreshing ??= (navigator.locks ? navigator.locks.request("cos-refresh", rotate) : rotate()).finally(() => {
    refreshing = null;
  });
  return refreshing;
}
async function rotate() {
  const response = await fetch("/api/v1/auth/refresh", { method: "POST", headers: COOKIE_MODE });
  if (!response.ok) return false;
  const tokens = await response.json();
  session.save({ token: tokens.access_token, apiKey: null });
  return true;
}

export function signOut() {
  if (session.token)
    fetch("/api/v1/auth/logout", { method: "POST", headers: { ...authHeaders(), ...COOKIE_MODE } }).catch(() => {});
  session.clear();
  location.hash = "#/login";
}

// Where a signed-out visitor was going: taken there once signed in.
export const wanted = {
  keep() {
    if (!/^#\/(login)?$/.test(location.hash) && location.hash) sessionStorage.setItem("cos.next", location.hash);
  },
  take() {
    const next = sessionStorage.getItem("cos.next") || "#/runs";
    sessionStorage.removeItem("cos.next");
    return next;
  },
};
// To a page, drawn even when the address already says so (the sign-in form is shown at any address).
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
