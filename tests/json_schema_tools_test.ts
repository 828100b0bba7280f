import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, defineTool, type JSONSchemaObject } from "../mod.ts";
import { createScriptedModel, envelope, native } from "../testing.ts";
import { createToolRegistry, runTool } from "../src/tools.ts";
import { toolParametersSchema } from "../src/tool_schema.ts";

const options = () => ({ signal: new AbortController().signal, step: 1, callId: "c1" });

const addSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  properties: { a: { type: "number" }, b: { type: "number" } },
  required: ["a", "b"],
  additionalProperties: false,
} as const satisfies JSONSchemaObject;

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: addSchema,
  execute: (args) => Number(args.a) + Number(args.b),
});

describe("JSON-Schema tools", () => {
  test("valid arguments reach execute as sent", async () => {
    const outcome = await runTool(createToolRegistry([add]), "add", { a: 2, b: 3 }, options());
    assert.equal(outcome.ok, true);
    assert.equal(outcome.ok && outcome.output, "5");
    assert.deepEqual(outcome.args, { a: 2, b: 3 });
  });

  test("invalid arguments are an invalid_arguments outcome with a readable message", async () => {
    let ran = false;
    const tool = defineTool({
      name: "add",
      description: "Adds.",
      parameters: addSchema,
      execute: () => (ran = true),
    });
    const outcome = await runTool(createToolRegistry([tool]), "add", { a: "2" }, options());
    assert.equal(ran, false);
    assert.equal(outcome.ok, false);
    if (outcome.ok) return;
    assert.equal(outcome.kind, "invalid_arguments");
    assert.equal(
      outcome.error,
      '✖ Instance does not have required property "b".\n' +
        '✖ Instance type "string" is invalid. Expected "number".\n  → at a',
    );
    assert.ok(Array.isArray(outcome.cause));
  });

  test("nested paths, $ref and keywords zod's fromJSONSchema rejects (if/then, not)", async () => {
    const tool = defineTool({
      name: "order",
      description: "Places an order.",
      parameters: {
        type: "object",
        $defs: { Item: { type: "object", properties: { qty: { type: "integer", minimum: 1 } } } },
        properties: {
          items: { type: "array", items: { $ref: "#/$defs/Item" } },
          kind: { type: "string", not: { const: "free" } },
        },
        if: { properties: { kind: { const: "gift" } }, required: ["kind"] },
        then: { required: ["note"] },
      },
      execute: () => "ok",
    });
    const registry = createToolRegistry([tool]);
    const bad = await runTool(registry, "order", { items: [{ qty: 1 }, { qty: 0 }] }, options());
    assert.equal(bad.ok === false && bad.kind, "invalid_arguments");
    assert.match(bad.ok ? "" : bad.error, /→ at items\[1\]\.qty/);
    const notFree = await runTool(registry, "order", { kind: "free" }, options());
    assert.equal(notFree.ok, false);
    const gift = await runTool(registry, "order", { kind: "gift" }, options());
    assert.match(gift.ok ? "" : gift.error, /required property "note"/);
    const good = await runTool(registry, "order", { kind: "gift", note: "hi" }, options());
    assert.equal(good.ok, true);
  });

  test("the model gets the schema as it is, minus $schema", () => {
    const { $schema: _, ...expected } = addSchema;
    assert.deepEqual(toolParametersSchema(add), expected);
    assert.equal(addSchema.$schema.length > 0, true, "the tool's own schema is not modified");
  });

  test("draft-07 schemas (definitions) are read as draft-07", async () => {
    const tool = defineTool({
      name: "d7",
      description: "Draft 7.",
      parameters: {
        $schema: "http://json-schema.org/draft-07/schema#",
        type: "object",
        properties: { p: { $ref: "#/definitions/P" } },
        definitions: { P: { type: "integer" } },
      },
      execute: () => "ok",
    });
    const outcome = await runTool(createToolRegistry([tool]), "d7", { p: "x" }, options());
    assert.equal(outcome.ok === false && outcome.kind, "invalid_arguments");
  });

  test("defineTool rejects a non-object schema and prototype keys", () => {
    assert.throws(
      () =>
        defineTool({
          name: "x",
          description: "X.",
          parameters: { type: "string" } as unknown as JSONSchemaObject,
          execute: () => 1,
        }),
      { name: "TypeError", message: /type "object"/ },
    );
    assert.throws(
      () =>
        defineTool({
          name: "x",
          description: "X.",
          parameters: { type: "object", properties: { constructor: { type: "string" } } },
          execute: () => 1,
        }),
      { name: "TypeError", message: /"constructor"/ },
    );
  });

  test("an agent sends the schema natively and feeds validation errors back", async () => {
    const model = createScriptedModel([
      native.toolCalls([{ name: "add", arguments: { a: 1 } }]),
      native.toolCalls([{ name: "add", arguments: { a: 1, b: 2 } }]),
      native.final("3"),
    ]);
    const agent = new Agent({ client: model, tools: [add], protocol: "native" });
    const result = await agent.run("1+2?");
    assert.equal(result.text, "3");
    const sent = model.requests[0]!.tools as { function: { parameters: unknown } }[];
    const { $schema: _, ...expected } = addSchema;
    assert.deepEqual(sent[0]!.function.parameters, expected);
    const entries = result.transcript.filter((e) => e.type === "tool_error");
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.type === "tool_error" && entries[0]!.kind, "invalid_arguments");
    assert.ok(result.transcript.some((e) => e.type === "tool_result" && e.output === "3"));
  });

  test("the envelope protocol runs JSON-Schema tools too", async () => {
    const model = createScriptedModel([
      envelope.toolCall("add", { a: 4, b: 5 }),
      envelope.final("9"),
    ]);
    const result = await new Agent({ client: model, tools: [add] }).run("4+5?");
    assert.ok(result.transcript.some((e) => e.type === "tool_result" && e.output === "9"));
  });
});
