// Progressive delivery: an A/B release's steps, the traffic split read from the
// router, the analysis measurements as a chart over time; advance / promote / rollback.

import { get, list, post } from "./api.js";
import { act, badge, can, field, h, json, link, section, svg, table, when } from "./ui.js";

export async function list_(ctx) {
  const rows = await list("/ab-releases", { sort: "-createdAt" }, { max: 200 });
  ctx.view.replaceChildren(
    h("h1", {}, "Progressive delivery"),
    h("p", { class: "muted" }, "Canary, blue-green and A/B releases. Defining one is done through the API (POST /api/v1/ab-releases) for now."),
    table(
      [
        { label: "Name", cell: (r) => link(`#/ab-releases/${r.id}`, r.name) },
        { label: "Strategy", cell: (r) => r.strategy },
        { label: "State", cell: (r) => badge(r.state) },
        { label: "Step", cell: (r) => `${(r.currentStep ?? 0) + 1} / ${(r.steps || []).length}` },
        { label: "Weights", cell: (r) => weights(r.weights) },
        { label: "Updated", cell: (r) => when(r.updatedAt) },
      ],
      rows,
      { empty: "No A/B releases." },
    ),
  );
}

export { list_ as list };

function weights(w) {
  if (!w) return "—";
  return Object.entries(w).map(([side, value]) => `${side} ${value}%`).join(" · ");
}

const LEVEL = { pass: 1, passed: 1, healthy: 1, inconclusive: 0.5, degraded: 0.5, fail: 0, failed: 0, unhealthy: 0 };

