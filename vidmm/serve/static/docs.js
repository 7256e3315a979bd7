// The API reference, read from /openapi.json and written out plainly (offline: no CDN scripts).
const el = (tag, text, className) => Object.assign(document.createElement(tag), { textContent: text || "", className: className || "" });

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const limits = [["minimum", "≥"], ["maximum", "≤"], ["minLength", "length ≥"], ["maxLength", "length ≤"]]
    .filter(([key]) => schema[key] !== undefined).map(([key, word]) => `${word} ${schema[key]}`);
  return (schema.type || "any") + (limits.length ? ` (${limits.join(", ")})` : "");
}

const response = await fetch("/openapi.json", { credentials: "same-origin" });
if (response.status === 401) location.href = "/login?next=/docs";
const spec = await response.json();
document.querySelector("#title").textContent = `${spec.info.title} API ${spec.info.version}`;
const routes = document.querySelector("#routes");
for (const [path, methods] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(methods)) {
    const box = el("section", "", "route");
    const head = el("h3");
    head.append(el("span", method.toUpperCase(), "method"), el("code", path));
    box.append(head, el("p", op.description || op.summary || ""));
    const params = op.parameters || [];
    if (params.length) {
      const list = el("ul");
      for (const p of params) list.append(el("li", `${p.name} (${p.in}${p.required ? ", required" : ""}): ${typeOf(p.schema)}${p.description ? " — " + p.description : ""}`));
      box.append(list);
    }
    const body = op.requestBody && op.requestBody.content["application/json"];
    if (body) box.append(el("p", `JSON body: ${typeOf(body.schema)}`));
    box.append(el("p", "Answers: " + Object.keys(op.responses || {}).join(", "), "muted"));
    routes.append(box);
  }
}
