// Native tool calling (`protocol: "native"`): tools sent as OpenAI `tools`, `tool_calls` read from
// the reply (streamed with LM Studio's quirks: repeated empty name and id, arguments in pieces),
// results sent back as `role: "tool"` messages. The envelope mode's guarantees, with
// native-format scripted replies: multi-step runs (stream and generate), parallel calls run
// concurrently and fed back in order, tool problems as observations, no tools on finish
// "length", the corrective retry, the max-steps fallback, envelopes written as text, live
// streaming of the plain-text answer, and a real loopback socket.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type AgentResult,
  type ChatMessage,
  defineTool,
  LiveStreamError,
  LMStudioClient,
  type LMStudioClientOptions,
  MAX_STEPS_FALLBACK_TEXT,
  ProtocolError,
  type StreamChunk,
} from "../mod.ts";
import { nativeToolSpecs } from "../src/protocols/native.ts";
import { describeTools } from "../src/tool_schema.ts";

const toNativeTools = (tools: Parameters<typeof describeTools>[0]) =>
  nativeToolSpecs(describeTools(tools));
import {
  chatCompletionEvents,
  createFakeLMStudio,
  encodeSSE,
  type FakeReply,
  type RecordedRequest,
} from "../testing.ts";
import { serve } from "./_kit/serve.ts";
import { makeTools } from "./_kit/tools_kit.ts";

// ---- helpers ---------------------------------------------------------------------------------

type Replies = readonly FakeReply[] | ((request: RecordedRequest, index: number) => FakeReply);

function setup(
  replies: Replies,
  options: AgentOptions = {},
  clientOptions: LMStudioClientOptions = {},
) {
  const fake = createFakeLMStudio({ replies });
  const client = new LMStudioClient({
    fetch: fake.fetch,
    model: "m",
    maxRetries: 0,
    ...clientOptions,
  });
  const agent = new Agent({ client, protocol: "native", ...options });
  return { fake, client, agent };
}

const messagesOf = (request: RecordedRequest) => (request.body?.messages ?? []) as ChatMessage[];

interface Trace {
  chunks: StreamChunk[];
  events: AgentEvent[];
  /** Chunks received and model_response events, in order ("chunk" / "response"). */
  order: string[];
  result?: AgentResult;
  error?: unknown;
}

async function trace(
  agent: Agent,
  prompt = "question",
  options: { live?: boolean; signal?: AbortSignal } = {},
): Promise<Trace> {
  const t: Trace = { chunks: [], events: [], order: [] };
  const stream = agent.stream(prompt, {
    ...options,
    onEvent: (e) => {
      t.events.push(e);
      if (e.type === "model_response") t.order.push("response");
    },
  });
  try {
    for await (const chunk of stream) {
      t.chunks.push(chunk);
      t.order.push("chunk");
    }
    t.result = await stream.result;
  } catch (err) {
    t.error = err;
  }
  return t;
}

function assertChunks(t: Trace, text: string, step: number): void {
  assert.equal(t.error, undefined, `no error, got ${String(t.error)}`);
  assert.equal(t.result?.text, text);
  assert.equal(t.chunks.map((c) => c.text).join(""), text);
  assert.deepEqual(
    t.chunks.map((c) => c.isFinal),
    t.chunks.map((_, i) => i === t.chunks.length - 1),
  );
  assert.ok(t.chunks.every((c) => c.step === step), `every chunk is from step ${step}`);
  const announced = t.events.flatMap((e) => e.type === "chunk" ? [e.chunk] : []);
  assert.deepEqual(announced, t.chunks);
}

/** How many chunks arrived before the last model_response event (the final reply's end). */
const chunksBeforeLastResponse = (t: Trace) =>
  t.order.slice(0, t.order.lastIndexOf("response")).filter((o) => o === "chunk").length;

const ADD_SPEC = {
  type: "function",
  function: {
    name: "add",
    description: "Adds two numbers.",
    parameters: {
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"],
    },
  },
};

