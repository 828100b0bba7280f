// One JSON-Schema derivation for both protocols (src/tool_schema.ts): parameters the model
// cannot write as JSON are rejected when the tool or agent is defined, with a ToolSchemaError
// naming the field and the fix; what the model can write is described the same way in the
// envelope prompt, the envelope response_format and native `tools`. Regressions for the two
// derivations that disagreed (defaults required in one mode, optional in the other; a native
// agent with a z.date() field that failed only at run time with zod's plain Error).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  type AnyTool,
  defineTool,
  LMStudioClient,
  ToolSchemaError,
  type ToolSpec,
} from "../mod.ts";
import { createFakeLMStudio } from "../testing.ts";

const tool = (parameters: z.ZodObject) => ({
  name: "t",
  description: "A tool.",
  parameters,
  execute: () => "ok",
});

function rejects(parameters: z.ZodObject, field: string, zodType: string, fix: RegExp): void {
  const check = (err: unknown) => {
    assert.ok(err instanceof ToolSchemaError, String(err));
    assert.ok(err instanceof TypeError);
    assert.equal(err.name, "ToolSchemaError");
    assert.equal(err.tool, "t");
    assert.equal(err.field, field);
    assert.equal(err.zodType, zodType);
    assert.match(err.message, new RegExp(`field "${field.replace(/[[\]]/g, "\\$&")}"`));
    assert.match(err.message, fix);
    return true;
  };
  assert.throws(() => defineTool(tool(parameters)), check);
  // A tool written as a plain object (no defineTool) is caught by the agent.
  assert.throws(() => new Agent({ tools: [tool(parameters)] as AnyTool[] }), check);
}

describe("tool schemas the model cannot satisfy are rejected up front", () => {
  test("z.date() → suggests z.iso.datetime() or z.coerce.date()", () => {
    rejects(z.object({ at: z.date().optional() }), "at", "date", /z\.iso\.datetime\(\)/);
  });
  test("z.bigint()", () => rejects(z.object({ n: z.bigint() }), "n", "bigint", /z\.int\(\)/));
  test("z.custom()", () => rejects(z.object({ c: z.custom() }), "c", "custom", /only send JSON/));
  test("z.function()", () => rejects(z.object({ f: z.function() }), "f", "function", /JSON/));
  test("z.map()", () =>
    rejects(z.object({ m: z.map(z.string(), z.string()) }), "m", "map", /record/));
  test("z.set()", () => rejects(z.object({ s: z.set(z.string()) }), "s", "set", /z\.array/));
  test("a bare z.transform()", () => {
    rejects(z.object({ x: z.transform((v) => v) }), "x", "transform", /after a JSON type/);
  });
  test("nested fields are named by their path", () => {
    rejects(
      z.object({ items: z.array(z.object({ when: z.date() })) }),
      "items[].when",
      "date",
      /z\.coerce\.date\(\)/,
    );
  });
});

describe("one derivation for both protocols", () => {
  const search = defineTool({
    name: "search",
    description: "Searches.",
    parameters: z.object({ q: z.string(), limit: z.number().int().default(5) }),
    execute: ({ q, limit }) => `${q}:${limit}`,
  });

  async function firstRequest(protocol: "envelope" | "native") {
    const reply = protocol === "native" ? { content: "done" } : {
      content: JSON.stringify({ type: "final", content: "done" }),
    };
    const fake = createFakeLMStudio({ replies: [reply] });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m" });
    await new Agent({ client, tools: [search], protocol }).run("q");
    return fake.chatRequests[0]!.body!;
  }

  test("a defaulted field is optional in native tools and in the envelope's response_format", async () => {
    const native = (await firstRequest("native")).tools as ToolSpec[];
    const nativeSchema = native[0]!.function.parameters as { required: string[] };
    assert.deepEqual(nativeSchema.required, ["q"]);

    const format = (await firstRequest("envelope")).response_format as {
      json_schema: { schema: { anyOf: { properties: { arguments: unknown } }[] } };
    };
    const envelopeSchema = format.json_schema.schema.anyOf[1]!.properties.arguments;
    assert.deepEqual(envelopeSchema, nativeSchema);
  });

  test("z.coerce.date() is described as an ISO date-time string, and execute gets a Date", async () => {
    let received: unknown;
    const remind = defineTool({
      name: "remind",
      description: "Sets a reminder.",
      parameters: z.object({ at: z.coerce.date() }),
      execute: ({ at }) => {
        received = at;
        return "set";
      },
    });
    const fake = createFakeLMStudio({
      replies: [
        { toolCalls: [{ name: "remind", arguments: { at: "2026-12-01T10:00:00Z" } }] },
        { content: "Reminder set." },
      ],
    });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m" });
    const result = await new Agent({ client, tools: [remind], protocol: "native" }).run("remind");
    assert.equal(result.text, "Reminder set.");
    const spec = (fake.chatRequests[0]!.body!.tools as ToolSpec[])[0]!;
    assert.deepEqual(
      (spec.function.parameters as { properties: unknown }).properties,
      { at: { type: "string", format: "date-time" } },
    );
    assert.ok(received instanceof Date);
    assert.equal((received as Date).toISOString(), "2026-12-01T10:00:00.000Z");
  });
});
