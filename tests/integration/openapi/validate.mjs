// Validates OpenAPI 3.1 documents offline:
//   node validate.mjs openapi.json [more.json ...] [--samples answers.json]
//
//  1. against the official OpenAPI 3.1 JSON Schema (@seriousme/openapi-schema-validator);
//  2. every internal $ref resolves;
//  3. every Schema Object is a valid JSON Schema 2020-12 (compiled by ajv);
//  4. what a schema cannot see: path templates and path parameters agree, operationIds
//     are unique, security schemes and tags exist, each operation has a success answer;
//  5. with --samples: real answers [{method, path (templated), status, content_type, body}]
//     match the schema the document gives for that operation, status and media type.
// Prints a one-line summary per valid document and each problem of an invalid
// one; exits 1 when any document is invalid.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule.default ?? addFormatsModule;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const compiledOk = new Set();  // schemas already compiled (many repeat)
const validator = new Validator();

async function check(doc, samples) {
  const problems = [];
  const fail = (msg) => problems.push(msg);

  // 1. The official schema.
  const result = await validator.validate(structuredClone(doc));
  if (!result.valid) {
    for (const e of [].concat(result.errors ?? [])) fail(`schema: ${JSON.stringify(e)}`);
  } else if (validator.version !== "3.1") {
    fail(`expected an OpenAPI 3.1 document, got version ${validator.version}`);
  }

  // 2. References.
  function pointer(ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
    let node = doc;
    for (const raw of ref.slice(2).split("/")) {
      const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
      if (node === null || typeof node !== "object" || !(key in node)) return undefined;
      node = node[key];
    }
    return node;
  }
  function walk(node, where, visit) {
    if (node === null || typeof node !== "object") return;
    visit(node, where);
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`, visit);
  }
  walk(doc, "#", (node, where) => {
    if (typeof node.$ref === "string" && pointer(node.$ref) === undefined) fail(`${where}: $ref ${node.$ref} resolves to nothing`);
  });
  const deref = (node) => (node && typeof node.$ref === "string" ? pointer(node.$ref) ?? node : node);
  // A schema with the document's internal references inlined (ajv cannot see the document).
  function inline(schema, depth = 0) {
    if (depth > 32 || schema === null || typeof schema !== "object") return schema;
    if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/")) return inline(pointer(schema.$ref), depth + 1);
    const out = Array.isArray(schema) ? [] : {};
    for (const [k, v] of Object.entries(schema)) out[k] = inline(v, depth + 1);
    return out;
  }

  // 3. Schema Objects.
  let compiled = 0;
  const bad = new Map();  // an invalid schema → {where it was first seen, message, count}
  function compile(schema, where) {
    if (schema === undefined) return;
    const inlined = inline(schema);
    const key = JSON.stringify(inlined);
    compiled++;
    if (compiledOk.has(key)) return;
    if (bad.has(key)) return void bad.get(key).count++;
    try {
      ajv.compile(inlined);
      compiledOk.add(key);
    } catch (e) {
      bad.set(key, { where, message: e.message, count: 1 });
    }
  }
  const contentSchemas = (content, where) => {
    for (const [type, media] of Object.entries(content ?? {})) compile(media.schema, `${where}/content/${type}`);
  };
  const components = doc.components ?? {};
  for (const [name, s] of Object.entries(components.schemas ?? {})) compile(s, `#/components/schemas/${name}`);
  for (const [name, h] of Object.entries(components.headers ?? {})) compile(h.schema, `#/components/headers/${name}`);
  for (const [name, p] of Object.entries(components.parameters ?? {})) compile(p.schema, `#/components/parameters/${name}`);

  // 4. Semantics.
  const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  const tags = new Set((doc.tags ?? []).map((t) => t.name));
  const schemes = new Set(Object.keys(components.securitySchemes ?? {}));
  const operationIds = new Map();
  let operations = 0;
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const templated = new Set([...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]));
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      operations++;
      const where = `${method.toUpperCase()} ${path}`;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref);
      const inPath = params.filter((p) => p?.in === "path");
      for (const p of inPath) {
        if (!templated.has(p.name)) fail(`${where}: path parameter '${p.name}' is not in the path`);
        if (p.required !== true) fail(`${where}: path parameter '${p.name}' must be required`);
      }
      for (const name of templated)
        if (!inPath.some((p) => p.name === name)) fail(`${where}: {${name}} has no path parameter`);
      const seen = new Set();
      for (const p of params) {
        const key = `${p?.in}:${p?.name}`;
        if (seen.has(key)) fail(`${where}: parameter ${key} is listed twice`);
        seen.add(key);
        compile(p?.schema, `${where} parameter ${key}`);
      }
      if (op.operationId !== undefined) {
        if (operationIds.has(op.operationId)) fail(`${where}: operationId ${op.operationId} is also ${operationIds.get(op.operationId)}'s`);
        operationIds.set(op.operationId, where);
      }
      for (const t of op.tags ?? []) if (!tags.has(t)) fail(`${where}: tag '${t}' is not declared in tags`);
      for (const req of op.security ?? [])
        for (const name of Object.keys(req)) if (!schemes.has(name)) fail(`${where}: security scheme '${name}' does not exist`);
      const responses = op.responses ?? {};
      if (!Object.keys(responses).some((s) => /^[23]/.test(s) || s === "default")) fail(`${where}: no success response`);
      for (const [status, r] of Object.entries(responses)) {
        const resp = deref(r);
        contentSchemas(resp?.content, `${where} ${status}`);
        for (const [name, h] of Object.entries(resp?.headers ?? {})) compile(deref(h)?.schema, `${where} ${status} header ${name}`);
      }
      if (op.requestBody) contentSchemas(deref(op.requestBody).content, `${where} requestBody`);
    }
  }

  for (const { where, message, count } of bad.values())
    fail(`${where}: not a valid JSON Schema 2020-12: ${message}${count > 1 ? ` (and ${count - 1} more places)` : ""}`);
  // 5. Real answers against their documented schemas.
  for (const { method, path, status, content_type: type, body } of samples) {
    const where = `${method} ${path} ${status}`;
    const op = doc.paths?.[path]?.[method.toLowerCase()];
    const resp = deref(op?.responses?.[String(status)] ?? op?.responses?.default);
    const schema = resp?.content?.[type]?.schema;
    if (!schema) {
      fail(`${where}: the document has no ${type} answer for it`);
      continue;
    }
    let check;
    try {
      check = ajv.compile(inline(schema));
    } catch (e) {
      continue;  // reported above
    }
    if (!check(body)) fail(`${where}: the answer does not match its schema: ${ajv.errorsText(check.errors)}; body ${JSON.stringify(body).slice(0, 300)}`);
  }

  return { problems, summary: `${Object.keys(doc.paths ?? {}).length} paths, ${operations} operations, ${compiled} schemas` };
}

const files = process.argv.slice(2);
let samples = [];
const at = files.indexOf("--samples");
if (at >= 0) {
  samples = JSON.parse(readFileSync(files[at + 1], "utf8"));
  files.splice(at, 2);
}
let invalid = 0;
for (const file of files) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    console.error(`${file}: invalid OpenAPI document: not JSON: ${e.message}`);
    invalid++;
    continue;
  }
  const { problems, summary } = await check(doc, samples);
  if (problems.length) {
    invalid++;
    console.error(`${file}: invalid OpenAPI document (${problems.length} problems):`);
    for (const p of problems) console.error(`  ${p}`);
  } else {
    console.log(`${file}: valid OpenAPI ${doc.openapi}: ${summary}${samples.length ? `, ${samples.length} answers checked` : ""}`);
  }
}
process.exit(invalid ? 1 : 0);