const USAGE = (p: number, c: number) => ({
  prompt_tokens: p,
  completion_tokens: c,
  total_tokens: p + c,
});

// ---- a multi-step tool run ---------------------------------------------------------------------

describe("native: multi-step tool run", () => {
  for (const modelCall of ["stream", "generate"] as const) {
    test(`${modelCall}: tools as OpenAI tools, calls fed back as role "tool", final text streamed, usage summed`, async () => {
      const { add, multiply, executed } = makeTools();
      const { fake, agent } = setup([
        { toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }], usage: USAGE(11, 3) },
        {
          toolCalls: [{ id: "call_xyz", name: "multiply", arguments: '{"x": 5, "y": 4}' }],
          usage: USAGE(21, 5),
        },
        { content: "The answer is 20.", usage: USAGE(31, 7) },
      ], { tools: [add, multiply], modelCall, instructions: "Show your work." });
      const t = await trace(agent, "What is (2 + 3) * 4?");

      assertChunks(t, "The answer is 20.", 3);
      assert.ok(t.chunks.length > 1, "the answer is sliced into several chunks");
      const result = t.result!;
      assert.equal(result.steps, 3);
      assert.equal(result.stopReason, "final");
      assert.deepEqual(result.usage, { promptTokens: 63, completionTokens: 15, totalTokens: 78 });
      assert.deepEqual(executed, ["add(2,3)", "multiply(5,4)"]);

      // The request: OpenAI tools with zod's JSON Schemas, no response_format, no tool_choice.
      const requests = fake.chatRequests;
      assert.equal(requests.length, 3);
      for (const request of requests) {
        assert.equal(request.body?.stream === true, modelCall === "stream");
        assert.deepEqual(request.body?.tools, toNativeTools([add, multiply]));
        assert.equal(request.body?.response_format, undefined);
        assert.equal(request.body?.tool_choice, undefined);
        assert.equal(messagesOf(request)[0]!.content, agent.systemPrompt);
      }
      assert.deepEqual((requests[0]!.body?.tools as unknown[])[0], ADD_SPEC);
      assert.match(agent.systemPrompt, /provided tools/);
      assert.match(agent.systemPrompt, /Show your work\./);

      // Assistant messages carry the merged tool_calls (no empty name/id from LM Studio's
      // repeated fragments); each result goes back as role "tool" with the matching id.
      const expected: ChatMessage[] = [
        { role: "user", content: "What is (2 + 3) * 4?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "100",
            type: "function",
            function: { name: "add", arguments: '{"a":2,"b":3}' },
          }],
        },
        { role: "tool", tool_call_id: "100", content: "5" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_xyz",
            type: "function",
            function: { name: "multiply", arguments: '{"x": 5, "y": 4}' },
          }],
        },
        { role: "tool", tool_call_id: "call_xyz", content: '{"product":20}' },
      ];
      assert.deepEqual(messagesOf(requests[1]!).slice(1), expected.slice(0, 3));
      assert.deepEqual(messagesOf(requests[2]!).slice(1), expected);
      assert.deepEqual(result.messages, [
        ...expected,
        { role: "assistant", content: "The answer is 20." },
      ]);

      const calls = t.events.filter((e) => e.type === "tool_call");
      assert.deepEqual(
        calls.map((e) => [e.step, e.tool, e.arguments, e.callId]),
        [[1, "add", { a: 2, b: 3 }, "100"], [2, "multiply", { x: 5, y: 4 }, "call_xyz"]],
      );
      const results = t.events.filter((e) => e.type === "tool_result");
      assert.deepEqual(results.map((e) => [e.callId, e.output]), [
        ["100", "5"],
        ["call_xyz", '{"product":20}'],
      ]);
    });
  }

  test("a call with an empty id gets a generated one, used for both the call and its result", async () => {
    const { add } = makeTools();
    const { fake, agent } = setup([
      { toolCalls: [{ id: "", name: "add", arguments: { a: 1, b: 1 } }] },
      { content: "2" },
    ], { tools: [add] });
    const result = await agent.run("1+1?");
    assert.equal(result.text, "2");
    const [assistant, tool] = messagesOf(fake.chatRequests[1]!).slice(2);
    const id = assistant!.tool_calls?.[0]?.id;
    assert.ok(id, "the call has a non-empty id");
    assert.equal(tool!.tool_call_id, id);
    assert.equal(tool!.content, "2");
  });

  test("interleaved fragments of two calls, id and name only on the first fragment, are merged by index", async () => {
    const { add, multiply, executed } = makeTools();
    const frag = (delta: Record<string, unknown>, finish: string | null = null) =>
      JSON.stringify({
        id: "x",
        object: "chat.completion.chunk",
        created: 1,
        model: "m",
        choices: [{ index: 0, delta: { role: "assistant", ...delta }, finish_reason: finish }],
      });
    const tc = (index: number, extra: Record<string, unknown>) => ({
      tool_calls: [{ index, ...extra }],
    });
    const rawBody = encodeSSE([
      frag(tc(0, { id: "a0", type: "function", function: { name: "add", arguments: "" } })),
      frag(
        tc(1, { id: "m1", type: "function", function: { name: "multiply", arguments: '{"x"' } }),
      ),
      frag(tc(0, { function: { arguments: '{"a":' } })),
      frag(tc(1, { id: "", function: { name: "", arguments: ":3," } })),
      frag(tc(0, { function: { name: null, arguments: '7,"b":' } })),
      frag(tc(1, { function: { arguments: '"y":2}' } })),
      frag(tc(0, { function: { arguments: "1}" } })),
      frag({}, "tool_calls"),
      "[DONE]",
    ]);
    const { fake, agent } = setup([{ rawBody }, { content: "done" }], { tools: [add, multiply] });
    const result = await agent.run("go");
    assert.equal(result.text, "done");
    assert.deepEqual(executed.sort(), ["add(7,1)", "multiply(3,2)"]);
    const messages = messagesOf(fake.chatRequests[1]!).slice(2);
    assert.deepEqual(messages.map((m) => [m.role, m.tool_call_id]), [
      ["assistant", undefined],
      ["tool", "a0"],
      ["tool", "m1"],
    ]);
    assert.deepEqual(messages[0]!.tool_calls?.map((c) => [c.id, c.function.name]), [
      ["a0", "add"],
      ["m1", "multiply"],
    ]);
  });

  test("text next to the tool calls is kept in the assistant message", async () => {
    const { add } = makeTools();
    const { fake, agent } = setup([
      { content: "Let me add.", toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }] },
      { content: "3" },
    ], { tools: [add] });
    await agent.run("1+2?");
    const assistant = messagesOf(fake.chatRequests[1]!)[2]!;
    assert.equal(assistant.content, "Let me add.");
    assert.equal(assistant.tool_calls?.length, 1);
  });

  test("reasoning (reasoning_content or <think>) never reaches the chunks or the answer", async () => {
    const { agent } = setup([
      { reasoning: "secret plan", content: "<think>more secrets</think>\n\nVisible answer." },
    ]);
    const t = await trace(agent);
    assertChunks(t, "Visible answer.", 1);
    assert.ok(!t.chunks.some((c) => /secret/.test(c.text)));
  });
});

