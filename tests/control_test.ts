// Controlling a run: prepareStep changes what is sent (checked on the recorded requests), the
// repeat guard, the run's token budget, and typed final output (envelope and native, valid
// and invalid replies).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import { Agent, type AgentEvent, MAX_STEPS_FALLBACK_TEXT, ProtocolError } from "../mod.ts";
import { createScriptedModel, envelope, native } from "../testing.ts";
import { makeTools } from "./_kit/tools_kit.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

const lastUser = (messages: readonly { role: string; content?: unknown }[]) =>
  String(messages.filter((m) => m.role === "user" || m.role === "tool").at(-1)?.content);

describe("prepareStep", () => {
  test("changes the step's params, tools and instructions in what is sent", async () => {
    const { add, multiply, executed } = makeTools();
    const model = createScriptedModel([
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.toolCall("add", { a: 3, b: 4 }),
      envelope.final("done"),
    ]);
    const seen: { step: number; messages: number; tokens: number }[] = [];
    const agent = new Agent({
      client: model,
      tools: [add, multiply],
      params: { temperature: 0.5 },
      prepareStep: ({ step, messages, usage }) => {
        seen.push({ step, messages: messages.length, tokens: usage.totalTokens });
        if (step === 2) {
          return { params: { temperature: 0, max_tokens: 50 }, tools: ["multiply"] };
        }
        if (step === 3) return { instructions: "Answer in one word.", tools: [] };
      },
    });
    await agent.run("go");
    const [r1, r2, r3] = model.requests;
    assert.deepEqual(seen.map((s) => [s.step, s.messages]), [[1, 1], [2, 3], [3, 5]]);
    assert.equal(r1!.temperature, 0.5);
    assert.equal(r2!.temperature, 0);
    assert.equal(r2!.max_tokens, 50);
    assert.equal(r3!.temperature, 0.5);
    const system = (r: typeof r1) => String(r!.messages[0]!.content);
    assert.match(system(r1), /## add/);
    assert.match(system(r1), /## multiply/);
    assert.doesNotMatch(system(r2), /## add/);
    assert.match(system(r2), /## multiply/);
    const schema = JSON.stringify(r2!.response_format);
    assert.match(schema, /"multiply"/);
    assert.doesNotMatch(schema, /"const":"add"/);
    assert.match(system(r3), /Answer in one word\.$/);
    assert.doesNotMatch(system(r3), /## multiply/);
    assert.equal(system(r1), agent.systemPrompt);
    // add was not available in step 2: the call is an unknown tool there, not run.
    assert.deepEqual(executed, ["add(1,2)"]);
    assert.match(lastUser(r3!.messages), /unknown_tool/);
  });

  test("native: the step's tools are the tools sent", async () => {
    const { add, multiply } = makeTools();
    const model = createScriptedModel([native.final("hi")]);
    await new Agent({
      client: model,
      tools: [add, multiply],
      protocol: "native",
      prepareStep: () => ({ tools: ["add"] }),
    }).run("go");
    assert.deepEqual(model.requests[0]!.tools?.map((t) => t.function.name), ["add"]);
  });

  test("a tool name the agent does not have is a TypeError", async () => {
    const { add } = makeTools();
    const agent = new Agent({
      client: createScriptedModel([envelope.final("x")]),
      tools: [add],
      prepareStep: () => ({ tools: ["nope"] }),
    });
    await assert.rejects(agent.run("go"), /prepareStep: tools must name tools of this agent/);
  });
});

describe("the repeat guard", () => {
  test("the same call the third time in a row is not run; the model is told, an event says so", async () => {
    const { add, executed } = makeTools();
    const model = createScriptedModel([
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.toolCall("add", { b: 2, a: 1 }), // same call, other key order
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.final("3"),
    ]);
    const events: AgentEvent[] = [];
    const result = await new Agent({ client: model, tools: [add], onEvent: (e) => events.push(e) })
      .run("add");
    assert.deepEqual(executed, ["add(1,2)", "add(1,2)"]);
    const repeated = events.filter((e) => e.type === "repeated_call");
    assert.equal(repeated.length, 1);
    assert.equal(repeated[0]?.type === "repeated_call" && repeated[0].count, 3);
    assert.match(lastUser(model.requests[3]!.messages), /already have its result/);
    assert.equal(result.text, "3");
  });

  test("maxRepeatedCalls changes N; a different call in between resets the count", async () => {
    const { add, multiply, executed } = makeTools();
    const model = createScriptedModel([
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.toolCall("multiply", { x: 1, y: 2 }),
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.final("3"),
    ]);
    await new Agent({ client: model, tools: [add, multiply], maxRepeatedCalls: 2 }).run("x");
    assert.deepEqual(executed, ["add(1,2)", "multiply(1,2)", "add(1,2)"]);
    assert.throws(() => new Agent({ maxRepeatedCalls: 0 }), RangeError);
  });
});

describe("the token budget", () => {
  test("ends the run through the max-steps fallback once the summed usage reaches it", async () => {
    const { add, executed } = makeTools();
    const usage = { prompt_tokens: 40, completion_tokens: 10, total_tokens: 50 };
    const model = createScriptedModel([
      envelope.toolCall("add", { a: 1, b: 2 }, { usage }),
      envelope.toolCall("add", { a: 3, b: 4 }, { usage }),
      envelope.final("7 so far", { usage }),
    ]);
    const events: AgentEvent[] = [];
    const stream = new Agent({
      client: model,
      tools: [add],
      maxTotalTokens: 100,
      onEvent: (e) => events.push(e),
    }).stream("add");
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const result = await stream.result;
    assert.equal(result.stopReason, "token_budget");
    assert.equal(result.text, "7 so far");
    assert.equal(result.steps, 2);
    assert.deepEqual(executed, ["add(1,2)", "add(3,4)"]);
    assert.equal(model.calls.length, 3);
    assert.equal(result.usage.totalTokens, 150);
    assert.equal(chunks.at(-1)?.step, 3);
    assert.equal(chunks.at(-1)?.isFinal, true);
    const budget = events.find((e) => e.type === "token_budget");
    assert.deepEqual(budget, { type: "token_budget", step: 3, used: 100, limit: 100 });
    assert.ok(!events.some((e) => e.type === "max_steps"));
    // The fallback call allows only a final answer.
    assert.doesNotMatch(JSON.stringify(model.requests[2]!.response_format), /tool_call/);
  });
});

describe("typed output", () => {
  const Weather = z.object({ city: z.string(), tempC: z.number() });

  test("envelope: content is a JSON object constrained by the schema; result.output is typed", async () => {
    const model = createScriptedModel([
      { content: JSON.stringify({ type: "final", content: { city: "Oslo", tempC: -3 } }) },
    ]);
    const agent = new Agent({ client: model, output: Weather });
    const result = await agent.run("Weather in Oslo?");
    // Type-level: output is the schema's type (a compile error otherwise).
    const typed: Equal<typeof result.output, { city: string; tempC: number } | undefined> = true;
    const untyped: Equal<Awaited<ReturnType<Agent["run"]>>["output"], undefined> = true;
    assert.ok(typed && untyped);
    assert.deepEqual(result.output, { city: "Oslo", tempC: -3 });
    assert.deepEqual(JSON.parse(result.text), { city: "Oslo", tempC: -3 });
    const format = model.requests[0]!.response_format as {
      json_schema: { schema: { anyOf: { properties: { content: unknown } }[] } };
    };
    const content = format.json_schema.schema.anyOf[0]!.properties.content as {
      type: string;
      properties: Record<string, unknown>;
    };
    assert.equal(content.type, "object");
    assert.deepEqual(Object.keys(content.properties), ["city", "tempC"]);
    assert.match(agent.systemPrompt, /JSON object \(not a string\) matching this JSON Schema/);
    // The history keeps the object the model wrote.
    assert.deepEqual(JSON.parse(String(result.messages.at(-1)!.content)), {
      type: "final",
      content: { city: "Oslo", tempC: -3 },
    });
  });

  test("envelope: a mismatch gets one corrective retry naming the problem", async () => {
    const model = createScriptedModel([
      { content: JSON.stringify({ type: "final", content: { city: "Oslo" } }) },
      { content: JSON.stringify({ type: "final", content: { city: "Oslo", tempC: 1 } }) },
    ]);
    const events: AgentEvent[] = [];
    const result = await new Agent({
      client: model,
      output: Weather,
      onEvent: (e) => events.push(e),
    }).run("?");
    assert.deepEqual(result.output, { city: "Oslo", tempC: 1 });
    const retry = events.find((e) => e.type === "protocol_retry");
    assert.match(retry?.type === "protocol_retry" ? retry.reason : "", /tempC/);
    assert.match(lastUser(model.requests[1]!.messages), /does not match the output schema/);
  });

  test("a second mismatch is a ProtocolError", async () => {
    const bad = { content: JSON.stringify({ type: "final", content: "sunny" }) };
    await assert.rejects(
      new Agent({ client: createScriptedModel([bad, bad]), output: Weather }).run("?"),
      ProtocolError,
    );
  });

  test("native: the answer text is parsed and validated; streamed chunks carry the JSON text", async () => {
    const good = native.final('```json\n{"city":"Lisbon","tempC":24}\n```');
    const model = createScriptedModel([native.final("It is sunny."), good]);
    const agent = new Agent({ client: model, output: Weather, protocol: "native" });
    const stream = agent.stream("?");
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk.text);
    const result = await stream.result;
    assert.deepEqual(result.output, { city: "Lisbon", tempC: 24 });
    assert.equal(chunks.join(""), '{"city":"Lisbon","tempC":24}');
    assert.equal(result.text, '{"city":"Lisbon","tempC":24}');
    assert.match(lastUser(model.requests[1]!.messages), /not valid JSON/);
    assert.match(String(model.requests[0]!.messages[0]!.content), /matching this JSON Schema/);
  });

  test("the max-steps fallback without a valid answer has no output", async () => {
    const { add } = makeTools();
    const result = await new Agent({
      client: createScriptedModel([
        envelope.toolCall("add", { a: 1, b: 2 }),
        envelope.final("not an object"),
      ]),
      tools: [add],
      maxSteps: 1,
      output: Weather,
    }).run("?");
    assert.equal(result.stopReason, "max_steps");
    assert.equal(result.text, MAX_STEPS_FALLBACK_TEXT);
    assert.equal(result.output, undefined);
  });

  test("output with live is refused", () => {
    assert.throws(() => new Agent({ output: Weather, live: true }), /cannot stream live/);
  });
});
