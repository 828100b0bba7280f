// The `response_format` that makes grammar-constrained servers (LM Studio, llama.cpp) produce
// only valid envelopes.
import type { ResponseFormat } from "../chat.ts";
import type { ToolDescription } from "./_reply_protocol.ts";

/**
 * Builds the `response_format` that makes grammar-constrained servers (LM Studio, llama.cpp)
 * produce only valid envelopes: a JSON Schema `anyOf` with the final-answer object and, per
 * tool, a `tool_call` object whose `tool` is that tool's name (a `const`) and whose `arguments`
 * is that tool's argument schema. `"type"` is the first property of every branch, so a
 * streaming reader sees it before `"content"`. With `finalOnly: true` (or no tools) only the
 * final branch is allowed. With `output` (typed output), the final's `content` is that schema.
 *
 * Argument schemas are the tools' derived schemas (src/tool_schema.ts), copied; their `$defs` (recursive or reused schemas) are moved to the root, renamed
 * `<tool>:<def>`, with `$ref`s rewritten to match.
 *
 * @param tools The tools the model may call.
 * @param options `finalOnly`: allow only the final answer (for the max-steps fallback);
 *   `output`: the JSON Schema of the final's `content` (default: a string).
 * @returns `{ type: "json_schema", json_schema: { name: "agent_reply", strict: true, schema } }`.
 */
export function buildResponseFormat(
  tools: readonly ToolDescription[],
  options: { finalOnly?: boolean; output?: Record<string, unknown> } = {},
): ResponseFormat {
  const defs: Record<string, unknown> = {};
  // Typed output: the final's content is the output schema ("$output" cannot be a tool name,
  // so its $defs never collide with a tool's).
  const content = options.output
    ? embeddable(structuredClone(options.output), "$output", defs)
    : { type: "string" };
  const branches: Record<string, unknown>[] = [{
    type: "object",
    properties: { type: { type: "string", const: "final" }, content },
    required: ["type", "content"],
    additionalProperties: false,
  }];
  if (options.finalOnly !== true) {
    for (const tool of tools) {
      branches.push({
        type: "object",
        properties: {
          type: { type: "string", const: "tool_call" },
          tool: { type: "string", const: tool.name },
          arguments: embeddable(structuredClone(tool.schema), tool.name, defs),
        },
        required: ["type", "tool", "arguments"],
        additionalProperties: false,
      });
    }
  }
  const schema: Record<string, unknown> = { anyOf: branches };
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return { type: "json_schema", json_schema: { name: "agent_reply", strict: true, schema } };
}

/**
 * Makes a standalone JSON Schema safe to embed below the root of another: its `$defs` move
 * into `defs` under `<prefix>:<name>`, and its `$ref`s (`#/$defs/x`, and `#` for a schema that
 * refers to itself) are rewritten, since they would otherwise resolve against the new root.
 */
function embeddable(
  schema: Record<string, unknown>,
  prefix: string,
  defs: Record<string, unknown>,
): Record<string, unknown> {
  const ownDefs = (schema.$defs ?? {}) as Record<string, unknown>;
  delete schema.$defs;
  // ":" cannot occur in tool names, so `<tool>:<def>` never collides with another tool's keys.
  const pointer = (name: string) => `#/$defs/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  const renamed = new Map<string, string>([["#", pointer(prefix)]]);
  for (const name of Object.keys(ownDefs)) {
    renamed.set(pointer(name), pointer(`${prefix}:${name}`));
    renamed.set(`#/$defs/${name}`, pointer(`${prefix}:${name}`));
  }
  let selfReferenced = false;
  const rewrite = (node: unknown): void => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(rewrite);
    const record = node as Record<string, unknown>;
    delete record.$schema;
    if (typeof record.$ref === "string" && renamed.has(record.$ref)) {
      if (record.$ref === "#") selfReferenced = true;
      record.$ref = renamed.get(record.$ref);
    }
    for (const value of Object.values(record)) rewrite(value);
  };
  rewrite(schema);
  for (const [name, def] of Object.entries(ownDefs)) {
    rewrite(def);
    defs[`${prefix}:${name}`] = def;
  }
  // The root refers to itself: keep a copy of it where its (rewritten) refs point.
  if (selfReferenced) defs[prefix] = structuredClone(schema);
  return schema;
}
