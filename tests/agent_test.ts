// The agent's step loop against the fake LM Studio: multi-step tool runs, the model quirks the
// parser tolerates, the single corrective retry (stream and generate), tool problems fed back
// as observations, finish "length", the max-steps fallback, events, cancellation, concurrent
// runs, the json_schema request and its fallback, and argument validation.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  APIError,
  type ChatMessage,
  defineTool,
  LMStudioClient,
  type LMStudioClientOptions,
  MAX_STEPS_FALLBACK_TEXT,
  ProtocolError,
  type ToolContext,
} from "../mod.ts";
import { createFakeLMStudio, type FakeReply, type RecordedRequest } from "../testing.ts";
import { serve } from "./_kit/serve.ts";
import { collect, eventually, rejection, sleep, within } from "./_kit/async_kit.ts";
import { makeTools } from "./_kit/tools_kit.ts";

// ---- helpers ---------------------------------------------------------------------------------

const final = (content: string) => JSON.stringify({ type: "final", content });
const call = (tool: string, args: Record<string, unknown>) =>
  JSON.stringify({ type: "tool_call", tool, arguments: args });

type Replies = readonly FakeReply[] | ((request: RecordedRequest, index: number) => FakeReply);

/**
 * A fake server, a client on it, and the AbortSignal of every chat request the client made
 * (not its model-info lookups).
 */
function setup(replies: Replies, clientOptions: LMStudioClientOptions = {}) {
  const fake = createFakeLMStudio({ replies });
  const signals: AbortSignal[] = [];
  const client = new LMStudioClient({
    model: "m",
    retryBaseDelayMs: 1,
    ...clientOptions,
    fetch: (input, init) => {
      if (init?.signal && String(input).endsWith("/chat/completions")) signals.push(init.signal);
      return fake.fetch(input, init);
    },
  });
  return { fake, client, signals };
}

function messagesOf(request: RecordedRequest): ChatMessage[] {
  return (request.body?.messages ?? []) as ChatMessage[];
}

function lastContent(request: RecordedRequest): string {
  const last = messagesOf(request).at(-1);
  assert.ok(last, "request has messages");
  assert.equal(last.role, "user");
  return String(last.content);
}

const MODES = ["stream", "generate"] as const;

// ---- a multi-step tool run ---------------------------------------------------------------------

describe("multi-step tool run", () => {
  for (const modelCall of MODES) {
    test(`${modelCall}: two tool calls then a final answer → text, steps, usage, history, requests`, async () => {
      const { add, multiply, executed } = makeTools();
      const { fake, client } = setup([
        {
          content: call("add", { a: 2, b: 3 }),
          usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
        },
        {
          content: call("multiply", { x: 5, y: 4 }),
          usage: { prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 },
        },
        {
          content: final("The answer is 20."),
          usage: { prompt_tokens: 31, completion_tokens: 7, total_tokens: 38 },
        },
      ]);
      const agent = new Agent({
        client,
        tools: [add, multiply],
        modelCall,
        instructions: "Always show your work.",
      });
      const result = await agent.run("What is (2 + 3) * 4?");

      assert.equal(result.text, "The answer is 20.");
      assert.equal(result.steps, 3);
      assert.equal(result.stopReason, "final");
      assert.deepEqual(result.usage, { promptTokens: 63, completionTokens: 15, totalTokens: 78 });
      assert.deepEqual(executed, ["add(2,3)", "multiply(5,4)"]);

      // History: the user's prompt, then strict assistant/user alternation, no "tool" role.
      const roles = result.messages.map((m) => m.role);
      assert.deepEqual(roles, ["user", "assistant", "user", "assistant", "user", "assistant"]);
      assert.equal(result.messages[0]!.content, "What is (2 + 3) * 4?");
      assert.deepEqual(JSON.parse(String(result.messages[1]!.content)), {
        type: "tool_call",
        tool: "add",
        arguments: { a: 2, b: 3 },
      });
      assert.match(String(result.messages[2]!.content), /Tool "add" returned:\n5\n/);
      assert.match(
        String(result.messages[4]!.content),
        /Tool "multiply" returned:\n\{"product":20\}/,
      );
      assert.deepEqual(JSON.parse(String(result.messages[5]!.content)), {
        type: "final",
        content: "The answer is 20.",
      });

      // What the server received.
      const requests = fake.chatRequests;
      assert.equal(requests.length, 3);
      for (const request of requests) {
        assert.equal(request.body?.model, "m");
        assert.equal(request.body?.stream === true, modelCall === "stream");
        const messages = messagesOf(request);
        assert.equal(messages[0]!.role, "system");
        assert.ok(messages.every((m) => m.role !== "tool"), "no tool role in envelope mode");
        assert.ok(messages.slice(1).every((m, i) => m.role === (i % 2 ? "assistant" : "user")));
      }
      const system = String(messagesOf(requests[0]!)[0]!.content);
      for (
        const needle of [
          "## add",
          "Adds two numbers.",
          "## multiply",
          "Multiplies two numbers together.",
          '"a":{"type":"number"}',
          '"y":{"type":"integer"',
          "# Instructions",
          "Always show your work.",
          '{"type":"final","content":"<your answer>"}',
        ]
      ) assert.ok(system.includes(needle), `system prompt contains ${needle}`);
      assert.equal(system, agent.systemPrompt);
      assert.deepEqual(messagesOf(requests[0]!).slice(1), [
        { role: "user", content: "What is (2 + 3) * 4?" },
      ]);

      const format = requests[0]!.body?.response_format as {
        type: string;
        json_schema: { schema: { anyOf: { properties: { tool?: { const: string } } }[] } };
      };
      assert.equal(format.type, "json_schema");
      const toolNames = format.json_schema.schema.anyOf.map((b) => b.properties.tool?.const);
      assert.deepEqual(toolNames, [undefined, "add", "multiply"]);

      // Each tool result reaches the next request.
      assert.match(lastContent(requests[1]!), /^Tool "add" returned:\n5\n/);
      assert.match(lastContent(requests[2]!), /^Tool "multiply" returned:\n\{"product":20\}\n/);
      // The history the server saw is the run's history.
      assert.deepEqual(messagesOf(requests[2]!).slice(1), result.messages.slice(0, 5));
    });
  }

  test("over a real loopback socket", async () => {
    const { add, executed } = makeTools();
    const fake = createFakeLMStudio({
      replies: [
        { content: call("add", { a: 40, b: 2 }), chunkBytes: 3 },
        { content: final("It is 42."), chunkBytes: "random" },
      ],
    });
    const server = await serve(fake.handler);
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const result = await new Agent({ client, tools: [add] }).run("40 + 2?");
      assert.equal(result.text, "It is 42.");
      assert.equal(result.steps, 2);
      assert.deepEqual(executed, ["add(40,2)"]);
      assert.match(lastContent(fake.chatRequests[1]!), /returned:\n42\n/);
    } finally {
      await server.close();
    }
  });
});