// ---- parallel calls ----------------------------------------------------------------------------

describe("native: parallel tool calls", () => {
  test("calls in one reply run concurrently; results go back in call order with matching ids", async () => {
    const n = 3;
    let started = 0;
    let release!: () => void;
    const allStarted = new Promise<void>((resolve) => (release = resolve));
    const finished: number[] = [];
    const slow = defineTool({
      name: "slow",
      description: "Waits for its siblings.",
      parameters: z.object({ i: z.number().int() }),
      execute: async ({ i }) => {
        if (++started === n) release();
        // Only resolves if every call has started: sequential execution would time out here.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          allStarted,
          new Promise((_, reject) =>
            timer = setTimeout(() => reject(new Error("calls did not run concurrently")), 2000)
          ),
        ]).finally(() => clearTimeout(timer));
        // Finish in reverse order, to show that feedback order is call order.
        await new Promise((r) => setTimeout(r, (n - i) * 15));
        finished.push(i);
        return `result ${i}`;
      },
    });
    const { fake, agent } = setup([
      {
        toolCalls: Array.from(
          { length: n },
          (_, i) => ({ id: `c${i}`, name: "slow", arguments: { i } }),
        ),
      },
      { content: "All done." },
    ], { tools: [slow] });
    const t = await trace(agent);
    assertChunks(t, "All done.", 2);
    assert.deepEqual(finished, [2, 1, 0]);

    const messages = messagesOf(fake.chatRequests[1]!).slice(2);
    assert.deepEqual(messages[0]!.tool_calls?.map((c) => c.id), ["c0", "c1", "c2"]);
    assert.deepEqual(messages.slice(1), [
      { role: "tool", tool_call_id: "c0", content: "result 0" },
      { role: "tool", tool_call_id: "c1", content: "result 1" },
      { role: "tool", tool_call_id: "c2", content: "result 2" },
    ]);
    // Every call is announced before any result comes back.
    const kinds = t.events.filter((e) => e.type === "tool_call" || e.type === "tool_result")
      .map((e) => e.type);
    assert.deepEqual(kinds, [
      "tool_call",
      "tool_call",
      "tool_call",
      "tool_result",
      "tool_result",
      "tool_result",
    ]);
  });
});

