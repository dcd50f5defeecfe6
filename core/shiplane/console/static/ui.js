// Small DOM helpers shared by the pages: elements without innerHTML (so nothing the
// API returns is ever parsed as markup), the error banner, permissions, formatting.

import { ApiError, claims } from "./api.js";

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  append(node, children);
  return node;
}

// Permissions as the server's built-in roles grant them (core/shiplane/platform/permissions.py),
// plus the token's own permissions claim. For hiding buttons only: the API decides.
const VIEWER = ["*:read"];
const DEVELOPER = [...VIEWER, "components:write", "releases:write", "workflows:write", "workflows:run"];
const ROLES = {
  viewer: VIEWER,
  developer: DEVELOPER,
  "release-manager": [
    ...DEVELOPER,
    "promotions:create",
    "rollbacks:create",
    "ab-releases:write",
    "workflows:approve",
    "variables:write",
    "audit-reports:create",
  ],
  approver: [...VIEWER, "promotions:approve", "workflows:approve"],
  admin: ["*"],
};

export function granted() {
  const c = claims() || {};
  const set = new Set(Array.isArray(c.permissions) ? c.permissions : []);
  for (const role of Array.isArray(c.roles) ? c.roles : []) for (const p of ROLES[role] || []) set.add(p);
  return set;
}

export function can(permission) {
  const set = granted();
  if (set.has(permission) || set.has("*")) return true;
  const [resource, action] = permission.split(":");
  return set.has(`${resource}:*`) || set.has(`*:${action}`);
}

export function me() {
  const c = claims() || {};
  return { user: c.user_id || c.sub || "", tenant: c.tenant_id || "", roles: c.roles || [] };
}

// The error banner: code, message, request id, and the details that help.
export function errorBox(error) {
  if (!(error instanceof ApiError)) {
    return h("div", { class: "error", role: "alert" }, h("strong", {}, "Error: "), String(error && error.message));
  }
  const box = h(
    "div",
    { class: "error", role: "alert", dataset: { code: error.code } },
    h("strong", { class: "error-code" }, error.code),
    " ",
    h("span", { class: "error-message" }, error.message),
    error.requestId ? h("div", { class: "request-id" }, "request id ", h("code", {}, error.requestId)) : null,
  );
  if (error.validationErrors && error.validationErrors.length) {
    box.append(
      h("ul", {}, error.validationErrors.map((v) => h("li", {}, h("code", {}, v.field), ": ", v.message))),
    );
  }
  const gates = error.details && error.details.gates;
  if (Array.isArray(gates) && gates.length) {
    box.append(h("ul", { class: "gates" }, gates.map((g) => h("li", {}, badge(g.status), " ", g.type, ": ", g.message))));
  }
  if (error.details && error.details.promotionId) {
    box.append(h("p", {}, h("a", { href: `#/promotions/${error.details.promotionId}` }, "Open the promotion")));
  }
  return box;
}

export function showError(error) {
  const region = document.getElementById("messages");
  region.replaceChildren(errorBox(error), h("button", { type: "button", class: "dismiss", onclick: () => region.replaceChildren() }, "Dismiss"));
}

export function clearMessages() {
  document.getElementById("messages").replaceChildren();
}

export function notice(text) {
  const region = document.getElementById("messages");
  region.replaceChildren(h("div", { class: "notice", role: "status" }, text));
}

// Run an action from a button: disabled while it runs, errors shown, success message.
export async function act(button, action, done) {
  if (button) button.disabled = true;
  clearMessages();
  try {
    const result = await action();
    if (done) await done(result);
    return result;
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function badge(state) {
  const text = state === undefined || state === null ? "unknown" : String(state);
  return h("span", { class: `badge s-${text.replace(/[^a-z_-]/gi, "")}` }, text);
}

export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return h("time", { datetime: value, title: value }, date.toLocaleString());
}

export function short(digest) {
  if (!digest) return "—";
  const text = String(digest);
  return h("code", { title: text }, text.length > 24 ? `${text.slice(0, 22)}…` : text);
}

export function table(columns, rows, { empty = "Nothing yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { dataset: { label: c.label } }, c.cell(row)))))),
    ),
  );
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

export function link(href, text) {
  return h("a", { href }, text);
}

export function saveBlob(data, filename) {
  const href = URL.createObjectURL(data);
  const anchor = h("a", { href, download: filename, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