// ---- model quirks ---------------------------------------------------------------------------

describe("tolerated model quirks", () => {
  const ANSWER = "Paris is the capital.";
  const cases: { name: string; reply: FakeReply }[] = [
    { name: "whitespace around the JSON", reply: { content: `\n\n   ${final(ANSWER)}  \n\t` } },
    { name: "one ```json fence", reply: { content: "```json\n" + final(ANSWER) + "\n```" } },
    { name: "a bare ``` fence", reply: { content: "```\n" + final(ANSWER) + "\n```\n" } },
    {
      name: "<think> block in content",
      reply: { content: `<think>The user asks SECRET-REASONING.</think>\n${final(ANSWER)}` },
    },
    {
      name: "separate reasoning_content",
      reply: { content: final(ANSWER), reasoning: "SECRET-REASONING about capitals" },
    },
    {
      name: "separate reasoning (gpt-oss field)",
      reply: {
        content: final(ANSWER),
        reasoning: "SECRET-REASONING here",
        reasoningField: "reasoning",
      },
    },
    { name: "OpenAI framing", reply: { content: final(ANSWER), flavor: "openai" } },
    { name: "llama.cpp framing", reply: { content: final(ANSWER), flavor: "llamacpp" } },
    {
      name: "LM Studio framing with CRLF, comments, event/id fields, 1-byte pieces",
      reply: {
        content: final(ANSWER),
        flavor: "lmstudio",
        crlf: true,
        comments: true,
        sseFields: true,
        chunkBytes: 1,
      },
    },
  ];
  for (const modelCall of MODES) {
    for (const { name, reply } of cases) {
      test(`${modelCall}: ${name}`, async () => {
        const { fake, client } = setup([reply]);
        const events: AgentEvent[] = [];
        const agent = new Agent({ client, modelCall, onEvent: (e) => events.push(e) });
        const stream = agent.stream("Capital of France?");
        const chunks = await collect(stream);
        const result = await stream.result;
        assert.equal(result.text, ANSWER);
        assert.equal(chunks.map((c) => c.text).join(""), ANSWER);
        assert.ok(!JSON.stringify(chunks).includes("SECRET"), "reasoning never reaches chunks");
        assert.equal(result.stopReason, "final");
        assert.equal(fake.chatRequests.length, 1, "no corrective retry was needed");
        assert.ok(!events.some((e) => e.type === "protocol_retry"));
        if (reply.reasoning) {
          const response = events.find((e) => e.type === "model_response");
          assert.ok(response?.type === "model_response");
          assert.equal(response.reasoning, reply.reasoning);
        }
        // The model's own reasoning is not replayed into the history either.
        assert.ok(!JSON.stringify(result.messages).includes("SECRET"));
      });
    }
  }

  test("usage from the OpenAI-style trailing usage chunk is counted", async () => {
    const { client } = setup([{
      content: final("x"),
      flavor: "openai",
      usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
    }]);
    const result = await new Agent({ client }).run("x?");
    assert.deepEqual(result.usage, { promptTokens: 7, completionTokens: 2, totalTokens: 9 });
  });
});

