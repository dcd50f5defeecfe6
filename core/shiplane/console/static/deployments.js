// Deployment jobs and workflow runs, updated live over their WebSocket streams;
// rollback with a reason.

import { blob, get, list, post, stream } from "./api.js";
import { act, badge, can, field, h, json, link, saveBlob, section, short, table, when } from "./ui.js";

const ROLLBACKABLE = ["succeeded", "partially_applied", "failed"];

async function envNames() {
  return new Map((await list("/environments")).map((e) => [e.id, e.displayName || e.name]));
}

export async function jobs(ctx) {
  const states = ["", "pending", "running", "succeeded", "failed", "partially_applied", "cancelled", "rolled_back"];
  const state = h("select", { name: "state" }, states.map((s) => h("option", { value: s, selected: s === (ctx.query.state || "") }, s || "any")));
  const filters = h("form", { class: "filters" }, field("State", state), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = state.value ? `#/jobs?state=${state.value}` : "#/jobs";
  });
  const [rows, envs] = await Promise.all([
    list("/deployment-jobs", { sort: "-createdAt", filter: ctx.query.state ? { state: ctx.query.state } : undefined }, { max: 300 }),
    envNames(),
  ]);
  ctx.view.replaceChildren(
    h("h1", {}, "Deployment jobs"),
    filters,
    table(
      [
        { label: "Job", cell: (j) => link(`#/jobs/${j.id}`, j.id.slice(0, 8)) },
        { label: "Kind", cell: (j) => j.kind },
        { label: "Environment", cell: (j) => envs.get(j.environmentId) || j.environmentId },
        { label: "State", cell: (j) => badge(j.state) },
        { label: "Message", cell: (j) => j.message || "" },
        { label: "Created", cell: (j) => when(j.createdAt) },
      ],
      rows,
      { empty: "No deployment jobs." },
    ),
  );
}

