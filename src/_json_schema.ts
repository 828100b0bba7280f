/**
 * Tool parameters written as plain JSON Schema (for MCP servers and for users without zod):
 * recognising them, checking their shape, and validating a model's arguments against them.
 *
 * The validator is `@cfworker/json-schema`: an interpreter (no `eval` / `new Function`, so it
 * runs in edge workers), covering drafts 4, 7, 2019-09 and 2020-12 including `if`/`then`,
 * `not`, `unevaluatedProperties` and `dependentRequired`, which zod's `fromJSONSchema` rejects.
 *
 * @module
 */
import { type OutputUnit, type SchemaDraft, Validator } from "@cfworker/json-schema";
import { describeValue } from "./_text.ts";
import type { JSONSchemaObject } from "./tool_schema.ts";

/** Whether `parameters` is a plain JSON Schema (a plain object with `type`), not zod. */
export function isJSONSchema(parameters: unknown): parameters is JSONSchemaObject {
  if (parameters === null || typeof parameters !== "object") return false;
  if ("_zod" in parameters || "_def" in parameters || "~standard" in parameters) return false;
  // `type` tells a schema from a mistaken zod shape such as `{ a: z.number() }`.
  if (!("type" in parameters)) return false;
  const proto = Object.getPrototypeOf(parameters);
  return proto === Object.prototype || proto === null;
}

/**
 * Throws a TypeError unless `schema` describes an object and compiles; returns the property
 * names it declares (so the caller can refuse prototype keys).
 */
export function checkJSONSchema(schema: JSONSchemaObject, label: string): string[] {
  if (schema.type !== "object") {
    throw new TypeError(
      `${label}: parameters must be a zod object schema (z.object({...})) or a plain JSON ` +
        `Schema with type "object" (tool arguments are a JSON object); got a JSON Schema of ` +
        `type ${describeValue(schema.type)}`,
    );
  }
  const properties = schema.properties;
  if (properties !== undefined && (properties === null || typeof properties !== "object")) {
    throw new TypeError(
      `${label}: JSON Schema properties must be an object, got ${describeValue(properties)}`,
    );
  }
  try {
    validatorFor(schema);
  } catch (error) {
    throw new TypeError(`${label}: the JSON Schema cannot be used: ${String(error)}`, {
      cause: error,
    });
  }
  return Object.keys(properties ?? {});
}

/** The result of {@link validateJSONSchema}. */
export type JSONSchemaCheck =
  | { success: true; data: unknown }
  | { success: false; message: string; errors: readonly OutputUnit[] };

/**
 * Checks `args` against `schema`. The message lists the innermost problems, one per line, in
 * the layout of zod's `prettifyError` (`✖ problem` then `  → at field.path`), so the model
 * reads the same kind of feedback whichever way a tool was defined.
 */
export function validateJSONSchema(schema: JSONSchemaObject, args: unknown): JSONSchemaCheck {
  const result = validatorFor(schema).validate(args);
  if (result.valid) return { success: true, data: args };
  const errors = result.errors;
  // Keep the leaves: "Property "p" does not match schema" only wraps the real reason.
  const leaves = errors.filter((error) =>
    !errors.some((other) =>
      other !== error && other.keywordLocation.startsWith(`${error.keywordLocation}/`)
    )
  );
  const message = leaves.map((error) => {
    const path = fieldPath(error.instanceLocation);
    return path === "" ? `✖ ${error.error}` : `✖ ${error.error}\n  → at ${path}`;
  }).join("\n");
  return { success: false, message, errors };
}

/** `#/items/0/name` → `items[0].name`. */
function fieldPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.replace(/^#\/?/, "").split("/")) {
    if (raw === "") continue;
    const part = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    out += /^\d+$/.test(part) ? `[${part}]` : out === "" ? part : `.${part}`;
  }
  return out;
}

function validatorFor(schema: JSONSchemaObject): Validator {
  // Built per call: dereferencing is cheap next to a model call, and no cache to keep.
  return new Validator(schema as never, draftOf(schema.$schema), false);
}

function draftOf(uri: unknown): SchemaDraft {
  if (typeof uri !== "string") return "2020-12";
  if (uri.includes("draft-04")) return "4";
  if (uri.includes("draft-07") || uri.includes("draft-06")) return "7";
  if (uri.includes("2019-09")) return "2019-09";
  return "2020-12";
}