// ---- tool problems -----------------------------------------------------------------------------

describe("native: tool problems are observations, never crashes", () => {
  test("invalid JSON arguments, an unknown tool, zod-invalid arguments and a throwing tool", async () => {
    const { add, explode, executed } = makeTools();
    const { fake, agent } = setup([
      {
        toolCalls: [
          { id: "bad_json", name: "add", arguments: '{"a": 1, "b":' },
          { id: "unknown", name: "subtract", arguments: { a: 1, b: 2 } },
          { id: "bad_args", name: "add", arguments: { a: "one", b: 2 } },
          { id: "throws", name: "explode", arguments: {} },
          { id: "fine", name: "add", arguments: { a: 1, b: 2 } },
        ],
      },
      { content: "Recovered." },
    ], { tools: [add, explode] });
    const t = await trace(agent);
    assertChunks(t, "Recovered.", 2);
    assert.deepEqual(executed, ["explode()", "add(1,2)"]);

    const tools = messagesOf(fake.chatRequests[1]!).filter((m) => m.role === "tool");
    assert.deepEqual(tools.map((m) => m.tool_call_id), [
      "bad_json",
      "unknown",
      "bad_args",
      "throws",
      "fine",
    ]);
    const content = tools.map((m) => String(m.content));
    assert.match(content[0]!, /^Error \(invalid_arguments\): arguments are not valid JSON/);
    assert.match(content[1]!, /^Error \(unknown_tool\): Unknown tool "subtract"/);
    assert.match(content[1]!, /add, explode/);
    assert.match(content[2]!, /^Error \(invalid_arguments\):.*\ba\b/s);
    assert.match(content[3]!, /^Error \(execution_error\):.*boom/s);
    assert.equal(content[4], "3");

    const errors = t.events.filter((e) => e.type === "tool_error");
    assert.deepEqual(errors.map((e) => [e.callId, e.kind]), [
      ["bad_json", "invalid_arguments"],
      ["unknown", "unknown_tool"],
      ["bad_args", "invalid_arguments"],
      ["throws", "execution_error"],
    ]);
  });
});

// ---- finish "length", the corrective retry, the max-steps fallback ---------------------------