export async function job(ctx) {
  const [id] = ctx.params;
  const [detail, tasks] = await Promise.all([get(`/deployment-jobs/${id}`), list(`/deployment-jobs/${id}/tasks`)]);
  const [release, environment, artifacts] = await Promise.all([
    get(`/releases/${detail.releaseId}`).catch(() => ({ id: detail.releaseId, name: detail.releaseId })),
    get(`/environments/${detail.environmentId}`).catch(() => ({ id: detail.environmentId, name: detail.environmentId })),
    list(`/deployment-jobs/${id}/artifacts`).catch(() => []),
  ]);
  const stateBox = h("span", { id: "job-state" }, badge(detail.state));
  const message = h("dd", { id: "job-message" }, detail.message || "");
  const streamStatus = h("p", { id: "stream-status", class: "live muted", "aria-live": "polite" }, "connecting…");
  const taskBox = h("div", { id: "tasks" });
  const artifactBox = h("div", { id: "artifacts" });
  const renderArtifacts = (rows) =>
    artifactBox.replaceChildren(
      table(
        [
          { label: "Name", cell: (a) => a.name },
          { label: "Digest", cell: (a) => short(a.digest) },
          {
            label: "Download",
            cell: (a) => {
              const b = h("button", { type: "button" }, `Download ${a.name}`);
              b.addEventListener("click", () => act(b, () => blob(`/deployment-jobs/${id}/artifacts/${a.id}`), (data) => saveBlob(data, a.name)));
              return b;
            },
          },
        ],
        rows,
        { empty: "No artifacts yet." },
      ),
    );
  const log = h("pre", { id: "log", class: "log", tabindex: "0", "aria-label": "log lines" });
  const taskNames = new Map(tasks.map((t) => [t.targetId, t.targetName]));
  const renderTasks = (rows) =>
    taskBox.replaceChildren(
      table(
        [
          { label: "Target", cell: (t) => t.targetName },
          { label: "Batch", cell: (t) => String(t.batch) },
          { label: "State", cell: (t) => badge(t.state) },
          { label: "Message", cell: (t) => t.message || "" },
          { label: "Agent", cell: (t) => (t.agentId ? t.agentId.slice(0, 8) : "—") },
        ],
        rows,
        { empty: "No tasks yet." },
      ),
    );
  renderTasks(tasks);
  let pending = null;
  const reloadTasks = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      if (!ctx.live()) return;
      const fresh = await list(`/deployment-jobs/${id}/tasks`);
      for (const t of fresh) taskNames.set(t.targetId, t.targetName);
      if (ctx.live()) renderTasks(fresh);
    }, 150);
  };
  const actions = h("div", { class: "actions", id: "job-actions" });
  const renderActions = (state) => {
    actions.replaceChildren();
    if (!ROLLBACKABLE.includes(state) || !can("rollbacks:create")) return;
    const reason = h("input", { name: "reason", required: true });
    const submit = h("button", { type: "submit", class: "danger" }, "Roll back");
    const form = h("form", { class: "inline-form", id: "rollback" }, field("Rollback reason", reason), submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(submit, () => post("/rollbacks", { jobId: id, reason: reason.value }), (made) => {
        window.location.hash = `#/jobs/${made.id}`;
      });
    });
    actions.append(form);
  };
  renderActions(detail.state);
  ctx.view.replaceChildren(
    h("h1", {}, `Deployment job (${detail.kind}) `, stateBox),
    streamStatus,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Release"), h("dd", {}, link(`#/releases/${release.id}`, release.name)),
      h("dt", {}, "Environment"), h("dd", {}, environment.displayName || environment.name),
      h("dt", {}, "Strategy"), h("dd", {}, detail.strategy),
      h("dt", {}, "Message"), message,
      detail.reason ? [h("dt", {}, "Reason"), h("dd", {}, detail.reason)] : null,
      detail.promotionId ? [h("dt", {}, "Promotion"), h("dd", {}, link(`#/promotions/${detail.promotionId}`, detail.promotionId))] : null,
      detail.workflowRunId ? [h("dt", {}, "Workflow run"), h("dd", {}, link(`#/runs/${detail.workflowRunId}`, detail.workflowRunId))] : null,
    ),
    actions,
    section("Tasks per target", taskBox),
    section("Log", log),
    section("Artifacts", artifactBox),
  );
  renderArtifacts(artifacts);
  const socket = stream(`/deployment-jobs/${id}/stream`, {
    onMessage: (m) => {
      if (!ctx.live()) return;
      if (m.type === "end") {
        stateBox.replaceChildren(badge(m.state));
        streamStatus.textContent = `finished: ${m.state}`;
        streamStatus.dataset.state = "ended";
        renderActions(m.state);
        reloadTasks();
        list(`/deployment-jobs/${id}/artifacts`).then((rows) => ctx.live() && renderArtifacts(rows)).catch(() => {});
        get(`/deployment-jobs/${id}`).then((j) => ctx.live() && (message.textContent = j.message || "")).catch(() => {});
        return;
      }
      if (m.type !== "event") return;
      streamStatus.textContent = "live";
      streamStatus.dataset.state = "open";
      if (m.kind === "job" && m.state) {
        stateBox.replaceChildren(badge(m.state));
        if (m.message) message.textContent = m.message;
      } else if (m.kind === "task") {
        reloadTasks();
      } else if (m.kind === "log") {
        log.append(`${taskNames.get(m.targetId) || m.targetId || ""}: ${m.line}\n`);
      }
    },
    onClose: () => {
      if (streamStatus.dataset.state !== "ended") streamStatus.textContent = "stream closed";
    },
  });
  ctx.onCleanup(() => {
    clearTimeout(pending);
    socket.close();
  });
}

