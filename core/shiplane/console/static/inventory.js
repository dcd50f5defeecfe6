// Inventory: targets with health, sticker and drift; agents with status and last heartbeat.

import { get, list, post } from "./api.js";
import { act, badge, can, h, section, table, when } from "./ui.js";

export async function page(ctx) {
  const [targets, agents, environments] = await Promise.all([list("/targets"), list("/agents"), list("/environments")]);
  const envs = new Map(environments.map((e) => [e.id, e.displayName || e.name]));
  const drift = new Map();
  const stickers = new Map();
  await Promise.all(
    targets.map(async (t) => {
      const [d, s] = await Promise.all([get(`/targets/${t.id}/drift`).catch(() => ({ status: "unknown" })), get(`/targets/${t.id}/sticker`).catch(() => null)]);
      drift.set(t.id, d);
      stickers.set(t.id, s);
    }),
  );
  const agentNames = new Map(agents.map((a) => [a.id, a.name]));
  const differences = (d) =>
    (d.differences || []).map((x) =>
      h("div", { class: "difference" }, `${x.component || "sticker"}: expected ${x.expected ? x.expected.version : "?"}, found ${x.actual ? x.actual.version : "nothing"}`),
    );
  ctx.view.replaceChildren(
    h("h1", {}, "Inventory"),
    section(
      "Targets",
      table(
        [
          { label: "Target", cell: (t) => h("span", { class: "target-name" }, t.name) },
          { label: "Environment", cell: (t) => envs.get(t.environmentId) || t.environmentId },
          { label: "Type", cell: (t) => t.type },
          { label: "Health", cell: (t) => [badge(t.health && t.health.status), " ", (t.health && t.health.message) || ""] },
          {
            label: "Sticker",
            cell: (t) => {
              const s = stickers.get(t.id);
              const sticker = s && s.sticker;
              if (!sticker || !sticker.release) return "—";
              return [sticker.release.name, " ", h("small", {}, "read ", when(s.readAt))];
            },
          },
          { label: "Drift", cell: (t) => h("div", { class: "drift-cell", dataset: { target: t.name } }, badge(drift.get(t.id).status), differences(drift.get(t.id))) },
          { label: "Agent", cell: (t) => (t.agentId ? agentNames.get(t.agentId) || t.agentId : "any matching") },
          {
            label: "Actions",
            cell: (t) => {
              if (!can("targets:write")) return "";
              const b = h("button", { type: "button", "aria-label": `check ${t.name} now` }, "Check now");
              b.addEventListener("click", () => act(b, () => post(`/targets/${t.id}/health-check`, undefined, { wait: 30 }), () => ctx.rerender()));
              return b;
            },
          },
        ],
        targets,
        { empty: "No targets." },
      ),
    ),
    section(
      "Agents",
      table(
        [
          { label: "Agent", cell: (a) => a.name },
          { label: "Status", cell: (a) => badge(a.status) },
          { label: "Last heartbeat", cell: (a) => when(a.lastHeartbeatAt) },
          { label: "Host", cell: (a) => a.hostname || "" },
          { label: "Capabilities", cell: (a) => (a.capabilities || []).join(", ") },
          { label: "Labels", cell: (a) => Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") },
        ],
        agents,
        { empty: "No agents." },
      ),
    ),
  );
}
