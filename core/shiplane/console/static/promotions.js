// Promotions: the list, the decision view (every gate's inputs, result and message),
// approve / reject with a comment, cancel, and the caller's pending approvals.

import { auditHead, get, list, post, stream } from "./api.js";
import { act, badge, can, field, h, json, link, me, section, short, table, when } from "./ui.js";

const DECIDABLE = ["awaiting_approval", "blocked"];
const CANCELLABLE = ["pending", "evaluating", "blocked", "awaiting_approval", "approved"];

async function names() {
  const [environments, releases] = await Promise.all([list("/environments"), list("/releases", { sort: "-createdAt" }, { max: 500 })]);
  return {
    env: new Map(environments.map((e) => [e.id, e.displayName || e.name])),
    rel: new Map(releases.map((r) => [r.id, r.name])),
  };
}

function promotionTable(rows, n) {
  return table(
    [
      { label: "Promotion", cell: (p) => link(`#/promotions/${p.id}`, `${n.rel.get(p.releaseId) || p.releaseId} → ${n.env.get(p.environmentId) || p.environmentId}`) },
      { label: "State", cell: (p) => badge(p.state) },
      { label: "Requested by", cell: (p) => p.requestedBy },
      { label: "Message", cell: (p) => p.message || "" },
      { label: "Created", cell: (p) => when(p.createdAt) },
    ],
    rows,
    { empty: "No promotions." },
  );
}

export async function list_(ctx) {
  const states = ["", "blocked", "awaiting_approval", "deploying", "succeeded", "failed", "rejected", "cancelled", "rolled_back"];
  const state = h("select", { name: "state" }, states.map((s) => h("option", { value: s, selected: s === (ctx.query.state || "") }, s || "any")));
  const filters = h("form", { class: "filters" }, field("State", state), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = state.value ? `#/promotions?state=${state.value}` : "#/promotions";
  });
  const [rows, n] = await Promise.all([
    list("/promotions", { sort: "-createdAt", filter: ctx.query.state ? { state: ctx.query.state } : undefined }, { max: 300 }),
    names(),
  ]);
  ctx.view.replaceChildren(h("h1", {}, "Promotions"), filters, promotionTable(rows, n));
}

export { list_ as list };

export async function inbox(ctx) {
  const [rows, n] = await Promise.all([list("/my/pending-approvals"), names()]);
  ctx.view.replaceChildren(
    h("h1", {}, "Pending approvals"),
    h("p", { class: "muted" }, "Promotions waiting for a decision you may take (GET /my/pending-approvals)."),
    promotionTable(rows, n),
  );
}

function gateRows(gates) {
  return table(
    [
      { label: "Gate", cell: (g) => g.name || g.type },
      { label: "Status", cell: (g) => badge(g.status) },
      { label: "Message", cell: (g) => g.message || "" },
      { label: "Evaluated", cell: (g) => when(g.evaluatedAt) },
      { label: "Inputs", cell: (g) => h("details", {}, h("summary", {}, "inputs"), json(g.inputs || {}), g.details ? json(g.details) : null) },
    ],
    gates,
    { empty: "No gates." },
  );
}

