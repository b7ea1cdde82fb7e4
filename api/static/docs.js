"use strict";
(() => {
  const el = (tag, text, cls) => { const n = document.createElement(tag); if (text !== undefined) n.textContent = text; if (cls) n.className = cls; return n; };
  const refName = (ref) => ref.split("/").pop();
  function schemaLine(schema) {
    if (!schema) return "";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.type === "array") return `array of ${schemaLine(schema.items)}`;
    if (schema.anyOf) return schema.anyOf.map(schemaLine).join(" | ");
    if (schema.enum) return schema.enum.join(" | ");
    return Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "object");
  }
  document.addEventListener("DOMContentLoaded", async () => {
    const spec = await (await fetch("/openapi.json")).json();
    document.getElementById("intro").textContent = spec.info.description;
    const toc = document.getElementById("toc"), ops = document.getElementById("ops");
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, "-");
        const li = el("li"); const a = el("a", `${method.toUpperCase()} ${path}`); a.href = `#${id}`; li.append(a); toc.append(li);
        const box = el("section", undefined, "op"); box.id = id;
        const h = el("h3"); h.append(el("span", method.toUpperCase(), `method ${method}`), path); box.append(h);
        box.append(el("p", op.summary + (op.description ? ` — ${op.description}` : "")));
        if (op.security && op.security.length === 0) box.append(el("p", "No token needed.", "muted"));
        if (op.parameters) {
          const t = el("table"); t.append(el("tr")); t.firstChild.append(el("th", "parameter"), el("th", "in"), el("th", "type"), el("th", "description"));
          for (const p of op.parameters) { const r = el("tr"); r.append(el("td", p.name + (p.required ? " *" : "")), el("td", p.in), el("td", schemaLine(p.schema)), el("td", p.description || "")); t.append(r); }
          box.append(t);
        }
        if (op.requestBody) {
          const name = schemaLine(op.requestBody.content["application/json"].schema);
          const p = el("p", "Body: "); const a = el("a", name); a.href = `#schema-${name}`;
          a.addEventListener("click", () => { document.getElementById(`schema-${name}`).open = true; });
          p.append(a); box.append(p);
        }
        const t = el("table");
        for (const [code, r] of Object.entries(op.responses)) {
          const row = el("tr"); const content = r.content ? Object.entries(r.content)[0] : null;
          row.append(el("td", code), el("td", r.description), el("td", content ? `${content[0]}: ${schemaLine(content[1].schema)}` : ""));
          t.append(row);
        }
        box.append(t); ops.append(box);
      }
    }
    const schemas = document.getElementById("schemas");
    for (const [name, schema] of Object.entries(spec.components.schemas)) {
      const d = el("details"); d.id = `schema-${name}`; d.append(el("summary", name)); d.append(el("pre", JSON.stringify(schema, null, 2)));
      schemas.append(d);
    }
  });
})();
