// Typed final output (AgentOptions.output): the schema's JSON Schema for the protocols, and
// the check of a final answer against it. A mismatch becomes a protocol violation in the loop
// (one corrective retry), so the rule is the same for every protocol.
import * as z from "zod";
import type { ObjectSchema } from "./tools.ts";
import { toolParametersSchema } from "./tool_schema.ts";
import { clip } from "./_text.ts";
import type { OutputCheck } from "./_loop.ts";

/** The JSON Schema of an output schema (the input side, as the model writes it). */
export function outputJsonSchema(schema: ObjectSchema<unknown>): Record<string, unknown> {
  return toolParametersSchema({ name: "output", parameters: schema });
}

const FENCED = /^```(?:json)?\s*\n?([\s\S]*?)\n?\s*```$/i;

/** The check the loop runs on every final answer. */
export function outputCheck(schema: ObjectSchema<unknown>): OutputCheck {
  const zod = schema as unknown as z.ZodType;
  return (content) => {
    const trimmed = content.trim();
    const text = FENCED.exec(trimmed)?.[1]?.trim() ?? trimmed;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return {
        ok: false,
        reason: `the final answer must be one JSON object matching the output schema, but it ` +
          `is not valid JSON: ${JSON.stringify(clip(text, 200))}`,
      };
    }
    const parsed = zod.safeParse(json);
    if (!parsed.success) {
      return {
        ok: false,
        reason: `the final answer does not match the output schema: ${
          z.prettifyError(parsed.error)
        }`,
      };
    }
    return { ok: true, value: parsed.data, text };
  };
}