describe("native: the agent's guarantees", () => {
  test('never runs a tool on finish_reason "length"; the corrective retry then succeeds', async () => {
    const { add, executed } = makeTools();
    const { fake, agent } = setup([
      { toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }], finishReason: "length" },
      { content: "Three." },
    ], { tools: [add] });
    const t = await trace(agent);
    assertChunks(t, "Three.", 1);
    assert.deepEqual(executed, []);
    assert.equal(fake.chatRequests.length, 2);
    const retry = t.events.filter((e) => e.type === "protocol_retry");
    assert.equal(retry.length, 1);
    assert.match(retry[0]!.reason, /length/);
    const last = messagesOf(fake.chatRequests[1]!).at(-1)!;
    assert.equal(last.role, "user");
    assert.match(String(last.content), /cut off by the token limit/);
  });

  test('finish_reason "length" twice → ProtocolError, and the tool never ran', async () => {
    const { add, executed } = makeTools();
    const call = {
      toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }],
      finishReason: "length",
    };
    const { agent } = setup([call, call], { tools: [add] });
    const t = await trace(agent);
    assert.ok(t.error instanceof ProtocolError, String(t.error));
    assert.equal(t.error.step, 1);
    assert.deepEqual(executed, []);
    assert.deepEqual(t.chunks, []);
  });

  for (
    const [name, empty] of [["an empty reply", ""], [
      "a reasoning-only reply",
      "<think>hmm</think>\n",
    ]]
  ) {
    test(`${name} (neither text nor a call) gets one corrective retry`, async () => {
      const { fake, agent } = setup([{ content: empty! }, { content: "Now I answer." }]);
      const t = await trace(agent);
      assertChunks(t, "Now I answer.", 1);
      const retry = t.events.filter((e) => e.type === "protocol_retry");
      assert.deepEqual(retry.map((e) => e.reason), ["the reply had neither text nor a tool call"]);
      assert.equal(fake.chatRequests.length, 2);
      const last = messagesOf(fake.chatRequests[1]!).at(-1)!;
      assert.equal(last.role, "user");
      assert.match(String(last.content), /neither text nor a tool call/);
    });
  }

  test("two empty replies → ProtocolError carrying the raw text", async () => {
    const { agent } = setup([{ content: "" }, { content: "  \n" }]);
    const t = await trace(agent);
    assert.ok(t.error instanceof ProtocolError, String(t.error));
    assert.equal(t.error.rawText, "  \n");
    assert.match(t.error.reason, /neither text nor a tool call/);
  });

  test('max-steps fallback: the last request has tool_choice "none"; stopReason "max_steps"', async () => {
    const { add, executed } = makeTools();
    const { fake, agent } = setup([
      { toolCalls: [{ name: "add", arguments: { a: 1, b: 1 } }] },
      { toolCalls: [{ name: "add", arguments: { a: 2, b: 2 } }] },
      { content: "Best guess: 4." },
    ], { tools: [add], maxSteps: 2 });
    const t = await trace(agent);
    assertChunks(t, "Best guess: 4.", 3);
    assert.equal(t.result?.stopReason, "max_steps");
    assert.equal(t.result?.steps, 2);
    assert.deepEqual(executed, ["add(1,1)", "add(2,2)"]);
    const requests = fake.chatRequests;
    assert.equal(requests.length, 3);
    assert.equal(requests[0]!.body?.tool_choice, undefined);
    assert.equal(requests[1]!.body?.tool_choice, undefined);
    assert.equal(requests[2]!.body?.tool_choice, "none");
    assert.deepEqual(requests[2]!.body?.tools, toNativeTools([add]));
    const last = messagesOf(requests[2]!).at(-1)!;
    assert.equal(last.role, "user");
    assert.match(String(last.content), /Do not call any more tools/);
    assert.ok(t.events.some((e) => e.type === "max_steps" && e.step === 3));
  });

  test("a fallback reply that still calls a tool gives the fixed message and runs nothing", async () => {
    const { add, executed } = makeTools();
    const call = { toolCalls: [{ name: "add", arguments: { a: 1, b: 1 } }] };
    const { agent } = setup([call, call], { tools: [add], maxSteps: 1 });
    const t = await trace(agent);
    assertChunks(t, MAX_STEPS_FALLBACK_TEXT, 2);
    assert.equal(t.result?.stopReason, "max_steps");
    assert.deepEqual(executed, ["add(1,1)"]);
  });

  test("abort during a native tool rejects with the reason and aborts the tool's signal", async () => {
    let toolSignal: AbortSignal | undefined;
    let entered!: () => void;
    const inTool = new Promise<void>((r) => (entered = r));
    const wait = defineTool({
      name: "wait",
      description: "Waits until aborted.",
      parameters: z.object({}),
      execute: (_args, { signal }) =>
        new Promise((_, reject) => {
          toolSignal = signal;
          entered();
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    });
    const { agent } = setup([{ toolCalls: [{ name: "wait", arguments: {} }] }], { tools: [wait] });
    const controller = new AbortController();
    const reason = new Error("stop now");
    const run = agent.run("wait", { signal: controller.signal });
    await inTool;
    controller.abort(reason);
    await assert.rejects(run, (e) => e === reason);
    assert.equal(toolSignal?.aborted, true);
  });

  test("concurrent runs on one agent keep their own histories", async () => {
    const { add } = makeTools();
    const { agent } = setup((request) => {
      const messages = messagesOf(request);
      const last = messages.at(-1)!;
      if (last.role === "tool") return { content: `sum=${last.content}` };
      const [a, b] = String(last.content).match(/\d+/g)!.map(Number);
      return { toolCalls: [{ name: "add", arguments: { a, b } }], delayMs: 3 };
    }, { tools: [add] });
    const runs = await Promise.all(
      [[1, 2], [10, 20], [100, 200], [7, 8]].map(([a, b]) => agent.run(`add ${a} ${b}`)),
    );
    assert.deepEqual(runs.map((r) => r.text), ["sum=3", "sum=30", "sum=300", "sum=15"]);
    for (const r of runs) assert.equal(r.messages.length, 4);
  });
});

