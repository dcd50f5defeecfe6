// The console's only way to the server: the public API under /api/v1, with the
// signed-in bearer token. Unwraps the {data, meta} envelope, follows pagination,
// and turns every error into an ApiError carrying the API's code and request id.

const KEY = "shiplane.console.token";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, requestId, details, validationErrors) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details || null;
    this.validationErrors = validationErrors || [];
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

function b64urlDecode(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

// The token's claims, for display and for hiding actions only: the server decides.
export function claims(value = token()) {
  if (!value) return null;
  const parts = value.split(".");
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(b64urlDecode(parts[1]));
    return typeof payload === "object" && payload ? payload : null;
  } catch {
    return null;
  }
}

function url(path, query) {
  const target = new URL(BASE + path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    target.searchParams.set(name, typeof value === "object" ? JSON.stringify(value) : String(value));
  }
  return target;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = (body && body.error) || {};
  const requestId = (body && body.meta && body.meta.requestId) || response.headers.get("x-request-id") || "";
  return new ApiError(
    response.status,
    error.code || `HTTP_${response.status}`,
    error.message || response.statusText || "request failed",
    requestId,
    error.details,
    error.validationErrors,
  );
}

// One call: resolves to {data, meta}; rejects with an ApiError.
export async function call(method, path, { body, query, headers } = {}) {
  const sent = { Accept: "application/json", ...(headers || {}) };
  const bearer = token();
  if (bearer) sent.Authorization = `Bearer ${bearer}`;
  const init = { method, headers: sent, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    sent["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (exc) {
    throw new ApiError(0, "NETWORK_ERROR", `the server could not be reached (${exc.message})`, "");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return { data: null, meta: {} };
  const payload = await response.json();
  return { data: payload.data, meta: payload.meta || {} };
}

export const get = async (path, query) => (await call("GET", path, { query })).data;
export const post = async (path, body, query) => (await call("POST", path, { body, query })).data;
export const put = async (path, body) => (await call("PUT", path, { body })).data;
export const del = async (path) => (await call("DELETE", path)).data;

// Every item of a list, page after page (cursor when the list gives one, else page
// numbers), at most `max` items.
export async function list(path, query = {}, { max = 1000, pageSize = 100 } = {}) {
  const items = [];
  let next = { ...query, pageSize };
  for (;;) {
    const { data, meta } = await call("GET", path, { query: next });
    items.push(...(data || []));
    const page = meta.pagination;
    if (!page || !page.hasNext || items.length >= max) break;
    next = page.nextCursor
      ? { ...query, pageSize, cursor: page.nextCursor }
      : { ...query, pageSize, page: (page.page || 1) + 1 };
  }
  return items.slice(0, max);
}

// A file the API serves, as a Blob (downloads of evidence, reports, artifacts).
export async function blob(path) {
  const response = await fetch(url(path), {
    headers: { Authorization: `Bearer ${token()}` },
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) throw await errorFrom(response);
  return response.blob();
}

// Where the dashboard stream should start: after the tenant's newest audit event (the
// stream replays the audit chain from `since`), or from the start when the caller
// cannot read the audit trail.
export async function auditHead() {
  try {
    const { data } = await call("GET", "/audit-events", { query: { sort: "-sequence", pageSize: 1 } });
    return data && data.length ? data[0].sequence : 0;
  } catch {
    return 0;
  }
}

// A WebSocket stream of the API: the token travels as a `bearer.<token>` subprotocol
// (browsers cannot set an Authorization header on a WebSocket).
export function stream(path, { onMessage, onClose, since } = {}) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const target = new URL(BASE + path, window.location.origin);
  target.protocol = scheme;
  if (since) target.searchParams.set("since", String(since));
  const socket = new WebSocket(target.toString(), ["shiplane.v1", `bearer.${token()}`]);
  socket.addEventListener("message", (event) => {
    let message = null;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (onMessage) onMessage(message);
  });
  socket.addEventListener("close", (event) => onClose && onClose(event));
  return socket;
}