// ---- the corrective retry ------------------------------------------------------------------------

describe("the single corrective retry", () => {
  for (const modelCall of MODES) {
    test(`${modelCall}: invalid JSON, then valid → succeeds; the correction names the problem`, async () => {
      const { add } = makeTools();
      const { fake, client } = setup([
        {
          content: "Sure! The answer is 4.",
          usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
        },
        {
          content: final("4"),
          usage: { prompt_tokens: 8, completion_tokens: 2, total_tokens: 10 },
        },
      ]);
      const events: AgentEvent[] = [];
      const result = await new Agent({ client, tools: [add], modelCall }).run("2+2?", {
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.text, "4");
      assert.equal(result.steps, 1, "a retry is not a step");
      assert.deepEqual(result.usage, { promptTokens: 13, completionTokens: 3, totalTokens: 16 });

      const retries = events.filter((e) => e.type === "protocol_retry");
      assert.equal(retries.length, 1);
      const retry = retries[0]!;
      assert.ok(retry.type === "protocol_retry");
      assert.equal(retry.step, 1);
      assert.equal(retry.rawText, "Sure! The answer is 4.");
      assert.match(retry.reason, /not valid JSON/);

      assert.equal(fake.chatRequests.length, 2);
      const second = messagesOf(fake.chatRequests[1]!);
      assert.deepEqual(second.at(-2), { role: "assistant", content: "Sure! The answer is 4." });
      const correction = lastContent(fake.chatRequests[1]!);
      assert.ok(correction.startsWith("Your last reply could not be used: "), correction);
      assert.ok(correction.includes(retry.reason), "the correction carries the exact reason");
      assert.match(correction, /Available tools: add\./);
      // The response_format is still sent on the retry.
      assert.equal(
        (fake.chatRequests[1]!.body?.response_format as { type: string }).type,
        "json_schema",
      );
    });

    test(`${modelCall}: wrong shape (unknown "type"), then valid → the correction quotes the type`, async () => {
      const { fake, client } = setup([
        { content: '{"type":"answer","content":"x"}' },
        { content: final("x") },
      ]);
      const result = await new Agent({ client, modelCall }).run("x?");
      assert.equal(result.text, "x");
      assert.match(lastContent(fake.chatRequests[1]!), /Unknown "type" "answer"/);
    });

    test(`${modelCall}: two violations in a row → ProtocolError with rawText and reason`, async () => {
      const { fake, client } = setup([
        { content: "no json here" },
        { content: '{"type":"final"}' },
        { content: final("never requested") },
      ]);
      const err = await rejection(new Agent({ client, modelCall }).run("x?"));
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(err.name, "ProtocolError");
      assert.equal(err.rawText, '{"type":"final"}');
      assert.match(err.reason, /"final" reply needs "content"/);
      assert.equal(err.step, 1);
      assert.equal(fake.chatRequests.length, 2, "exactly one retry");
      // The message is for the developer; the words for the model stay in `reason`.
      assert.match(err.message, /^Step 1: the model broke the reply protocol twice in a row/);
      assert.match(err.message, /"final" reply needs "content"/);
      assert.doesNotMatch(err.message, /Reply with|Use \{/);
    });

    test(`${modelCall}: the retry budget is per step — a violation in step 1 and in step 2 are each retried`, async () => {
      const { add, executed } = makeTools();
      const { fake, client } = setup([
        { content: "oops" },
        { content: call("add", { a: 1, b: 1 }) },
        { content: "[1, 2]" },
        { content: final("2") },
      ]);
      const events: AgentEvent[] = [];
      const result = await new Agent({ client, tools: [add], modelCall }).run("1+1?", {
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.text, "2");
      assert.equal(result.steps, 2);
      assert.deepEqual(executed, ["add(1,1)"]);
      const retries = events.flatMap((e) => e.type === "protocol_retry" ? [e.step] : []);
      assert.deepEqual(retries, [1, 2]);
      assert.equal(fake.chatRequests.length, 4);
    });

    test(`${modelCall}: after a retried step, two violations in a later step still fail`, async () => {
      const { add } = makeTools();
      const { client } = setup([
        { content: "oops" },
        { content: call("add", { a: 1, b: 1 }) },
        { content: "bad 1" },
        { content: "bad 2" },
      ]);
      const err = await rejection(new Agent({ client, tools: [add], modelCall }).run("1+1?"));
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.step, 2);
      assert.equal(err.rawText, "bad 2");
    });
  }
});

// ---- tool-level problems ----------------------------------------------------------------------

describe("tool problems are observations, not crashes", () => {
  const cases = [
    {
      name: "unknown tool",
      reply: call("subtract", { a: 1, b: 2 }),
      kind: "unknown_tool",
      expect: [
        /Tool "subtract" failed \(unknown_tool\)/,
        /Unknown tool "subtract"/,
        /Available tools: add, explode\./,
      ],
    },
    {
      name: "arguments failing the zod schema",
      reply: call("add", { a: "two", b: 3 }),
      kind: "invalid_arguments",
      expect: [
        /Tool "add" failed \(invalid_arguments\)/,
        /expected number/,
        /at a/,
        /Fix the arguments/,
      ],
    },
    {
      name: "a tool that throws",
      reply: call("explode", {}),
      kind: "execution_error",
      expect: [/Tool "explode" failed \(execution_error\)/, /the disk is on fire/],
    },
  ] as const;
  for (const modelCall of MODES) {
    for (const c of cases) {
      test(`${modelCall}: ${c.name} → fed back, tool_error event, costs a step`, async () => {
        const { add, executed } = makeTools();
        const explode = defineTool({
          name: "explode",
          description: "Always fails.",
          parameters: z.object({}),
          execute: () => {
            throw new Error("the disk is on fire");
          },
        });
        const { fake, client } = setup([{ content: c.reply }, { content: final("Sorry.") }]);
        const events: AgentEvent[] = [];
        const agent = new Agent({
          client,
          tools: [add, explode],
          modelCall,
          onEvent: (e) => events.push(e),
        });
        const result = await agent.run("Do it.");
        assert.equal(result.text, "Sorry.");
        assert.equal(result.stopReason, "final");
        assert.equal(result.steps, 2, "the failed call cost a step");
        assert.deepEqual(executed, []);

        const calls = events.filter((e) => e.type === "tool_call");
        assert.equal(calls.length, 1);
        assert.deepEqual(
          calls[0]!.type === "tool_call" && calls[0]!.arguments,
          JSON.parse(c.reply).arguments,
        );
        const errors = events.filter((e) => e.type === "tool_error");
        assert.equal(errors.length, 1);
        const error = errors[0]!;
        assert.ok(error.type === "tool_error");
        assert.equal(error.kind, c.kind);
        assert.equal(error.step, 1);
        assert.equal(typeof error.durationMs, "number");
        assert.ok(!events.some((e) => e.type === "tool_result" || e.type === "protocol_retry"));

        const observation = lastContent(fake.chatRequests[1]!);
        for (const pattern of c.expect) assert.match(observation, pattern);
        assert.ok(observation.includes(error.error), "the message carries the error text");
        assert.equal(result.messages[2]!.role, "user");
        assert.equal(result.messages[2]!.content, observation);
      });
    }
  }
});

// ---- finish_reason "length" ---------------------------------------------------------------------

describe('finish_reason "length" never runs a tool', () => {
  for (const modelCall of MODES) {
    test(`${modelCall}: a complete-looking tool call cut by the token limit is retried, not executed`, async () => {
      const { add, executed } = makeTools();
      const { fake, client } = setup([
        // The JSON happens to parse, but the server says the reply was cut off.
        { content: call("add", { a: 1, b: 2 }), finishReason: "length" },
        { content: final("Done without tools.") },
      ]);
      const events: AgentEvent[] = [];
      const result = await new Agent({ client, tools: [add], modelCall }).run("1+2?", {
        onEvent: (e) => events.push(e),
      });
      assert.deepEqual(executed, [], "the tool never ran");
      assert.ok(!events.some((e) => e.type === "tool_call"));
      assert.equal(result.text, "Done without tools.");
      const retry = events.find((e) => e.type === "protocol_retry");
      assert.ok(retry?.type === "protocol_retry");
      assert.match(retry.reason, /token limit/);
      assert.match(lastContent(fake.chatRequests[1]!), /cut off by the token limit/);
    });

    test(`${modelCall}: "length" twice → ProtocolError, and still no tool run`, async () => {
      const { add, executed } = makeTools();
      const { client } = setup([
        { content: call("add", { a: 1, b: 2 }), finishReason: "length" },
        { content: '{"type":"tool_call","tool":"add","argum', finishReason: "length" },
      ]);
      const err = await rejection(new Agent({ client, tools: [add], modelCall }).run("1+2?"));
      assert.ok(err instanceof ProtocolError);
      assert.match(err.reason, /length/);
      assert.deepEqual(executed, []);
    });
  }
});

// ---- max-steps fallback ----------------------------------------------------------------------------

describe("max-steps fallback", () => {
  const schemaBranches = (request: RecordedRequest) =>
    (request.body?.response_format as { json_schema: { schema: { anyOf: unknown[] } } })
      .json_schema.schema.anyOf;

  for (const modelCall of MODES) {
    test(`${modelCall}: maxSteps 2, a model that always calls tools → final-only fallback call`, async () => {
      const { add, executed } = makeTools();
      const { fake, client } = setup([
        { content: call("add", { a: 1, b: 1 }) },
        { content: call("add", { a: 2, b: 2 }) },
        { content: final("Best guess: 4.") },
      ]);
      const events: AgentEvent[] = [];
      const agent = new Agent({
        client,
        tools: [add],
        maxSteps: 2,
        modelCall,
        onEvent: (e) => events.push(e),
      });
      const stream = agent.stream("Keep adding.");
      const chunks = await collect(stream);
      const result = await stream.result;

      assert.equal(result.stopReason, "max_steps");
      assert.equal(result.text, "Best guess: 4.");
      assert.equal(result.steps, 2);
      assert.deepEqual(executed, ["add(1,1)", "add(2,2)"]);
      assert.equal(fake.chatRequests.length, 3);

      // The fallback request allows only the final shape and says why.
      assert.equal(schemaBranches(fake.chatRequests[0]!).length, 2);
      const fallback = fake.chatRequests[2]!;
      assert.equal(schemaBranches(fallback).length, 1);
      assert.ok(!JSON.stringify(fallback.body?.response_format).includes("tool_call"));
      assert.match(lastContent(fallback), /no more tool calls are possible/);
      assert.ok(lastContent(fallback).startsWith("You have used all available steps"));

      // Chunks of the fallback answer carry step maxSteps + 1; the last one is final.
      assert.equal(chunks.map((c) => c.text).join(""), "Best guess: 4.");
      assert.ok(chunks.every((c) => c.step === 3));
      assert.deepEqual(chunks.map((c) => c.isFinal), chunks.map((_, i) => i === chunks.length - 1));
      const maxStepsEvent = events.find((e) => e.type === "max_steps");
      assert.deepEqual(maxStepsEvent, { type: "max_steps", step: 3 });
    });

    test(`${modelCall}: an invalid fallback reply → MAX_STEPS_FALLBACK_TEXT, no further calls`, async () => {
      const { add } = makeTools();
      for (const bad of ["I give up", call("add", { a: 0, b: 0 })]) {
        const { fake, client } = setup([
          { content: call("add", { a: 1, b: 1 }) },
          { content: call("add", { a: 2, b: 2 }) },
          { content: bad },
          { content: final("never requested") },
        ]);
        const agent = new Agent({ client, tools: [add], maxSteps: 2, modelCall });
        const stream = agent.stream("Keep adding.");
        const chunks = await collect(stream);
        const result = await stream.result;
        assert.equal(result.text, MAX_STEPS_FALLBACK_TEXT);
        assert.equal(result.stopReason, "max_steps");
        assert.equal(chunks.map((c) => c.text).join(""), MAX_STEPS_FALLBACK_TEXT);
        assert.equal(chunks.at(-1)!.isFinal, true);
        assert.equal(chunks.at(-1)!.step, 3);
        assert.equal(chunks.filter((c) => c.isFinal).length, 1);
        assert.equal(fake.chatRequests.length, 3);
        assert.deepEqual(JSON.parse(String(result.messages.at(-1)!.content)), {
          type: "final",
          content: MAX_STEPS_FALLBACK_TEXT,
        });
      }
    });
  }

  test("maxSteps 1 with responseFormat false: the fallback sends no response_format either", async () => {
    const { add } = makeTools();
    const { fake, client } = setup([
      { content: call("add", { a: 1, b: 1 }) },
      { content: final("2") },
    ]);
    const result = await new Agent({ client, tools: [add], maxSteps: 1, responseFormat: false })
      .run("1+1?");
    assert.equal(result.stopReason, "max_steps");
    assert.equal(result.text, "2");
    assert.ok(fake.chatRequests.every((r) => !("response_format" in (r.body ?? {}))));
  });
});

// ---- events ------------------------------------------------------------------------------------------

describe("events", () => {
  test("a run emits step_start, tool_call, tool_result, chunk and finish in order", async () => {
    const { add } = makeTools();
    const slow = defineTool({
      name: "slow",
      description: "Takes a moment.",
      parameters: z.object({}),
      execute: async () => {
        await sleep(15);
        return "done";
      },
    });
    const { client } = setup([
      { content: call("add", { a: 2, b: 3 }) },
      { content: call("slow", {}) },
      { content: final("5 and done") },
    ]);
    const events: AgentEvent[] = [];
    const result = await new Agent({ client, tools: [add, slow], onEvent: (e) => events.push(e) })
      .run("go");
    const shown = events
      .filter((e) => e.type !== "model_response" && e.type !== "model_delta")
      .map((e) => e.type === "step_start" ? `step_start ${e.step}` : e.type);
    assert.deepEqual(shown, [
      "step_start 1",
      "tool_call",
      "tool_result",
      "step_start 2",
      "tool_call",
      "tool_result",
      "step_start 3",
      "chunk",
      "finish",
    ]);
    const calls = events.filter((e) => e.type === "tool_call");
    assert.deepEqual(calls.map((e) => e.type === "tool_call" && [e.step, e.tool, e.arguments]), [
      [1, "add", { a: 2, b: 3 }],
      [2, "slow", {}],
    ]);
    const results = events.flatMap((e) => e.type === "tool_result" ? [e] : []);
    assert.deepEqual(results.map((e) => [e.tool, e.output]), [["add", "5"], ["slow", "done"]]);
    assert.ok(results.every((e) => typeof e.durationMs === "number" && e.durationMs >= 0));
    assert.ok(
      results[1]!.durationMs >= 10,
      `durationMs measures the tool (${results[1]!.durationMs})`,
    );
    assert.equal(results[0]!.callId, calls[0]!.type === "tool_call" && calls[0]!.callId);
    const finish = events.at(-1)!;
    assert.ok(finish.type === "finish");
    assert.equal(finish.result, result);
    const chunk = events.find((e) => e.type === "chunk");
    assert.deepEqual(chunk, {
      type: "chunk",
      chunk: { text: "5 and done", step: 3, isFinal: true },
    });
  });

  test("model_retry: a 503 then success is retried by the client and reported", async () => {
    const { fake, client } = setup([
      { status: 503, body: { error: "Model is busy" } },
      { content: final("ok") },
    ]);
    const events: AgentEvent[] = [];
    const result = await new Agent({ client }).run("hi", { onEvent: (e) => events.push(e) });
    assert.equal(result.text, "ok");
    assert.equal(fake.chatRequests.length, 2);
    const retries = events.filter((e) => e.type === "model_retry");
    assert.equal(retries.length, 1);
    const retry = retries[0]!;
    assert.ok(retry.type === "model_retry");
    assert.equal(retry.step, 1);
    assert.equal(retry.attempt, 1);
    assert.equal(retry.status, 503);
    assert.ok(retry.error instanceof APIError);
  });

  test("a throwing onEvent listener does not break the run (agent-level or per-run)", async () => {
    const { add } = makeTools();
    const { client } = setup([{ content: call("add", { a: 1, b: 2 }) }, { content: final("3") }]);
    const seen: string[] = [];
    const agent = new Agent({
      client,
      tools: [add],
      onEvent: () => {
        throw new Error("listener bug");
      },
    });
    const result = await agent.run("1+2", {
      onEvent: (e) => {
        seen.push(e.type);
        throw new Error("another listener bug");
      },
    });
    assert.equal(result.text, "3");
    assert.ok(seen.includes("tool_result") && seen.at(-1) === "finish", seen.join());
  });
});

// ---- cancellation ---------------------------------------------------------------------------------

describe("cancellation", () => {
  for (const modelCall of MODES) {
    test(`${modelCall}: abort while waiting for the model's first byte → rejects with signal.reason, promptly`, async () => {
      const { client, signals } = setup([{ content: final("late"), firstByteDelayMs: 60_000 }]);
      const controller = new AbortController();
      const reason = new Error("user gave up");
      setTimeout(() => controller.abort(reason), 30);
      const started = Date.now();
      const err = await within(
        rejection(new Agent({ client, modelCall }).run("hi", { signal: controller.signal })),
        5000,
        "the aborted run",
      );
      assert.equal(err, reason);
      assert.ok(Date.now() - started < 5000, "rejected promptly");
      assert.equal(signals.length, 1);
      assert.ok(signals[0]!.aborted, "the in-flight request was aborted");
    });
  }

  test("stream: abort while the model's stream stalls mid-reply", async () => {
    const { client, signals } = setup([{ content: final("a b c d e"), stallAfterEvents: 2 }]);
    const controller = new AbortController();
    const reason = new DOMException("stop", "AbortError");
    setTimeout(() => controller.abort(reason), 30);
    const err = await within(
      rejection(new Agent({ client }).run("hi", { signal: controller.signal })),
      5000,
      "the aborted run",
    );
    assert.equal(err, reason);
    assert.ok(signals[0]!.aborted);
  });

  test("over a real socket: abort during a stalled stream reaches the server", async () => {
    const fake = createFakeLMStudio({
      replies: [{ content: final("a b c"), stallAfterEvents: 1 }],
    });
    let serverSignal: AbortSignal | undefined;
    const server = await serve((request) => {
      serverSignal = request.signal;
      return fake.handler(request);
    });
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const controller = new AbortController();
      const reason = new Error("enough");
      setTimeout(() => controller.abort(reason), 50);
      const started = Date.now();
      const err = await within(
        rejection(new Agent({ client }).run("hi", { signal: controller.signal })),
        5000,
        "the aborted run",
      );
      assert.equal(err, reason);
      assert.ok(Date.now() - started < 5000);
      assert.ok(await eventually(() => serverSignal?.aborted === true), "server saw the abort");
    } finally {
      await server.close();
    }
  });

  test("an already-aborted signal rejects with its reason and sends nothing", async () => {
    const { fake, client } = setup([{ content: final("x") }]);
    const reason = new Error("before start");
    const err = await rejection(
      new Agent({ client }).run("hi", { signal: AbortSignal.abort(reason) }),
    );
    assert.equal(err, reason);
    assert.equal(fake.chatRequests.length, 0);
  });

  for (const behaviour of ["ignores", "honours"] as const) {
    test(`abort during a tool that ${behaviour} its signal → context.signal aborted, run rejects with the reason`, async () => {
      let context: ToolContext | undefined;
      let started!: () => void;
      const toolStarted = new Promise<void>((resolve) => started = resolve);
      const hang = defineTool({
        name: "hang",
        description: "Never finishes on its own.",
        parameters: z.object({}),
        execute: (_args, ctx) => {
          context = ctx;
          started();
          return new Promise((_resolve, reject) => {
            if (behaviour === "honours") {
              ctx.signal.addEventListener("abort", () => reject(new Error("tool saw abort")));
            }
          });
        },
      });
      const { fake, client } = setup([{ content: call("hang", {}) }, { content: final("no") }]);
      const events: AgentEvent[] = [];
      const controller = new AbortController();
      const reason = new Error("cancel the tool");
      const run = new Agent({ client, tools: [hang], onEvent: (e) => events.push(e) }).run("go", {
        signal: controller.signal,
      });
      await toolStarted;
      assert.equal(context!.signal.aborted, false);
      assert.equal(context!.step, 1);
      const t0 = Date.now();
      controller.abort(reason);
      assert.equal(await within(rejection(run), 5000, "the aborted run"), reason);
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(context!.signal.aborted, true, "the tool's signal was aborted");
      assert.equal(fake.chatRequests.length, 1, "no further model call");
      assert.ok(!events.some((e) => e.type === "tool_error" || e.type === "tool_result"));
    });
  }
});

// ---- concurrency and multi-turn -------------------------------------------------------------------

describe("concurrency and continuation", () => {
  test("20 concurrent runs on one Agent each get their own conversation and answer", async () => {
    const echo = defineTool({
      name: "echo",
      description: "Echoes text.",
      parameters: z.object({ text: z.string() }),
      execute: async ({ text }) => {
        await sleep(Number(text) % 3);
        return `echo-${text}`;
      },
    });
    const { fake, client } = setup((request) => {
      const messages = messagesOf(request);
      const id = /^question (\d+)$/.exec(String(messages[1]!.content))![1]!;
      const turns = messages.filter((m) => m.role === "assistant").length;
      const pace = { delayMs: Number(id) % 4, chunkBytes: 9 };
      if (turns === 0) return { content: call("echo", { text: id }), ...pace };
      const observed = /returned:\n(\S+)/.exec(String(messages.at(-1)!.content))?.[1];
      return { content: final(`answer ${id} from ${observed}`), ...pace };
    });
    const agent = new Agent({ client, tools: [echo] });
    const ids = Array.from({ length: 20 }, (_, i) => i);
    const results = await Promise.all(ids.map((i) => agent.run(`question ${i}`)));
    results.forEach((result, i) => {
      assert.equal(result.text, `answer ${i} from echo-${i}`);
      assert.equal(result.steps, 2);
      assert.equal(result.messages.length, 4);
      assert.equal(result.messages[0]!.content, `question ${i}`);
    });
    assert.equal(fake.chatRequests.length, 40);
  });

  test("multi-turn: messages from a previous run continue the conversation", async () => {
    const { fake, client } = setup([
      { content: final("Nice to meet you, Ada.") },
      { content: final("Your name is Ada.") },
    ]);
    const agent = new Agent({ client });
    const first = await agent.run("My name is Ada.");
    const second = await agent.run("What is my name?", { messages: first.messages });
    assert.equal(second.text, "Your name is Ada.");
    assert.equal(first.messages.length, 2, "the earlier result is not mutated");
    assert.deepEqual(second.messages.slice(0, 2), first.messages);
    assert.deepEqual(second.messages.slice(2).map((m) => m.role), ["user", "assistant"]);
    const sent = messagesOf(fake.chatRequests[1]!);
    assert.deepEqual(sent.map((m) => m.role), ["system", "user", "assistant", "user"]);
    assert.deepEqual(sent.slice(1, 3), first.messages);
    assert.equal(sent[3]!.content, "What is my name?");
  });
});

// ---- json_schema request and fallback ------------------------------------------------------------

describe("response_format json_schema and its fallback", () => {
  const rejections: { name: string; reply: FakeReply }[] = [
    {
      name: "LM Studio",
      reply: {
        status: 400,
        body: { error: "'response_format.type' must be 'json_schema' or 'text'" },
      },
    },
    {
      name: "llama.cpp",
      reply: {
        status: 400,
        body: {
          error: {
            code: 400,
            message: "JSON schema conversion failed: unsupported keyword 'anyOf'",
            type: "invalid_request_error",
          },
        },
      },
    },
  ];
  for (const modelCall of MODES) {
    for (const { name, reply } of rejections) {
      test(`${modelCall}: a ${name}-style rejection → retried without response_format, reported once, remembered per client`, async () => {
        const { fake, client } = setup([
          reply,
          { content: final("first") },
          { content: final("second") },
        ]);
        const events: AgentEvent[] = [];
        const agent = new Agent({ client, modelCall, onEvent: (e) => events.push(e) });
        assert.equal((await agent.run("one")).text, "first");
        // A different Agent on the same client also stays in prompt-only mode.
        assert.equal((await new Agent({ client, modelCall }).run("two")).text, "second");

        const requests = fake.chatRequests;
        assert.equal(requests.length, 3);
        assert.equal((requests[0]!.body?.response_format as { type: string }).type, "json_schema");
        assert.ok(!("response_format" in requests[1]!.body!));
        assert.ok(!("response_format" in requests[2]!.body!));
        assert.deepEqual(messagesOf(requests[1]!), messagesOf(requests[0]!));
        const notices = events.filter((e) => e.type === "response_format_unsupported");
        assert.equal(notices.length, 1);
        assert.ok(notices[0]!.type === "response_format_unsupported");
        assert.match(notices[0]!.message, /prompt-only/);
      });
    }
  }

  test("responseFormat: false never sends response_format", async () => {
    const { add } = makeTools();
    const { fake, client } = setup([{ content: call("add", { a: 1, b: 1 }) }, {
      content: final("2"),
    }]);
    const events: AgentEvent[] = [];
    await new Agent({ client, tools: [add], responseFormat: false, onEvent: (e) => events.push(e) })
      .run("1+1");
    assert.equal(fake.chatRequests.length, 2);
    assert.ok(fake.chatRequests.every((r) => !("response_format" in r.body!)));
    assert.ok(!events.some((e) => e.type === "response_format_unsupported"));
  });

  test("an unrelated 400 is not mistaken for a response_format rejection", async () => {
    const { fake, client } = setup([
      { status: 400, body: { error: { message: "Invalid model identifier 'm'", code: null } } },
      { content: final("never") },
    ]);
    const err = await rejection(new Agent({ client }).run("x"));
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 400);
    assert.equal(fake.chatRequests.length, 1);
    // Nothing was remembered: the next run on this client still sends response_format.
    assert.equal((await new Agent({ client }).run("y")).text, "never");
    assert.equal(
      (fake.chatRequests[1]!.body?.response_format as { type: string }).type,
      "json_schema",
    );
  });
});

