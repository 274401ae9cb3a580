// Validates AsyncAPI 3.x documents offline:
//   node validate.mjs [--strict] asyncapi.json [more.json ...]
//
//  1. the document must be JSON whose $refs all point inside it ("#/..."): the parser
//     would otherwise read other files or fetch URLs, and the host's document must be
//     self-contained;
//  2. the official AsyncAPI parser (@asyncapi/parser) parses it: the AsyncAPI JSON
//     Schema of its version (message payloads included, as AsyncAPI Schema Objects, a
//     superset of JSON Schema draft-07), every $ref resolves, and the AsyncAPI 3 rules
//     (an operation's channel is one of #/channels, its messages belong to that channel,
//     channel addresses and parameters, servers);
//  3. every message payload and headers schema compiles with ajv as JSON Schema draft-07,
//     which catches what the meta-schema cannot, e.g. a `pattern` that is no regex.
//
// Every diagnostic is printed: severity, code, JSON pointer (and line), message.
// A document fails when it has a diagnostic of severity error (0), or cannot be parsed.
// Warnings (1), information (2) and hints (3) are printed but do not fail it: they are
// advice (e.g. `asyncapi-latest-version`, information: "3.1.0 is the latest version"),
// and parser 3.6.6 has no warning-level rule for 3.x documents anyway (its recommended
// rules, all warnings, apply to 2.x only). With --strict warnings fail too.
// Prints one OK line per valid document (its diagnostics, if any, under it) and exits
// 0 when all are valid; exits 1 when any is invalid, 2 on bad usage.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import Ajv from "ajv";

const SEVERITY = ["error", "warning", "information", "hint"];
const parser = new Parser();
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

// "#/a/b~1c" for ["a", "b/c"]
const pointer = (path) => "#" + (path ?? []).map((k) => "/" + String(k).replaceAll("~", "~0").replaceAll("/", "~1")).join("");

function describe(d) {
  const line = d.range?.start?.line;
  const where = pointer(d.path) + (typeof line === "number" && line >= 0 ? ` (line ${line + 1})` : "");
  return `${SEVERITY[d.severity] ?? `severity ${d.severity}`} [${d.severity}] ${d.code} at ${where}: ${d.message}`;
}

// Diagnostics of our own, shaped like the parser's.
const own = (code, path, message) => ({ code, path, message, severity: 0 });

function externalRefs(node, path = [], out = []) {
  if (node === null || typeof node !== "object") return out;
  if (typeof node.$ref === "string" && !node.$ref.startsWith("#"))
    out.push(own("oms-external-ref", [...path, "$ref"], `'${node.$ref}' is not inside the document (only "#/..." references are allowed offline)`));
  for (const [k, v] of Object.entries(node)) externalRefs(v, [...path, k], out);
  return out;
}

// Message payloads and headers must compile as JSON Schema draft-07.
function compileSchemas(document) {
  const out = [];
  const compiled = new Set();
  for (const message of document.allMessages()) {
    const id = message.id() ?? message.name() ?? "?";
    for (const [part, schema] of [["payload", message.payload()], ["headers", message.headers()]]) {
      if (!schema) continue;
      let key;
      try {
        const json = schema.json();
        key = JSON.stringify(json);
        if (compiled.has(key)) continue;
        ajv.compile(json);
        compiled.add(key);
      } catch (e) {
        const at = (schema.meta()?.pointer ?? "").split("/").slice(1).map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
        out.push(own("oms-schema-compile", at, `message ${id}: its ${part} is not a usable JSON Schema draft-07: ${e.message}`));
      }
    }
  }
  return out;
}

async function check(file, strict) {
  let text;
  let raw;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { failed: true, diagnostics: [own("oms-unreadable", [], e.message)] };
  }
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { failed: true, diagnostics: [own("oms-not-json", [], `not JSON: ${e.message}`)] };
  }
  const refs = externalRefs(raw);
  if (refs.length) return { failed: true, diagnostics: refs };

  let document;
  let diagnostics;
  try {
    ({ document, diagnostics } = await parser.parse(text, { source: file }));
  } catch (e) {
    return { failed: true, diagnostics: [own("oms-parser-threw", [], `the parser threw: ${e.stack ?? e}`)] };
  }
  diagnostics = [...diagnostics];
  if (document) diagnostics.push(...compileSchemas(document));
  const limit = strict ? 1 : 0;
  const failed = !document || diagnostics.some((d) => d.severity <= limit);
  if (!document && !diagnostics.some((d) => d.severity === 0))
    diagnostics.push(own("oms-not-parsed", [], "the parser returned no document"));
  let summary = "";
  if (document) {
    summary = `${document.channels().length} channels, ${document.operations().length} operations, ` +
      `${document.allMessages().length} messages`;
  }
  return { failed, diagnostics, summary, version: raw?.asyncapi };
}

const args = process.argv.slice(2);
const strict = args.includes("--strict");
const files = args.filter((a) => a !== "--strict");
if (files.length === 0 || files.some((f) => f.startsWith("--"))) {
  console.error("usage: node validate.mjs [--strict] asyncapi.json [more.json ...]");
  process.exit(2);
}
let invalid = 0;
for (const file of files) {
  const { failed, diagnostics, summary, version } = await check(file, strict);
  if (failed) {
    invalid++;
    console.error(`${file}: invalid AsyncAPI document (${diagnostics.length} diagnostics):`);
    for (const d of diagnostics) console.error(`  ${describe(d)}`);
  } else {
    console.log(`${file}: valid AsyncAPI ${version}: ${summary}` +
      (diagnostics.length ? ` (${diagnostics.length} diagnostics below, none an error)` : ""));
    for (const d of diagnostics) console.log(`  ${describe(d)}`);
  }
}
process.exit(invalid ? 1 : 0);