// ---- the envelope written as text ---------------------------------------------------------------

describe("native: a model that writes the JSON envelope as text is still understood", () => {
  test("a tool_call envelope runs the tool; a fenced final envelope is the answer", async () => {
    const { add, executed } = makeTools();
    const { fake, agent } = setup([
      { content: JSON.stringify({ type: "tool_call", tool: "add", arguments: { a: 1, b: 2 } }) },
      { content: "```json\n" + JSON.stringify({ type: "final", content: "It is 3." }) + "\n```" },
    ], { tools: [add] });
    const t = await trace(agent);
    assertChunks(t, "It is 3.", 2);
    assert.deepEqual(executed, ["add(1,2)"]);
    // The tool's result reaches the model.
    const after = messagesOf(fake.chatRequests[1]!).slice(2);
    assert.ok(after.some((m) => m.role !== "assistant" && String(m.content).includes("3")));
    assert.equal(t.result?.messages.at(-1)?.content, "It is 3.");
  });

  test("live: a final envelope written as text is decoded while it streams", async () => {
    const text = 'A "quoted" answer with \\ and 😀 and more words here.';
    const raw = JSON.stringify({ type: "final", content: text });
    const deltas = raw.match(/.{1,5}/gsu)!;
    const { agent } = setup([{ deltas, delayMs: 2 }]);
    const t = await trace(agent, "q", { live: true });
    assertChunks(t, text, 1);
    assert.ok(chunksBeforeLastResponse(t) > 0, "decoded live");
  });
});

// ---- live mode with native tools ---------------------------------------------------------------

