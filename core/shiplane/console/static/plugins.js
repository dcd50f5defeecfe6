// Plugins (admins act; readers see): state, health and capabilities, enable / disable,
// plugin instances with secret fields write-only (sent, never shown back).

import { del, list, post } from "./api.js";
import { act, badge, can, field, h, json, section, table, when } from "./ui.js";

const KINDS = ["integrationTypes", "stepTypes", "gates", "rolloutStrategies", "targetTypes", "trafficRouters"];
const KIND_NAMES = {
  integrationTypes: "integration_type",
  stepTypes: "step_type",
  gates: "gate",
  rolloutStrategies: "rollout_strategy",
  targetTypes: "target_type",
  trafficRouters: "traffic_router",
};

function capabilities(p) {
  return KINDS.filter((k) => (p.capabilities[k] || []).length).map((k) => h("div", {}, h("small", {}, `${k}: `), p.capabilities[k].join(", ")));
}

export async function page(ctx) {
  const [plugins, instances] = await Promise.all([list("/plugins"), list("/plugin-instances")]);
  const admin = can("plugins:admin");
  const parts = [
    h("h1", {}, "Plugins"),
    section(
      "Installed plugins",
      table(
        [
          { label: "Plugin", cell: (p) => [h("strong", {}, p.name), h("br"), h("code", {}, p.id), ` ${p.version}`, p.firstParty ? h("span", { class: "tag" }, "first party") : null] },
          { label: "State", cell: (p) => h("span", { class: "plugin-state", dataset: { plugin: p.id } }, badge(p.state)) },
          { label: "Health", cell: (p) => badge(p.health) },
          { label: "Capabilities", cell: capabilities },
          { label: "Isolation", cell: (p) => (p.runtime ? p.runtime.isolation : "") },
          {
            label: "Actions",
            cell: (p) => {
              if (!admin || p.id === "builtin") return "";
              const enable = p.state !== "enabled";
              const b = h("button", { type: "button", "aria-label": `${enable ? "Enable" : "Disable"} ${p.id}` }, enable ? "Enable" : "Disable");
              b.addEventListener("click", () => act(b, () => post(`/plugins/${p.id}/${enable ? "enable" : "disable"}`), () => ctx.rerender()));
              return b;
            },
          },
        ],
        plugins,
      ),
    ),
    section(
      "Plugin instances",
      table(
        [
          { label: "Name", cell: (i) => i.name },
          { label: "Plugin", cell: (i) => `${i.pluginId} / ${i.capabilityKind} ${i.capabilityId}` },
          { label: "Config (secrets masked by the server)", cell: (i) => json(i.config || {}) },
          { label: "Updated", cell: (i) => when(i.updatedAt) },
          {
            label: "Actions",
            cell: (i) => {
              if (!admin) return "";
              const b = h("button", { type: "button", class: "danger" }, "Delete");
              b.addEventListener("click", () => act(b, () => del(`/plugin-instances/${i.id}`), () => ctx.rerender()));
              return b;
            },
          },
        ],
        instances,
        { empty: "No plugin instances." },
      ),
    ),
  ];
  if (admin) parts.push(instanceForm(plugins, ctx));
  ctx.view.replaceChildren(...parts);
}

function instanceForm(plugins, ctx) {
  const choices = [];
  for (const p of plugins.filter((x) => x.state === "enabled")) {
    for (const k of KINDS) for (const id of p.capabilities[k] || []) choices.push({ plugin: p.id, kind: KIND_NAMES[k], id });
  }
  const capability = h("select", { name: "capability" }, choices.map((c, i) => h("option", { value: String(i) }, `${c.plugin}: ${c.kind} ${c.id}`)));
  const name = h("input", { name: "name", required: true });
  const config = h("textarea", { name: "config", rows: 4, spellcheck: "false" }, "{}");
  const secretName = h("input", { name: "secretName", placeholder: "password" });
  const secretValue = h("input", { name: "secretValue", type: "password", autocomplete: "new-password" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create instance");
  const form = h(
    "form",
    { class: "grid-form", id: "instance-form" },
    field("Capability", capability),
    field("Name", name),
    field("Config (JSON)", config),
    field("Secret field name", secretName, "write-only: sent once, encrypted by the server, never shown again"),
    field("Secret value", secretValue),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(
      submit,
      async () => {
        let parsed;
        try {
          parsed = JSON.parse(config.value || "{}");
        } catch (error) {
          throw new Error(`the config is not JSON: ${error.message}`);
        }
        if (secretName.value.trim()) parsed[secretName.value.trim()] = secretValue.value;
        const c = choices[Number(capability.value)];
        return post("/plugin-instances", { name: name.value.trim(), pluginId: c.plugin, capabilityKind: c.kind, capabilityId: c.id, config: parsed });
      },
      () => {
        secretValue.value = "";
        ctx.rerender();
      },
    );
  });
  return section("New plugin instance", form);
}