// ---- validation ------------------------------------------------------------------------------------

describe("constructor and call validation", () => {
  const client = new LMStudioClient({ fetch: createFakeLMStudio().fetch, model: "m" });

  for (const maxSteps of [0, 1.5, -1, Number.NaN]) {
    test(`maxSteps ${maxSteps} → RangeError naming maxSteps`, () => {
      assert.throws(() => new Agent({ client, maxSteps }), (err: unknown) => {
        assert.ok(err instanceof RangeError);
        assert.match(err.message, /maxSteps must be a positive integer, got/);
        return true;
      });
    });
  }

  test("duplicate tool names → TypeError naming the tool", () => {
    const { add } = makeTools();
    const again = defineTool({ ...add, description: "Another add." });
    assert.throws(() => new Agent({ client, tools: [add, again] }), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /duplicate tool name "add"/);
      return true;
    });
  });

  const badChunking: {
    chunking: unknown;
    error: typeof TypeError | typeof RangeError;
    pattern: RegExp;
  }[] = [
    { chunking: "paragraph", error: TypeError, pattern: /chunking must be/ },
    { chunking: { graphemes: 0 }, error: RangeError, pattern: /chunking\.graphemes/ },
    { chunking: { graphemes: 2.5 }, error: RangeError, pattern: /chunking\.graphemes/ },
    { chunking: 42, error: TypeError, pattern: /chunking must be/ },
  ];
  for (const { chunking, error, pattern } of badChunking) {
    test(`chunking ${JSON.stringify(chunking)} → ${error.name} naming the field`, () => {
      assert.throws(
        () => new Agent({ client, chunking: chunking as AgentOptions["chunking"] }),
        (err: unknown) => {
          assert.ok(err instanceof error, String(err));
          assert.match((err as Error).message, pattern);
          return true;
        },
      );
    });
  }

  test("other bad options name their field", () => {
    const cases: [AgentOptions, RegExp][] = [
      [{ chunkDelayMs: -1 }, /chunkDelayMs/],
      [{ modelCall: "batch" as "stream" }, /modelCall/],
      [{ maxToolResultChars: 0 }, /maxToolResultChars/],
      [{ client: {} as LMStudioClient }, /client/],
    ];
    for (const [options, pattern] of cases) {
      assert.throws(() => new Agent({ client, ...options }), pattern);
    }
  });

  test("empty or non-string prompts → TypeError, before anything is sent", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: final("x") }] });
    const agent = new Agent({ client: new LMStudioClient({ fetch: fake.fetch, model: "m" }) });
    for (const prompt of ["", "   \n", 42, undefined, null]) {
      assert.throws(() => agent.stream(prompt as string), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /prompt must be a non-empty string/);
        return true;
      });
      const err = await rejection(agent.run(prompt as string));
      assert.ok(err instanceof TypeError);
    }
    assert.equal(fake.chatRequests.length, 0);
  });

  test("messages that are not an array → TypeError", async () => {
    const agent = new Agent({ client });
    const err = await rejection(
      agent.run("hi", { messages: "nope" as unknown as ChatMessage[] }),
    );
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /messages/);
  });
});