describe("native + live", () => {
  const words = Array.from({ length: 24 }, (_, i) => `token${i} `);
  const answer = words.join("").trimEnd();

  test("the plain-text final answer streams before the model finishes; tool-call replies emit nothing", async () => {
    const { add, executed } = makeTools();
    const { agent } = setup([
      { toolCalls: [{ name: "add", arguments: { a: 2, b: 2 } }], delayMs: 5 },
      { deltas: ["\n", ...words.slice(0, -1), words.at(-1)!.trimEnd()], delayMs: 8 },
    ], { tools: [add], live: true });
    const t = await trace(agent);
    assertChunks(t, answer, 2);
    assert.deepEqual(executed, ["add(2,2)"]);
    assert.deepEqual(t.order.slice(0, 1), ["response"], "nothing streamed during the tool call");
    assert.ok(chunksBeforeLastResponse(t) >= words.length - 2, "streamed live");
  });

  test('a "<think>" tag cut across deltas is held back, never streamed', async () => {
    const { agent } = setup([{
      deltas: ["<th", "ink>pondering", " more</thi", "nk>\n", "Hello ", "live ", "world"],
    }]);
    const t = await trace(agent, "q", { live: true });
    assertChunks(t, "Hello live world", 1);
    assert.ok(chunksBeforeLastResponse(t) > 0);
  });

  test("an answer that starts with a code fence is not mistaken for an envelope: it arrives whole", async () => {
    const text = "```python\nprint(1)\n```\nThat prints 1.";
    const { agent } = setup([{ deltas: text.match(/.{1,4}/gsu)! }]);
    const t = await trace(agent, "q", { live: true });
    assertChunks(t, text, 1);
  });

  test("text streamed before a tool call: LiveStreamError, and the tool never runs", async () => {
    const { add, executed } = makeTools();
    const { fake, agent } = setup([
      {
        deltas: ["Let ", "me ", "compute ", "that ", "for ", "you."],
        toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }],
      },
    ], { tools: [add] });
    const t = await trace(agent, "q", { live: true });
    assert.ok(t.error instanceof LiveStreamError, String(t.error));
    assert.equal(t.error.deliveredText, t.chunks.map((c) => c.text).join(""));
    assert.ok(t.error.deliveredText.startsWith("Let me"));
    assert.deepEqual(executed, []);
    assert.equal(fake.chatRequests.length, 1);
  });

  test("arbitrary plain text under arbitrary delta boundaries: chunks concatenate to the answer", async () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "grapheme", maxLength: 60 }),
        fc.array(fc.nat(300), { maxLength: 20 }),
        async (body, cuts) => {
          const text = `A${body.replaceAll("<think>", "")}`;
          const points = [...new Set([0, ...cuts.map((c) => c % text.length), text.length])]
            .sort((a, b) => a - b);
          const deltas = points.slice(1).map((p, i) => text.slice(points[i], p));
          assert.equal(deltas.join(""), text);
          const { agent } = setup([{ deltas }], { chunking: "grapheme" });
          const t = await trace(agent, "q", { live: true });
          assertChunks(t, text, 1);
          const boundaries = new Set([...segmenter.segment(text)].map((s) => s.index));
          boundaries.add(text.length);
          let at = 0;
          for (const c of t.chunks) {
            at += c.text.length;
            assert.ok(boundaries.has(at), `boundary ${at} inside a grapheme`);
          }
        },
      ),
      { seed: 0x0a71e, numRuns: 120 },
    );
  });
});

// ---- a real socket -------------------------------------------------------------------------------

