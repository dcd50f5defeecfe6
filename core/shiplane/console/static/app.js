// The console's shell: the hash router, sign-in and sign-out, who is signed in.

import { ApiError, claims, clearToken, get, setToken, token } from "./api.js";
import { clearMessages, errorBox, field, h, me } from "./ui.js";
import * as pipeline from "./pipeline.js";
import * as releases from "./releases.js";
import * as promotions from "./promotions.js";
import * as deployments from "./deployments.js";
import * as inventory from "./inventory.js";
import * as evidence from "./evidence.js";
import * as plugins from "./plugins.js";
import * as progressive from "./progressive.js";

const ROUTES = [
  [/^\/signin$/, signIn, "Sign in"],
  [/^\/pipeline$/, pipeline.page, "Pipeline"],
  [/^\/promote$/, pipeline.promote, "Promote"],
  [/^\/releases$/, releases.list, "Releases"],
  [/^\/releases\/compare\/([^/]+)\/([^/]+)$/, releases.compare, "Compare releases"],
  [/^\/releases\/([^/]+)$/, releases.detail, "Release"],
  [/^\/promotions$/, promotions.list, "Promotions"],
  [/^\/promotions\/([^/]+)$/, promotions.detail, "Promotion"],
  [/^\/inbox$/, promotions.inbox, "Pending approvals"],
  [/^\/jobs$/, deployments.jobs, "Deployments"],
  [/^\/jobs\/([^/]+)$/, deployments.job, "Deployment job"],
  [/^\/runs$/, deployments.runs, "Workflow runs"],
  [/^\/runs\/([^/]+)$/, deployments.run, "Workflow run"],
  [/^\/inventory$/, inventory.page, "Inventory"],
  [/^\/evidence$/, evidence.packets, "Evidence"],
  [/^\/audit$/, evidence.audit, "Audit"],
  [/^\/plugins$/, plugins.page, "Plugins"],
  [/^\/ab-releases$/, progressive.list, "Progressive delivery"],
  [/^\/ab-releases\/([^/]+)$/, progressive.detail, "A/B release"],
];

let cleanups = [];
let generation = 0;

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/pipeline";
  const [path, search] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(search || "")) };
}

function renderWho() {
  const signedIn = Boolean(token());
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (signedIn) {
    const who = me();
    document.getElementById("who-text").textContent =
      `${who.user} · tenant ${who.tenant} · roles ${who.roles.length ? who.roles.join(", ") : "none"}`;
  }
}

function markCurrent(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").slice(1);
    if (path === target || path.startsWith(`${target}/`)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      /* a page's cleanup failing must not stop the next page */
    }
  }
  cleanups = [];
  generation += 1;
  const mine = generation;
  const { path, query } = parseHash();
  if (!token() && path !== "/signin") {
    window.location.hash = "#/signin";
    return;
  }
  renderWho();
  markCurrent(path);
  clearMessages();
  const view = document.getElementById("main");
  for (const [pattern, handler, title] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    document.title = `${title} · Shiplane`;
    view.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    const ctx = {
      view,
      params: match.slice(1).map(decodeURIComponent),
      query,
      live: () => mine === generation,
      onCleanup: (fn) => cleanups.push(fn),
      rerender: () => route(),
    };
    try {
      await handler(ctx);
    } catch (error) {
      if (mine !== generation) return;
      view.replaceChildren(pageError(error));
    }
    return;
  }
  view.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "No console page is at this address."));
}

function pageError(error) {
  if (error instanceof ApiError && error.status === 404) {
    return h("div", { class: "not-found" }, h("h1", {}, "Not found"), errorBox(error));
  }
  if (error instanceof ApiError && error.status === 401) {
    return h("div", {}, h("h1", {}, "Signed out"), errorBox(error), h("p", {}, h("a", { href: "#/signin" }, "Sign in again")));
  }
  return h("div", {}, h("h1", {}, "Something went wrong"), errorBox(error));
}

async function signIn({ view }) {
  const input = h("textarea", { name: "token", rows: 4, required: true, autocomplete: "off", spellcheck: "false" });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "signin" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste a bearer token: the development token ", h("code", {}, "shiplane serve"), " prints, or one your authority issued. It is kept in this tab only (sessionStorage)."),
    field("Token", input),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    status.replaceChildren();
    if (!claims(value)) {
      status.replaceChildren(h("div", { class: "error", role: "alert" }, "That is not a JWT (three base64url parts)."));
      return;
    }
    setToken(value);
    try {
      await get("/environments", { pageSize: 1 });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 0)) {
        clearToken();
        status.replaceChildren(errorBox(error));
        return;
      }
    }
    window.location.hash = "#/pipeline";
  });
  view.replaceChildren(form);
  input.focus();
}

function start() {
  document.getElementById("signout").addEventListener("click", () => {
    clearToken();
    renderWho();
    window.location.hash = "#/signin";
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
