// The pipeline: environments in order as columns, what is current, promoting, frozen
// and drifted in each; promoting with the gate preview shown first.

import { auditHead, get, list, post, stream } from "./api.js";
import { act, badge, can, field, h, link, section, table, when } from "./ui.js";

const ACTIVE = ["pending", "evaluating", "blocked", "awaiting_approval", "approved", "deploying"];
const GATE_TYPES = ["pipeline-order", "freeze-window", "release-not-deprecated"];

export async function loadPipeline() {
  const environments = (await list("/environments")).sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  const [promotions, targets] = await Promise.all([
    list("/promotions", { filter: { state: { $in: ACTIVE } } }, { max: 300 }),
    can("targets:read") ? list("/targets") : Promise.resolve([]),
  ]);
  const releaseIds = new Set([...environments.map((e) => e.currentReleaseId), ...promotions.map((p) => p.releaseId)]);
  releaseIds.delete(null);
  const releases = new Map();
  await Promise.all(
    [...releaseIds].map(async (id) => {
      try {
        releases.set(id, await get(`/releases/${id}`));
      } catch {
        releases.set(id, { id, name: id });
      }
    }),
  );
  const windows = new Map();
  await Promise.all(
    environments.map(async (env) => windows.set(env.id, await list(`/environments/${env.id}/freeze-windows`))),
  );
  const drift = new Map();
  await Promise.all(
    targets.map(async (t) => {
      try {
        drift.set(t.id, await get(`/targets/${t.id}/drift`));
      } catch {
        drift.set(t.id, { status: "unknown" });
      }
    }),
  );
  return { environments, promotions, targets, releases, windows, drift };
}

function releaseName(releases, id) {
  if (!id) return "—";
  const release = releases.get(id);
  return link(`#/releases/${id}`, release ? release.name : id);
}

function column(env, next, data, ctx) {
  const current = env.currentReleaseId;
  const active = data.promotions.filter((p) => p.environmentId === env.id);
  const frozen = (data.windows.get(env.id) || []).filter((w) => w.active);
  const targets = data.targets.filter((t) => t.environmentId === env.id);
  const drifted = targets.filter((t) => (data.drift.get(t.id) || {}).status === "drifted");
  const card = h(
    "article",
    { class: "env", "aria-labelledby": `env-${env.id}`, dataset: { env: env.name } },
    h("h2", { id: `env-${env.id}` }, env.displayName || env.name, env.isProduction ? h("span", { class: "tag" }, "production") : null),
    h("p", { class: "muted" }, `order ${env.order}`),
    h("h3", {}, "Current release"),
    h("p", { class: "current" }, releaseName(data.releases, current)),
    h("h3", {}, "Promotions in progress"),
    active.length
      ? h("ul", { class: "promotions" }, active.map((p) => h("li", {}, link(`#/promotions/${p.id}`, (data.releases.get(p.releaseId) || {}).name || p.releaseId), " ", badge(p.state))))
      : h("p", { class: "muted" }, "none"),
    frozen.length
      ? h("div", { class: "frozen" }, h("h3", {}, "Frozen now"), h("ul", {}, frozen.map((w) => h("li", {}, w.reason || "freeze window", " until ", when(w.nextEnd || w.endsAt)))))
      : null,
    h("h3", {}, `Targets (${targets.length})`),
    drifted.length
      ? h("p", { class: "drift" }, badge("drifted"), ` ${drifted.map((t) => t.name).join(", ")}`)
      : h("p", { class: "muted" }, targets.length ? "in sync or unchecked" : "no targets"),
  );
  if (next && current && can("promotions:create")) {
    card.append(
      h(
        "a",
        { class: "button", href: `#/promote?releaseId=${current}&environmentId=${next.id}` },
        `Promote to ${next.displayName || next.name}`,
      ),
    );
  }
  if (can("environments:write")) card.append(freezeForm(env, ctx));
  return card;
}

function isoIn(minutes) {
  return new Date(Date.now() + minutes * 60000).toISOString();
}

function freezeForm(env, ctx) {
  const reason = h("input", { name: "reason", value: "release freeze" });
  const starts = h("input", { name: "startsAt", value: isoIn(0) });
  const ends = h("input", { name: "endsAt", value: isoIn(60) });
  const submit = h("button", { type: "submit" }, "Add freeze window");
  const form = h(
    "form",
    { class: "inline-form" },
    field("Reason", reason),
    field("Starts at (ISO 8601)", starts),
    field("Ends at (ISO 8601)", ends),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(
      submit,
      () => post(`/environments/${env.id}/freeze-windows`, { reason: reason.value, startsAt: starts.value, endsAt: ends.value }),
      () => ctx.rerender(),
    );
  });
  return h("details", {}, h("summary", {}, "Freeze window…"), form);
}