describe("native over a real loopback socket", () => {
  test("a multi-step run with parallel calls, byte-split SSE, live final answer", async () => {
    const { add, multiply, executed } = makeTools();
    const fake = createFakeLMStudio({
      replies: [
        {
          toolCalls: [
            { name: "add", arguments: { a: 2, b: 3 } },
            { name: "multiply", arguments: { x: 6, y: 7 } },
          ],
          chunkBytes: "random",
          seed: 7,
        },
        { toolCalls: [{ name: "add", arguments: { a: 5, b: 42 } }], chunkBytes: 3 },
        { content: "Five plus forty-two is 47. Done!", chunkBytes: "random", seed: 3 },
      ],
    });
    const server = await serve(fake.handler);
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", maxRetries: 0 });
      const agent = new Agent({ client, protocol: "native", tools: [add, multiply] });
      const t = await trace(agent, "q", { live: true });
      assertChunks(t, "Five plus forty-two is 47. Done!", 3);
      assert.deepEqual(executed.slice(0, 2).sort(), ["add(2,3)", "multiply(6,7)"]);
      assert.equal(executed[2], "add(5,42)");
      const tools = messagesOf(fake.chatRequests[2]!).filter((m) => m.role === "tool");
      assert.deepEqual(tools.map((m) => [m.tool_call_id, m.content]), [
        ["100", "5"],
        ["101", '{"product":42}'],
        ["100", "47"],
      ]);
    } finally {
      await server.close();
    }
  });

  test("generate mode and the corrective retry over the socket", async () => {
    const { add, executed } = makeTools();
    const fake = createFakeLMStudio({
      replies: [
        { toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }], finishReason: "length" },
        { toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }] },
        { content: "3" },
      ],
    });
    const server = await serve(fake.handler);
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", maxRetries: 0 });
      const agent = new Agent({ client, protocol: "native", tools: [add], modelCall: "generate" });
      const result = await agent.run("1+2?");
      assert.equal(result.text, "3");
      assert.equal(result.steps, 2);
      assert.deepEqual(executed, ["add(1,2)"]);
      assert.ok(fake.chatRequests.every((r) => r.body?.stream !== true));
    } finally {
      await server.close();
    }
  });
});

// Keep the kit's SSE builder honest about what the fake sends for native calls.
test("the fake streams native calls with LM Studio's repeated empty name and id", () => {
  const events = chatCompletionEvents({
    deltas: [],
    toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }],
  }).filter((d) => d.includes('"tool_calls":[')).map((d) => JSON.parse(d));
  assert.ok(events.length >= 3);
  const later = events.slice(1).map((e) => e.choices[0].delta.tool_calls[0]);
  assert.ok(
    later.every((f: { id: string; function: { name: string } }) =>
      f.id === "" && f.function.name === ""
    ),
  );
});

describe("reasoning effort and reasoning in history (issue 17)", () => {
  test("reasoning is sent as reasoning_effort on every call (off as none); bad values throw", async () => {
    for (const [setting, sent] of [["off", "none"], ["low", "low"], ["high", "high"]] as const) {
      const fake = createFakeLMStudio({ replies: [{ content: "Hi" }] });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
      const agent = new Agent({
        client,
        protocol: "native",
        reasoning: setting,
        params: { reasoning_effort: "medium" },
      });
      await agent.run("hi");
      const body = fake.chatRequests[0]!.body as unknown as Record<string, unknown>;
      assert.equal(body.reasoning_effort, sent);
    }
    const fake = createFakeLMStudio({ replies: [{ content: "Hi" }] });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
    await new Agent({ client, protocol: "native" }).run("hi");
    assert.ok(!("reasoning_effort" in (fake.chatRequests[0]!.body as object)), "unset: not sent");
    assert.throws(
      () => new Agent({ reasoning: "max" as "high" }),
      (e: unknown) => e instanceof TypeError && /reasoning must be/.test(e.message),
    );
  });

  test("a native tool step's reasoning is not sent back in history", async () => {
    const { add } = makeTools();
    const fake = createFakeLMStudio({
      replies: [
        {
          content: "<think>SECRET plan</think>",
          toolCalls: [{ name: "add", arguments: { a: 1, b: 2 } }],
        },
        { content: "3" },
      ],
    });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
    const result = await new Agent({ client, protocol: "native", tools: [add] }).run("1+2?");
    assert.equal(result.text, "3");
    const sent = JSON.stringify(fake.chatRequests[1]!.body!.messages);
    assert.ok(!sent.includes("SECRET"), sent);
    assert.ok(!JSON.stringify(result.messages).includes("SECRET"));
  });
});