// Each measurement as a point over time: its first numeric value, else its verdict as
// a level (pass 1, inconclusive 0.5, fail 0); one polyline per check.
export function chart(measurements) {
  const width = 640;
  const height = 200;
  const pad = 30;
  const points = measurements
    .map((m) => {
      const numeric = (Array.isArray(m.values) ? m.values : [m.values]).find((v) => typeof v === "number" && Number.isFinite(v));
      const y = numeric !== undefined ? numeric : LEVEL[m.verdict] ?? 0.5;
      return { t: Date.parse(m.at), y, name: m.name, verdict: m.verdict, message: m.message };
    })
    .filter((p) => Number.isFinite(p.t));
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `analysis measurements over time (${points.length})`, class: "chart" });
  box.append(svg("title", {}, `${points.length} measurement(s)`));
  if (!points.length) {
    box.append(svg("text", { x: pad, y: height / 2 }, "no measurements yet"));
    return box;
  }
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t)) || t0 + 1;
  const lo = Math.min(0, ...points.map((p) => p.y));
  const hi = Math.max(1, ...points.map((p) => p.y));
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - lo) / Math.max(1e-9, hi - lo)) * (height - 2 * pad);
  box.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }));
  box.append(svg("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }));
  box.append(svg("text", { x: 2, y: y(hi) + 4, class: "tick" }, String(Math.round(hi * 100) / 100)));
  box.append(svg("text", { x: 2, y: y(lo), class: "tick" }, String(Math.round(lo * 100) / 100)));
  const byName = new Map();
  for (const p of points) byName.set(p.name, [...(byName.get(p.name) || []), p]);
  let series = 0;
  for (const [name, ps] of byName) {
    series += 1;
    box.append(svg("polyline", { points: ps.map((p) => `${x(p.t)},${y(p.y)}`).join(" "), class: `series s${series % 4}` }, svg("title", {}, name)));
    for (const p of ps) box.append(svg("circle", { cx: x(p.t), cy: y(p.y), r: 3, class: `v-${p.verdict}` }, svg("title", {}, `${name}: ${p.verdict} ${p.message || ""}`)));
  }
  return box;
}

const MOVING = ["deploying", "running", "paused"];

// The detail, redrawn every few seconds while the release moves (the driver measures
// and steps on its own), unless someone is typing a reason.
export async function detail(ctx) {
  const [id] = ctx.params;
  let reasonText = "";
  const draw = async () => {
    const parts = await render(ctx, id, reasonText, (value) => {
      reasonText = value;
    });
    if (ctx.live()) ctx.view.replaceChildren(...parts.nodes);
    return parts.state;
  };
  const state = await draw();
  if (!MOVING.includes(state) && state !== "draft") return;
  const timer = setInterval(async () => {
    if (!ctx.live() || (document.activeElement && document.activeElement.name === "reason")) return;
    try {
      const now = await draw();
      if (!MOVING.includes(now) && now !== "draft") clearInterval(timer);
    } catch {
      /* the next tick tries again */
    }
  }, 3000);
  ctx.onCleanup(() => clearInterval(timer));
}

async function render(ctx, id, reasonText, keepReason) {
  const release = await get(`/ab-releases/${id}`);
  const [traffic, health] = await Promise.all([get(`/ab-releases/${id}/traffic`).catch((e) => ({ error: e.message })), get(`/ab-releases/${id}/health`).catch(() => ({}))]);
  const measurements = health.measurements || [];
  const actions = h("div", { class: "actions" });
  if (can("ab-releases:write")) {
    const reason = h("input", { name: "reason", value: reasonText });
    reason.addEventListener("input", () => keepReason(reason.value));
    actions.append(field("Reason (optional)", reason));
    const moves = [
      ["Start", "start", ["draft"]],
      ["Advance", "advance", ["running", "paused"]],
      ["Promote", "promote", ["running", "paused"]],
      ["Roll back", "rollback", ["deploying", "running", "paused"]],
    ];
    for (const [label, action, states] of moves) {
      if (!states.includes(release.state)) continue;
      const b = h("button", { type: "button", class: action === "rollback" ? "danger" : "" }, label);
      b.addEventListener("click", () => act(b, () => post(`/ab-releases/${id}/${action}`, reason.value ? { reason: reason.value } : {}), () => ctx.rerender()));
      b.dataset.action = action;
      actions.append(b, " ");
    }
  }
  const nodes = [
    h("h1", {}, "A/B release ", h("span", { class: "name" }, release.name), " ", h("span", { id: "ab-state" }, badge(release.state))),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Strategy"), h("dd", {}, release.strategy),
      h("dt", {}, "Control → candidate"), h("dd", {}, link(`#/releases/${release.controlReleaseId}`, "control"), " → ", link(`#/releases/${release.candidateReleaseId}`, "candidate")),
      h("dt", {}, "Desired weights"), h("dd", { id: "ab-weights" }, weights(release.weights)),
      h("dt", {}, "Applied by the router"), h("dd", {}, weights(release.appliedWeights), release.routerError ? ` (router error: ${release.routerError})` : ""),
      h("dt", {}, "Read from the router now"), h("dd", {}, traffic.error ? `unavailable: ${traffic.error}` : [weights(traffic.weights), traffic.inSync === false ? " (out of sync)" : ""]),
      h("dt", {}, "Message"), h("dd", {}, release.message || ""),
    ),
    actions,
    section(
      "Steps",
      table(
        [
          { label: "#", cell: (s) => String(s.index + 1) },
          { label: "Candidate weight", cell: (s) => `${s.weight}%` },
          { label: "Pause", cell: (s) => (s.manual ? "manual" : `${s.pauseSeconds || 0}s`) },
          { label: "", cell: (s) => (s.index === release.currentStep ? badge("current") : "") },
        ],
        (release.steps || []).map((s, index) => ({ ...s, index })),
      ),
    ),
    section("Health", h("p", {}, Object.entries(health.sides || health.health || {}).map(([side, v]) => [side, " ", badge(typeof v === "string" ? v : v && v.status), " "])), chart(measurements)),
    section(
      "Measurements",
      table(
        [
          { label: "At", cell: (m) => when(m.at) },
          { label: "Step", cell: (m) => String((m.step ?? 0) + 1) },
          { label: "Check", cell: (m) => `${m.kind} ${m.name}` },
          { label: "Values", cell: (m) => JSON.stringify(m.values) },
          { label: "Verdict", cell: (m) => badge(m.verdict) },
          { label: "Message", cell: (m) => m.message || "" },
        ],
        measurements.slice(-50).reverse(),
        { empty: "No measurements yet." },
      ),
    ),
    h("details", {}, h("summary", {}, "Analysis configuration"), json(release.analysis || {})),
  ];
  return { nodes, state: release.state };
}