export async function detail(ctx) {
  const [id] = ctx.params;
  let draft = "";
  const opened = Date.now();
  const render = async () => {
    const [promotion, decision] = await Promise.all([get(`/promotions/${id}`), get(`/promotions/${id}/decision`)]);
    const [release, environment, jobs, packets] = await Promise.all([
      get(`/releases/${promotion.releaseId}`).catch(() => ({ id: promotion.releaseId, name: promotion.releaseId })),
      get(`/environments/${promotion.environmentId}`).catch(() => ({ id: promotion.environmentId, name: promotion.environmentId })),
      can("deployments:read") ? list("/deployment-jobs", { filter: { promotionId: id } }) : Promise.resolve([]),
      can("evidence:read") ? get(`/promotions/${id}/evidence`).catch(() => []) : Promise.resolve([]),
    ]);
    if (!ctx.live()) return null;
    const actions = h("div", { class: "actions" });
    if (DECIDABLE.includes(promotion.state) && can("promotions:approve")) {
      const comment = h("textarea", { name: "comment", rows: 2 });
      comment.value = draft;
      comment.addEventListener("input", () => {
        draft = comment.value;
      });
      const approve = h("button", { type: "button", class: "primary" }, "Approve");
      const reject = h("button", { type: "button", class: "danger" }, "Reject");
      approve.addEventListener("click", () => act(approve, () => post(`/promotions/${id}/approve`, { comment: comment.value }), refresh));
      reject.addEventListener("click", () => act(reject, () => post(`/promotions/${id}/reject`, { comment: comment.value }), refresh));
      const self = promotion.requestedBy === me().user && !(promotion.approvalPolicy && promotion.approvalPolicy.allowSelfApproval);
      actions.append(
        h(
          "div",
          { class: "decide" },
          field("Comment", comment),
          approve,
          " ",
          reject,
          self ? h("p", { class: "muted" }, "You requested this promotion: the approval policy decides whether your approval counts.") : null,
        ),
      );
    }
    if (CANCELLABLE.includes(promotion.state) && can("promotions:create")) {
      const cancel = h("button", { type: "button" }, "Cancel promotion");
      cancel.addEventListener("click", () => act(cancel, () => post(`/promotions/${id}/cancel`, { comment: "cancelled from the console" }), refresh));
      actions.append(cancel);
    }
    const policy = decision.approvalPolicy || promotion.approvalPolicy;
    return [
      h("h1", {}, "Promotion ", h("span", { class: "name" }, `${release.name} → ${environment.displayName || environment.name}`), " ", h("span", { id: "promotion-state" }, badge(promotion.state))),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Release"), h("dd", {}, link(`#/releases/${release.id}`, release.name), " ", short(release.manifestDigest)),
        h("dt", {}, "Environment"), h("dd", {}, environment.displayName || environment.name),
        h("dt", {}, "Requested by"), h("dd", {}, promotion.requestedBy, promotion.reason ? ` — “${promotion.reason}”` : ""),
        h("dt", {}, "Outcome"), h("dd", { id: "promotion-message" }, decision.outcome || promotion.message || ""),
        h("dt", {}, "Evaluated"), h("dd", {}, when(decision.evaluatedAt)),
        promotion.recheckAt ? [h("dt", {}, "Checked again at"), h("dd", {}, when(promotion.recheckAt))] : null,
        promotion.freezeOverride ? [h("dt", {}, "Freeze override"), h("dd", {}, `${promotion.freezeOverride.by}: ${promotion.freezeOverride.reason}`)] : null,
        promotion.workflowRunId ? [h("dt", {}, "Deployment workflow"), h("dd", {}, link(`#/runs/${promotion.workflowRunId}`, promotion.workflowRunId))] : null,
      ),
      actions,
      section("Gates", gateRows(decision.gates || [])),
      section(
        "Approvals",
        policy ? h("p", {}, `Policy ${policy.name || ""}: ${policy.requiredApprovals} approval(s)`, policy.approverRoles && policy.approverRoles.length ? ` from ${policy.approverRoles.join(", ")}` : "", policy.allowSelfApproval ? "; self-approval allowed" : "; not by the requester") : h("p", { class: "muted" }, "No approval policy."),
        table(
          [
            { label: "Who", cell: (a) => a.userId },
            { label: "Decision", cell: (a) => badge(a.decision) },
            { label: "Comment", cell: (a) => a.comment || "" },
            { label: "At", cell: (a) => when(a.at) },
          ],
          decision.approvals || [],
          { empty: "No decisions yet." },
        ),
      ),
      section(
        "Deployment jobs",
        table(
          [
            { label: "Job", cell: (j) => link(`#/jobs/${j.id}`, `${j.kind} ${j.id.slice(0, 8)}`) },
            { label: "State", cell: (j) => badge(j.state) },
            { label: "Message", cell: (j) => j.message || "" },
          ],
          jobs,
          { empty: "Not deployed yet." },
        ),
      ),
      section(
        "Evidence",
        table(
          [
            { label: "Kind", cell: (p) => p.kind },
            { label: "Outcome", cell: (p) => badge(p.outcome) },
            { label: "Packet", cell: (p) => link(`#/evidence?promotionId=${id}`, p.id.slice(0, 8)) },
          ],
          Array.isArray(packets) ? packets : [],
          { empty: "No evidence yet." },
        ),
      ),
    ];
  };
  let busy = false;
  async function refresh(decided) {
    if (decided) draft = "";
    if (busy) return;
    busy = true;
    try {
      const parts = await render();
      if (parts && ctx.live()) ctx.view.replaceChildren(...parts);
    } finally {
      busy = false;
    }
  }
  // The stream's start is read before the data, so no move between the two is missed.
  const head = can("promotions:read") ? auditHead() : Promise.resolve(0);
  const parts = await render();
  if (!parts) return;
  ctx.view.replaceChildren(...parts);
  // Live: the dashboard stream tells when this promotion (or its deployment) moves.
  if (can("promotions:read")) {
    let timer = null;
    const socket = stream("/dashboard/stream", {
      since: await head,
      onMessage: (message) => {
        if (message.type !== "event" || Date.parse(message.at) < opened - 2000) return;
        clearTimeout(timer);
        timer = setTimeout(() => ctx.live() && refresh(false).catch(() => {}), 250);
      },
    });
    ctx.onCleanup(() => {
      clearTimeout(timer);
      socket.close();
    });
  }
}

