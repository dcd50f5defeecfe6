// Releases: list with filters, detail (components, versions, digests), compare two,
// create from the latest versions, deprecate.

import { get, list, post } from "./api.js";
import { act, badge, can, field, h, json, link, section, short, table, when } from "./ui.js";

export async function list_(ctx) {
  const state = h("select", { name: "state" }, ["", "draft", "ready", "deprecated"].map((s) => h("option", { value: s, selected: s === (ctx.query.state || "") }, s || "any")));
  const name = h("input", { name: "name", type: "search", value: ctx.query.name || "" });
  const filters = h("form", { class: "filters" }, field("State", state), field("Name contains", name), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (state.value) q.set("state", state.value);
    if (name.value.trim()) q.set("name", name.value.trim());
    window.location.hash = `#/releases${q.toString() ? `?${q}` : ""}`;
  });
  const filter = {};
  if (ctx.query.state) filter.state = ctx.query.state;
  if (ctx.query.name) filter.name = { $contains: ctx.query.name };
  const releases = await list("/releases", { sort: "-createdAt", filter: Object.keys(filter).length ? filter : undefined }, { max: 500 });
  const picks = new Set();
  const compare = h("button", { type: "button", disabled: true }, "Compare selected");
  compare.addEventListener("click", () => {
    const [a, b] = [...picks];
    window.location.hash = `#/releases/compare/${a}/${b}`;
  });
  const rows = table(
    [
      {
        label: "Compare",
        cell: (r) => {
          const box = h("input", { type: "checkbox", "aria-label": `compare ${r.name}` });
          box.addEventListener("change", () => {
            if (box.checked) picks.add(r.id);
            else picks.delete(r.id);
            compare.disabled = picks.size !== 2;
          });
          return box;
        },
      },
      { label: "Name", cell: (r) => link(`#/releases/${r.id}`, r.name) },
      { label: "State", cell: (r) => badge(r.state) },
      { label: "Components", cell: (r) => r.components.map((c) => `${c.componentName} ${c.version}`).join(", ") },
      { label: "Manifest digest", cell: (r) => short(r.manifestDigest) },
      { label: "Created", cell: (r) => when(r.createdAt) },
    ],
    releases,
    { empty: "No releases match." },
  );
  ctx.view.replaceChildren(
    h("h1", {}, "Releases"),
    filters,
    rows,
    h("p", {}, compare, " (select two)"),
    can("releases:write") ? await fromLatestForm() : null,
  );
}

async function fromLatestForm() {
  const components = await list("/components", { sort: "name" });
  const boxes = components.map((c) => h("input", { type: "checkbox", value: c.id, id: `component-${c.id}` }));
  const name = h("input", { name: "name", placeholder: "latest-<date>" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create from latest");
  const form = h(
    "form",
    { class: "grid-form", id: "from-latest" },
    h("fieldset", {}, h("legend", {}, "Components"), components.length ? boxes.map((b, i) => h("span", { class: "check" }, b, h("label", { for: b.id }, components[i].name))) : h("p", {}, "No components yet.")),
    field("Release name (optional)", name),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { componentIds: boxes.filter((b) => b.checked).map((b) => b.value) };
    if (name.value.trim()) body.name = name.value.trim();
    act(submit, () => post("/releases/from-latest", body), (made) => {
      window.location.hash = `#/releases/${made.id}`;
    });
  });
  return section("New release from the latest versions", form);
}

export { list_ as list };

export async function detail(ctx) {
  const [id] = ctx.params;
  const release = await get(`/releases/${id}`);
  let states = [];
  try {
    states = await get(`/releases/${id}/state`);
  } catch {
    states = [];
  }
  const actions = h("div", { class: "actions" });
  if (release.state === "ready" && can("promotions:create")) {
    actions.append(h("a", { class: "button", href: `#/promote?releaseId=${release.id}` }, "Promote…"));
  }
  if (release.state === "ready" && can("releases:write")) {
    const reason = h("input", { name: "reason", required: true });
    const submit = h("button", { type: "submit", class: "danger" }, "Deprecate");
    const form = h("form", { class: "inline-form" }, field("Deprecation reason", reason), submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(submit, () => post(`/releases/${id}/deprecate`, { reason: reason.value }), () => ctx.rerender());
    });
    actions.append(form);
  }
  const stateRows = Array.isArray(states) ? states : states.environments || [];
  ctx.view.replaceChildren(
    h("h1", {}, "Release ", h("span", { class: "name" }, release.name), " ", badge(release.state)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Manifest digest"), h("dd", {}, h("code", {}, release.manifestDigest || "— (draft)")),
      h("dt", {}, "Created"), h("dd", {}, when(release.createdAt), ` by ${release.createdBy}`),
      h("dt", {}, "Sealed"), h("dd", {}, when(release.sealedAt)),
      release.deprecatedAt ? [h("dt", {}, "Deprecated"), h("dd", {}, when(release.deprecatedAt), ` by ${release.deprecatedBy}: ${release.deprecationReason}`)] : null,
    ),
    actions,
    section(
      "Components",
      table(
        [
          { label: "Component", cell: (c) => c.componentName },
          { label: "Version", cell: (c) => c.version },
          { label: "Digest", cell: (c) => h("code", { class: "digest" }, c.digest || "—") },
          { label: "Reference", cell: (c) => c.reference },
        ],
        release.components,
      ),
    ),
    section(
      "Environments",
      stateRows.length
        ? table(
            [
              { label: "Environment", cell: (s) => s.environmentName || s.name || s.environmentId },
              { label: "State", cell: (s) => badge(s.state) },
            ],
            stateRows,
          )
        : json(states),
    ),
  );
}

export async function compare(ctx) {
  const [a, b] = ctx.params;
  const diff = await get(`/releases/${a}/compare/${b}`);
  const side = (v) => (v ? [v.version, " ", h("br"), short(v.digest)] : "—");
  ctx.view.replaceChildren(
    h("h1", {}, "Compare releases"),
    h("p", {}, link(`#/releases/${a}`, diff.base ? diff.base.name || a : a), " → ", link(`#/releases/${b}`, diff.other ? diff.other.name || b : b), diff.identical ? h("strong", {}, " — identical") : null),
    section(
      "Changed",
      table(
        [
          { label: "Component", cell: (c) => c.componentName },
          { label: diff.base ? diff.base.name : "From", cell: (c) => side(c.from) },
          { label: diff.other ? diff.other.name : "To", cell: (c) => side(c.to) },
          { label: "What changed", cell: (c) => [c.versionChanged ? "version " : "", c.digestChanged ? "digest" : ""] },
        ],
        diff.changed || [],
        { empty: "No component changed." },
      ),
    ),
    section("Added", table([{ label: "Component", cell: (c) => c.componentName || c.name }, { label: "Version", cell: (c) => c.version }, { label: "Digest", cell: (c) => short(c.digest) }], diff.added || [], { empty: "None." })),
    section("Removed", table([{ label: "Component", cell: (c) => c.componentName || c.name }, { label: "Version", cell: (c) => c.version }, { label: "Digest", cell: (c) => short(c.digest) }], diff.removed || [], { empty: "None." })),
    section("Unchanged", table([{ label: "Component", cell: (c) => c.componentName || c.name }, { label: "Version", cell: (c) => c.version || (c.from && c.from.version) }], diff.unchanged || [], { empty: "None." })),
  );
}
