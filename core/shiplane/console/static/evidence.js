// Evidence packets (verified here, in the browser, against the server's published
// Ed25519 keys; downloaded as DSSE envelopes), audit reports and the audit trail.

import { blob, list, post } from "./api.js";
import { act, badge, can, field, h, json, link, saveBlob, section, short, table, when } from "./ui.js";

function b64bytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function pemBytes(pem) {
  return b64bytes(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
}

// DSSE's pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(body)> <body>".
function pae(type, body) {
  const enc = new TextEncoder();
  const typeBytes = enc.encode(type);
  const head = enc.encode(`DSSEv1 ${typeBytes.length} ${type} ${body.length} `);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

// {ok, message}: whether a signature of the envelope verifies with a published key.
export async function verifyEnvelope(envelope, keys) {
  if (!envelope || !envelope.payload || !Array.isArray(envelope.signatures)) return { ok: false, message: "not a DSSE envelope" };
  if (!window.crypto || !window.crypto.subtle) return { ok: null, message: "this browser cannot verify (no WebCrypto)" };
  const body = b64bytes(envelope.payload);
  for (const signature of envelope.signatures) {
    const key = keys.find((k) => k.keyId === signature.keyid);
    if (!key) continue;
    try {
      const imported = await crypto.subtle.importKey("spki", pemBytes(key.publicKey), { name: "Ed25519" }, false, ["verify"]);
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, imported, b64bytes(signature.sig), pae(envelope.payloadType, body));
      return ok
        ? { ok: true, message: `signature verified with key ${key.keyId}` }
        : { ok: false, message: `the signature by key ${key.keyId} does not match the payload` };
    } catch (error) {
      return { ok: null, message: `this browser cannot verify Ed25519 (${error.message})` };
    }
  }
  return { ok: false, message: "signed by no published key" };
}

export async function packets(ctx) {
  const filter = {};
  if (ctx.query.kind) filter.kind = ctx.query.kind;
  if (ctx.query.promotionId) filter.promotionId = ctx.query.promotionId;
  const [rows, keys] = await Promise.all([
    list("/evidence-packets", { sort: "-createdAt", filter: Object.keys(filter).length ? filter : undefined }, { max: 300 }),
    list("/signing-keys").catch(() => []),
  ]);
  const kind = h("select", { name: "kind" }, ["", "promotion-decision", "deployment-outcome"].map((k) => h("option", { value: k, selected: k === (ctx.query.kind || "") }, k || "any")));
  const filters = h("form", { class: "filters" }, field("Kind", kind), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (kind.value) q.set("kind", kind.value);
    if (ctx.query.promotionId) q.set("promotionId", ctx.query.promotionId);
    window.location.hash = `#/evidence${q.toString() ? `?${q}` : ""}`;
  });
  const row = (p) => {
    const status = h("span", { class: "verification", dataset: { packet: p.id } }, "not checked");
    const verify = h("button", { type: "button" }, "Verify");
    verify.addEventListener("click", () =>
      act(verify, async () => {
        const envelope = JSON.parse(await (await blob(`/evidence-packets/${p.id}/download`)).text());
        const result = await verifyEnvelope(envelope, keys);
        status.replaceChildren(badge(result.ok ? "verified" : result.ok === false ? "invalid" : "unknown"), " ", result.message);
      }),
    );
    const download = h("button", { type: "button" }, "Download");
    download.addEventListener("click", () => act(download, () => blob(`/evidence-packets/${p.id}/download`), (data) => saveBlob(data, `evidence-${p.id}.dsse.json`)));
    return { p, status, verify, download };
  };
  const rendered = rows.map(row);
  ctx.view.replaceChildren(
    h("h1", {}, "Evidence"),
    h("p", { class: "muted" }, "Signed in-toto statements (DSSE) for every promotion decision and deployment. Verify checks the signature here with the server's published keys; ", h("code", {}, "shiplane evidence verify"), " checks a download offline."),
    filters,
    table(
      [
        { label: "Kind", cell: (r) => r.p.kind },
        { label: "Outcome", cell: (r) => badge(r.p.outcome) },
        { label: "Promotion", cell: (r) => (r.p.promotionId ? link(`#/promotions/${r.p.promotionId}`, r.p.promotionId.slice(0, 8)) : "—") },
        { label: "Job", cell: (r) => (r.p.deploymentJobId ? link(`#/jobs/${r.p.deploymentJobId}`, r.p.deploymentJobId.slice(0, 8)) : "—") },
        { label: "Subject", cell: (r) => short(r.p.subjectDigest) },
        { label: "Created", cell: (r) => when(r.p.createdAt) },
        { label: "Verification", cell: (r) => [r.status, " ", r.verify] },
        { label: "File", cell: (r) => r.download },
      ],
      rendered,
      { empty: "No evidence packets yet." },
    ),
  );
}