async function environmentForm(ctx, count) {
  const policies = can("approval-policies:read") ? await list("/approval-policies") : [];
  const name = h("input", { name: "name", required: true, pattern: "[a-z0-9]([a-z0-9-]*[a-z0-9])?" });
  const display = h("input", { name: "displayName" });
  const order = h("input", { name: "order", type: "number", value: String(count + 1), min: "0" });
  const production = h("input", { name: "isProduction", type: "checkbox" });
  const gates = GATE_TYPES.map((type) => h("input", { type: "checkbox", name: "gate", value: type }));
  const policy = h("select", { name: "approvalPolicyId" }, h("option", { value: "" }, "none"), policies.map((p) => h("option", { value: p.id }, `${p.name} (${p.requiredApprovals} approvals)`)));
  const submit = h("button", { type: "submit", class: "primary" }, "Create environment");
  const form = h(
    "form",
    { class: "grid-form", id: "new-environment" },
    field("Name", name),
    field("Display name", display),
    field("Order", order),
    h("div", { class: "field check" }, production, h("label", { for: (production.id = "env-production") }, "Production")),
    h("fieldset", {}, h("legend", {}, "Gates"), gates.map((g, i) => h("span", { class: "check" }, g, h("label", { for: (g.id = `gate-${i}`) }, GATE_TYPES[i])))),
    field("Approval policy", policy),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      displayName: display.value.trim() || name.value.trim(),
      order: Number(order.value),
      isProduction: production.checked,
      gates: gates.filter((g) => g.checked).map((g) => ({ type: g.value })),
    };
    if (policy.value) body.approvalPolicyId = policy.value;
    act(submit, () => post("/environments", body), () => ctx.rerender());
  });
  return h("details", { class: "panel" }, h("summary", {}, "New environment…"), form);
}

export async function page(ctx) {
  // The stream's start is read before the data, so no move between the two is missed.
  const head = can("promotions:read") ? auditHead() : Promise.resolve(0);
  const data = await loadPipeline();
  if (!ctx.live()) return;
  const { environments } = data;
  const board = h("div", { class: "board", id: "board" }, environments.map((env, i) => column(env, environments[i + 1], data, ctx)));
  const live = h("p", { class: "live muted", id: "live", "aria-live": "polite" }, "connecting to live updates…");
  ctx.view.replaceChildren(
    h("h1", {}, "Pipeline"),
    live,
    environments.length ? board : h("p", { class: "empty" }, "No environments yet."),
    can("environments:write") ? await environmentForm(ctx, environments.length) : null,
  );
  if (can("promotions:read")) {
    let timer = null;
    const opened = Date.now();
    const socket = stream("/dashboard/stream", {
      since: await head,
      onMessage: (message) => {
        live.textContent = "live";
        live.dataset.state = "open";
        if (message.type !== "event" || Date.parse(message.at) < opened - 2000) return;
        clearTimeout(timer);
        timer = setTimeout(async () => {
          if (!ctx.live()) return;
          const fresh = await loadPipeline();
          if (!ctx.live()) return;
          const list = fresh.environments;
          board.replaceChildren(...list.map((env, i) => column(env, list[i + 1], fresh, ctx)));
        }, 300);
      },
      onClose: () => {
        live.textContent = "live updates stopped";
      },
    });
    socket.addEventListener("open", () => {
      live.textContent = "live";
      live.dataset.state = "open";
    });
    ctx.onCleanup(() => {
      clearTimeout(timer);
      socket.close();
    });
  }
}

export async function promote(ctx) {
  const [releases, environments] = await Promise.all([
    list("/releases", { filter: { state: "ready" }, sort: "-createdAt" }, { max: 300 }),
    list("/environments"),
  ]);
  environments.sort((a, b) => a.order - b.order);
  const release = h("select", { name: "releaseId" }, releases.map((r) => h("option", { value: r.id, selected: r.id === ctx.query.releaseId }, r.name)));
  const environment = h("select", { name: "environmentId" }, environments.map((e) => h("option", { value: e.id, selected: e.id === ctx.query.environmentId }, e.displayName || e.name)));
  const reason = h("input", { name: "reason" });
  const override = h("input", { name: "freezeOverride" });
  const preview = h("button", { type: "submit", class: "primary" }, "Preview gates");
  const result = h("div", { id: "preview", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "grid-form" },
    field("Release", release),
    field("Environment", environment),
    field("Reason", reason),
    field("Freeze override reason (only for the window's override roles)", override),
    preview,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(preview, () => post("/promotions/preview-gates", { releaseId: release.value, environmentId: environment.value }), (gates) => showPreview(gates));
  });
  function showPreview(p) {
    const request = h("button", { type: "button", class: "primary" }, "Request promotion");
    request.addEventListener("click", () => {
      const body = { releaseId: release.value, environmentId: environment.value, reason: reason.value };
      if (override.value.trim()) body.freezeOverride = { reason: override.value.trim() };
      act(request, () => post("/promotions", body), (made) => {
        window.location.hash = `#/promotions/${made.id}`;
      });
    });
    result.replaceChildren(
      section(
        "Gate preview",
        h("p", {}, "Outcome now: ", badge(p.outcome), " ", p.message || ""),
        gateTable(p.gates || []),
        p.approvalPolicy ? h("p", {}, `Approval policy: ${p.approvalPolicy.name || ""} — ${p.approvalPolicy.requiredApprovals} approval(s)`) : null,
        can("promotions:create") ? request : null,
      ),
    );
  }
  ctx.view.replaceChildren(h("h1", {}, "Promote a release"), h("p", {}, "The gates are evaluated first and nothing is created until you request the promotion."), form, result);
}

export function gateTable(gates) {
  return table(
    [
      { label: "Gate", cell: (g) => g.name || g.type },
      { label: "Type", cell: (g) => g.type },
      { label: "Status", cell: (g) => badge(g.status) },
      { label: "Message", cell: (g) => g.message || "" },
    ],
    gates,
    { empty: "No gates: nothing to check." },
  );
}