export async function runs(ctx) {
  const rows = await list("/workflow-runs", { sort: "-createdAt" }, { max: 300 });
  ctx.view.replaceChildren(
    h("h1", {}, "Workflow runs"),
    table(
      [
        { label: "Run", cell: (r) => link(`#/runs/${r.id}`, r.id.slice(0, 8)) },
        { label: "State", cell: (r) => badge(r.state) },
        { label: "Message", cell: (r) => r.message || "" },
        { label: "Created by", cell: (r) => r.createdBy },
        { label: "Created", cell: (r) => when(r.createdAt) },
      ],
      rows,
      { empty: "No workflow runs." },
    ),
  );
}

export async function run(ctx) {
  const [id] = ctx.params;
  const [detail, steps] = await Promise.all([get(`/workflow-runs/${id}`), list(`/workflow-runs/${id}/steps`)]);
  const stateBox = h("span", { id: "run-state" }, badge(detail.state));
  const streamStatus = h("p", { id: "stream-status", class: "live muted", "aria-live": "polite" }, "connecting…");
  const stepBox = h("div", { id: "steps" });
  const log = h("pre", { id: "log", class: "log", tabindex: "0", "aria-label": "log lines" });
  const renderSteps = (rows) =>
    stepBox.replaceChildren(
      table(
        [
          { label: "Step", cell: (s) => s.nodeId || s.id },
          { label: "Type", cell: (s) => s.type || "" },
          { label: "Depends on", cell: (s) => (s.dependsOn || []).join(", ") || "—" },
          { label: "State", cell: (s) => badge(s.state) },
          { label: "Attempt", cell: (s) => String(s.attempt ?? "") },
          { label: "Message", cell: (s) => s.message || "" },
        ],
        rows,
        { empty: "No steps yet." },
      ),
    );
  renderSteps(steps);
  let pending = null;
  const reload = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      if (!ctx.live()) return;
      const fresh = await list(`/workflow-runs/${id}/steps`);
      if (ctx.live()) renderSteps(fresh);
    }, 150);
  };
  const actions = h("div", { class: "actions" });
  if (can("workflows:run")) {
    for (const [label, action, states] of [
      ["Pause", "pause", ["running"]],
      ["Resume", "resume", ["paused"]],
      ["Cancel run", "cancel", ["pending", "running", "paused"]],
    ]) {
      if (!states.includes(detail.state)) continue;
      const b = h("button", { type: "button" }, label);
      b.addEventListener("click", () => act(b, () => post(`/workflow-runs/${id}/${action}`, {}), () => ctx.rerender()));
      actions.append(b, " ");
    }
  }
  ctx.view.replaceChildren(
    h("h1", {}, "Workflow run ", stateBox),
    streamStatus,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Template"), h("dd", {}, `${detail.templateId} v${detail.templateVersion}`),
      h("dt", {}, "Created by"), h("dd", {}, detail.createdBy),
      h("dt", {}, "Started"), h("dd", {}, when(detail.startedAt)),
      h("dt", {}, "Context"), h("dd", {}, json(detail.context || {})),
    ),
    actions,
    section("Steps", stepBox),
    section("Log", log),
  );
  const socket = stream(`/workflow-runs/${id}/stream`, {
    onMessage: (m) => {
      if (!ctx.live()) return;
      if (m.type === "end") {
        stateBox.replaceChildren(badge(m.state));
        streamStatus.textContent = `finished: ${m.state}`;
        streamStatus.dataset.state = "ended";
        reload();
        return;
      }
      if (m.type !== "event") return;
      streamStatus.textContent = "live";
      if (m.kind === "run" && m.state) stateBox.replaceChildren(badge(m.state));
      else if (m.kind === "step") reload();
      else if (m.kind === "log") log.append(`${m.nodeId || ""}: ${m.line}\n`);
    },
    onClose: () => {
      if (streamStatus.dataset.state !== "ended") streamStatus.textContent = "stream closed";
    },
  });
  ctx.onCleanup(() => {
    clearTimeout(pending);
    socket.close();
  });
}