export async function audit(ctx) {
  const q = ctx.query;
  const action = h("input", { name: "action", value: q.action || "", placeholder: "promotion.approve" });
  const resourceType = h("input", { name: "resourceType", value: q.resourceType || "", placeholder: "promotion" });
  const outcome = h("select", { name: "outcome" }, ["", "success", "denied", "failure"].map((o) => h("option", { value: o, selected: o === (q.outcome || "") }, o || "any")));
  const filters = h("form", { class: "filters" }, field("Action starts with", action), field("Resource type", resourceType), field("Outcome", outcome), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const s = new URLSearchParams();
    if (action.value.trim()) s.set("action", action.value.trim());
    if (resourceType.value.trim()) s.set("resourceType", resourceType.value.trim());
    if (outcome.value) s.set("outcome", outcome.value);
    window.location.hash = `#/audit${s.toString() ? `?${s}` : ""}`;
  });
  const filter = {};
  if (q.action) filter.action = { $startsWith: q.action };
  if (q.resourceType) filter.resourceType = q.resourceType;
  if (q.outcome) filter.outcome = q.outcome;
  const [events, reports] = await Promise.all([
    list("/audit-events", { sort: "-sequence", filter: Object.keys(filter).length ? filter : undefined }, { max: 200 }),
    list("/audit-reports", { sort: "-createdAt" }, { max: 50 }).catch(() => []),
  ]);
  const parts = [h("h1", {}, "Audit")];
  if (can("audit-reports:create")) parts.push(reportForm(ctx));
  parts.push(
    section(
      "Audit reports",
      table(
        [
          { label: "Report", cell: (r) => r.id.slice(0, 8) },
          { label: "Period", cell: (r) => [when(r.periodStart), " – ", when(r.periodEnd)] },
          { label: "Format", cell: (r) => r.format },
          { label: "State", cell: (r) => badge(r.state) },
          {
            label: "File",
            cell: (r) => {
              if (r.state !== "ready" && r.state !== "succeeded" && r.state !== "done") return r.message || "";
              const b = h("button", { type: "button" }, "Download report");
              b.addEventListener("click", () => act(b, () => blob(`/audit-reports/${r.id}/download`), (data) => saveBlob(data, `audit-report-${r.id}.${r.format}`)));
              return b;
            },
          },
        ],
        reports,
        { empty: "No reports requested." },
      ),
    ),
    section("Audit trail", filters, table(
      [
        { label: "#", cell: (e) => String(e.sequence) },
        { label: "When", cell: (e) => when(e.occurredAt) },
        { label: "Actor", cell: (e) => (e.actor ? e.actor.id : "") },
        { label: "Action", cell: (e) => e.action },
        { label: "Resource", cell: (e) => `${e.resourceType} ${e.resourceId ? e.resourceId.slice(0, 8) : ""}` },
        { label: "Outcome", cell: (e) => badge(e.outcome) },
        { label: "Changes", cell: (e) => (e.changes ? h("details", {}, h("summary", {}, "changes"), json(e.changes)) : "") },
      ],
      events,
      { empty: "No audit events match." },
    )),
  );
  ctx.view.replaceChildren(...parts);
}

function reportForm(ctx) {
  const now = new Date();
  const start = h("input", { name: "periodStart", value: new Date(now.getTime() - 30 * 86400000).toISOString() });
  const end = h("input", { name: "periodEnd", value: new Date(now.getTime() + 60000).toISOString() });
  const format = h("select", { name: "format" }, ["html", "json", "csv"].map((f) => h("option", { value: f }, f)));
  const submit = h("button", { type: "submit", class: "primary" }, "Request report");
  const form = h("form", { class: "grid-form", id: "report-form" }, field("Period start", start), field("Period end", end), field("Format", format), submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(submit, () => post("/audit-reports", { periodStart: start.value, periodEnd: end.value, environmentIds: [], format: format.value }), () => ctx.rerender());
  });
  return section("Request an audit report", form);
}

