/**
 * The one derivation of a tool's JSON Schema from its zod `parameters`, shared by both reply
 * protocols (the envelope's prompt and `response_format`, native `tools`), and
 * {@link ToolSchemaError} for parameters the model could never satisfy.
 *
 * @module
 */
import * as z from "zod";
import { isJSONSchema } from "./_json_schema.ts";

/**
 * A tool's `parameters` use a type that JSON cannot carry (`z.date()`, `z.bigint()`,
 * `z.custom()`, `z.function()`, `z.map()`, a bare `z.transform()`, …): the model writes JSON,
 * so no call could ever pass validation. Thrown by `defineTool()` and `new Agent()`, naming
 * the tool and the field, with the fix.
 *
 * @example Accept a date the model can write
 * ```ts
 * import * as z from "zod";
 * import { defineTool, ToolSchemaError } from "@ai-agent/orchestrator";
 * try {
 *   defineTool({
 *     name: "remind",
 *     description: "Sets a reminder.",
 *     parameters: z.object({ at: z.date() }),
 *     execute: ({ at }) => at.toISOString(),
 *   });
 * } catch (err) {
 *   if (err instanceof ToolSchemaError) console.error(err.field, err.message);
 * }
 * // Works: parameters: z.object({ at: z.coerce.date() }) or z.object({ at: z.iso.datetime() })
 * ```
 */
export class ToolSchemaError extends TypeError {
  /** Stable error name, safe to compare against. */
  override name: "ToolSchemaError" = "ToolSchemaError" as const;
  /** The tool's name. */
  readonly tool: string;
  /** The field, as a path like `at` or `items[].when` (`""` for the whole schema). */
  readonly field: string;
  /** The zod type that JSON cannot carry, e.g. `"date"`. */
  readonly zodType: string;

  /**
   * Creates the error.
   *
   * @param message What is wrong and how to fix it.
   * @param details The tool, the field and the zod type.
   */
  constructor(message: string, details: { tool: string; field: string; zodType: string }) {
    super(message);
    this.tool = details.tool;
    this.field = details.field;
    this.zodType = details.zodType;
  }
}

/**
 * Tool parameters as a plain JSON Schema object: `type: "object"`, its `properties` and any
 * other keyword of JSON Schema drafts 4, 7, 2019-09 or 2020-12 (`$schema` picks the draft;
 * 2020-12 when absent). The schema is sent to the model as it is (minus `$schema`), and the
 * model's arguments are checked against it before `execute` runs. Defaults are not applied.
 *
 * @example
 * ```ts
 * import type { JSONSchemaObject } from "@ai-agent/orchestrator";
 * const parameters: JSONSchemaObject = {
 *   type: "object",
 *   properties: { city: { type: "string" } },
 *   required: ["city"],
 * };
 * ```
 */
export interface JSONSchemaObject {
  /** Tool arguments are always a JSON object. */
  readonly type: "object";
  /** The fields, each a JSON Schema. */
  readonly properties?: { readonly [field: string]: unknown };
  /** The fields the model must send. */
  readonly required?: readonly string[];
  /** Any other JSON Schema keyword. */
  readonly [keyword: string]: unknown;
}

/** What to write instead, by zod type. */
const FIXES: Readonly<Record<string, string>> = {
  date: "use z.iso.datetime() (an ISO string) or z.coerce.date() (an ISO string, given to " +
    "execute as a Date)",
  bigint: "use z.int() or z.coerce.bigint() (a JSON integer, given to execute as a BigInt)",
  map: "use z.record(z.string(), …) (a JSON object)",
  set: "use z.array(…) (a JSON array)",
  transform: "put the transform after a JSON type, e.g. z.string().transform(…)",
  undefined: "use .optional() on a JSON type",
  void: "use .optional() on a JSON type",
  nan: "use z.number()",
};
const JSON_ONLY = "the model can only send JSON: use a JSON type (string, number, boolean, " +
  "array, object) and convert in execute";
const UNREPRESENTABLE = new Set([
  ...Object.keys(FIXES),
  "custom",
  "function",
  "symbol",
  "promise",
]);

/**
 * The JSON Schema of a tool's arguments as the model should write them: a plain JSON Schema
 * as it is (a copy, without `$schema`); for zod, the input side of the schema (fields with defaults are optional, transforms are described by what they
 * accept), without `$schema`. `z.coerce.date()` becomes an ISO date-time string and
 * `z.coerce.bigint()` an integer, which is what they accept from JSON.
 *
 * @throws {ToolSchemaError} When a field's type cannot be written in JSON.
 */
export function toolParametersSchema(
  tool: { name: string; parameters: unknown },
): Record<string, unknown> {
  if (isJSONSchema(tool.parameters)) {
    // A JSON-Schema tool: the schema is what the model gets, as it is.
    const { $schema: _, ...schema } = structuredClone(tool.parameters) as Record<string, unknown>;
    return schema;
  }
  let problem: { field: string; zodType: string } | undefined;
  const schema = z.toJSONSchema(tool.parameters as z.ZodType, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { type: string; coerce?: boolean };
      if (def.coerce === true && def.type === "date") {
        Object.assign(ctx.jsonSchema, { type: "string", format: "date-time" });
      } else if (def.coerce === true && def.type === "bigint") {
        Object.assign(ctx.jsonSchema, { type: "integer" });
      } else if (UNREPRESENTABLE.has(def.type)) {
        problem ??= { field: fieldPath(ctx.path), zodType: def.type };
      }
    },
  }) as Record<string, unknown>;
  if (problem) {
    const where = problem.field === "" ? "its parameters" : `field "${problem.field}"`;
    throw new ToolSchemaError(
      `Tool "${tool.name}": ${where} is a z.${problem.zodType}(), which the model cannot ` +
        `write as JSON, so every call would fail validation; ${
          FIXES[problem.zodType] ?? JSON_ONLY
        }`,
      { tool: tool.name, ...problem },
    );
  }
  delete schema.$schema;
  return schema;
}

/** A JSON Schema path (`properties`, `at`, `items`, …) as a field path (`at[]`). */
function fieldPath(path: readonly (string | number)[]): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (part === "properties" || part === "patternProperties") {
      const key = String(path[++i] ?? "");
      out += out === "" ? key : `.${key}`;
    } else if (part === "items" || part === "prefixItems") {
      out += "[]";
    } else if (part === "additionalProperties") {
      out += "{}";
    }
  }
  return out;
}

/** A tool as the protocols describe it to the model (its schema derived once). */
export interface ToolDescription {
  name: string;
  description: string;
  /** From {@link toolParametersSchema}. */
  schema: Record<string, unknown>;
}

/** Derives every tool's schema once, for the protocols (see {@link toolParametersSchema}). */
export function describeTools(
  tools: readonly { name: string; description: string; parameters: unknown }[],
): ToolDescription[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    schema: toolParametersSchema(tool),
  }));
}
