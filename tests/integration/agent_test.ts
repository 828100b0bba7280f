// Full agent runs against a real server (llama.cpp's llama-server, tiny model). The model's
// words are gibberish, but with the envelope protocol every reply is constrained by the
// `json_schema` grammar the agent sends, so runs must end cleanly: a final answer or the
// max-steps fallback, never a ProtocolError. Native tool calling gets no grammar: what this
// server and model really do with `tools` is asserted below. Skipped unless LMSTUDIO_BASE_URL
// is set (`npm run test:integration`).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type AgentResult,
  APIError,
  LMStudioClient,
  ProtocolError,
} from "../../mod.ts";
import { nativeToolSpecs } from "../../src/protocols/native.ts";
import { parseEnvelope } from "../../src/protocols/_envelope_parser.ts";
import { describeTools } from "../../src/tool_schema.ts";

const toNativeTools = (tools: Parameters<typeof describeTools>[0]) =>
  nativeToolSpecs(describeTools(tools));
import { assertInstance } from "../_kit/client_kit.ts";
import { rejection } from "../_kit/async_kit.ts";
import {
  add,
  BASE_URL,
  lookup,
  recordingFetch,
  type SentRequest,
  skipWithoutServer,
  SLOW,
} from "./_kit.ts";

const PROMPT = "What is 2 + 3? Use the tools if they help.";

// Fixed seeds (one per request, see recordingFetch), so any failure reproduces: the server is
// deterministic for a seed. Different ones on each runtime: the three runtimes together
// sample three times as many runs as one, in the time each spends.
// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const SEED = g.Deno ? 100 : g.Bun ? 200 : 300;

/** An agent on the real server that records its requests and events. */
function makeAgent(options: AgentOptions & { seed?: number; temperature?: number } = {}) {
  const sent: SentRequest[] = [];
  const events: AgentEvent[] = [];
  const { seed, temperature = 0.7, ...rest } = options;
  const agent = new Agent({
    client: new LMStudioClient({ fetch: recordingFetch(sent, seed, { chatOnly: true }) }),
    tools: [add, lookup],
    maxSteps: 3,
    params: { temperature, max_tokens: 200 },
    onEvent: (e) => events.push(e),
    ...rest,
  });
  return { agent, sent, events };
}

/** What every cleanly ended run satisfies, whatever the model said. */
function assertCleanRun(result: AgentResult, events: AgentEvent[], sent: SentRequest[]): void {
  const replies = events.flatMap((e) => e.type === "model_response" ? [e.text] : []);
  const label = `${result.stopReason} after ${result.steps} steps; replies: ${replies.join(" | ")}`;
  assert.ok(result.stopReason === "final" || result.stopReason === "max_steps", label);
  assert.ok(result.steps >= 1 && result.steps <= 3, label);
  assert.equal(typeof result.text, "string");
  assert.ok(result.usage.promptTokens > 0 && result.usage.completionTokens > 0, label);
  const responses = events.filter((e) => e.type === "model_response");
  // A request the client retried (a pooled connection the server had closed, a 5xx) was
  // sent again; each retry is a model_retry event.
  const transportRetries = events.filter((e) => e.type === "model_retry");
  for (const e of transportRetries) {
    console.log(`model_retry at step ${e.step}: ${e.error.message}`);
  }
  assert.equal(sent.filter((r) => r.retry).length, transportRetries.length, "retries");
  assert.equal(responses.length, sent.filter((r) => !r.retry).length, "one reply per request");
  // Usage is summed over every call of the run.
  const completion = responses.reduce((n, e) => n + (e.usage?.completionTokens ?? 0), 0);
  assert.equal(result.usage.completionTokens, completion);
  // Each tool call produced exactly one result (or a tool error fed back to the model).
  const calls = events.filter((e) => e.type === "tool_call").length;
  const outcomes = events.filter((e) => e.type === "tool_result" || e.type === "tool_error").length;
  assert.equal(outcomes, calls);
  const retries = events.filter((e) => e.type === "protocol_retry").length;
  console.log(
    `agent run: ${result.stopReason} after ${result.steps} steps, ${retries} protocol retries, ` +
      `${transportRetries.length} transport retries`,
  );
  const finish = events.at(-1);
  assert.equal(finish?.type, "finish");
  if (result.stopReason === "max_steps") {
    assert.ok(events.some((e) => e.type === "max_steps"));
    assert.equal(sent.filter((r) => !r.retry).length, 4 + retries);
  }
}

/** Envelope mode: every request carried the grammar; every complete reply is an envelope. */
function assertEnvelopeRun(events: AgentEvent[], sent: SentRequest[]): void {
  for (const request of sent) {
    const format = request.body?.response_format as { type?: string } | undefined;
    assert.equal(format?.type, "json_schema");
    assert.equal(request.body?.tools, undefined);
  }
  for (const e of events) {
    if (e.type !== "model_response" || e.finishReason === "length") continue;
    const parsed = parseEnvelope(e.text);
    assert.ok(parsed.ok, `step ${e.step}: not an envelope: ${e.text}`);
  }
}

/** Streams a run and checks the chunk contract; returns the result. */
async function streamRun(agent: Agent, live = false): Promise<AgentResult> {
  const stream = agent.stream(PROMPT, { live });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const result = await stream.result;
  assert.ok(chunks.length >= 1);
  assert.equal(chunks.map((c) => c.text).join(""), result.text);
  assert.deepEqual(chunks.map((c) => c.isFinal), chunks.map((_, i) => i === chunks.length - 1));
  const step = result.stopReason === "max_steps" ? 4 : result.steps;
  assert.ok(chunks.every((c) => c.step === step), `chunk steps ${chunks.map((c) => c.step)}`);
  return result;
}

if (!BASE_URL) {
  skipWithoutServer("integration: agent");
} else {
  describe("integration: agent runs (envelope protocol, json_schema grammar)", () => {
    for (const seed of [SEED + 1, SEED + 2, SEED + 3]) {
      test(`run() ends cleanly (temperature 0.7, seed ${seed})`, SLOW, async () => {
        const { agent, sent, events } = makeAgent({ seed });
        const result = await agent.run(PROMPT);
        assertCleanRun(result, events, sent);
        assertEnvelopeRun(events, sent);
        assert.equal(result.messages[0]?.content, PROMPT);
      });
    }

    test("run() at temperature 0 ends cleanly", SLOW, async () => {
      const { agent, sent, events } = makeAgent({ temperature: 0 });
      const result = await agent.run(PROMPT);
      assertCleanRun(result, events, sent);
      assertEnvelopeRun(events, sent);
    });

    for (const seed of [SEED + 4, SEED + 5]) {
      test(
        `stream() ends cleanly; its chunks add up to the answer (seed ${seed})`,
        SLOW,
        async () => {
          const { agent, sent, events } = makeAgent({ seed, chunking: "word" });
          const result = await streamRun(agent);
          assertCleanRun(result, events, sent);
          assertEnvelopeRun(events, sent);
        },
      );
    }

    for (const [seed, chunking] of [[SEED + 6, "word"], [SEED + 7, "grapheme"]] as const) {
      test(`stream() in live mode ends cleanly (${chunking}, seed ${seed})`, SLOW, async () => {
        const { agent, sent, events } = makeAgent({ seed, chunking });
        const result = await streamRun(agent, true);
        assertCleanRun(result, events, sent);
        assertEnvelopeRun(events, sent);
      });
    }

    test(`modelCall "generate" ends cleanly (seed ${SEED + 8})`, SLOW, async () => {
      const { agent, sent, events } = makeAgent({ seed: SEED + 8, modelCall: "generate" });
      const result = await agent.run(PROMPT);
      assertCleanRun(result, events, sent);
      assertEnvelopeRun(events, sent);
      assert.ok(sent.every((r) => r.body?.stream === undefined));
    });

    test("aborting a run mid-reply rejects with the signal's reason", SLOW, async () => {
      const controller = new AbortController();
      const reason = new Error("stop");
      const { agent } = makeAgent({
        seed: 1,
        onEvent: (e) => {
          if (e.type === "model_delta" && e.text) controller.abort(reason);
        },
      });
      const err = await rejection(agent.run(PROMPT, { signal: controller.signal }));
      assert.equal(err, reason);
    });
  });

  describe("integration: native tool calling against llama.cpp", () => {
    // What this server does: it accepts `tools` (the Qwen2.5 chat template renders them), but
    // the tiny model never writes a <tool_call> block, so replies are plain text, sometimes
    // empty — no grammar constrains them, and llama-server refuses a custom grammar together
    // with tools. A run therefore ends with a text answer, or, after two empty replies in a
    // row, with the documented ProtocolError ("neither text nor a tool call").
    test("at temperature 0 the reply is a plain-text final answer", SLOW, async () => {
      const { agent, sent, events } = makeAgent({ protocol: "native", temperature: 0 });
      const result = await agent.run(PROMPT);
      assertCleanRun(result, events, sent);
      assert.equal(result.stopReason, "final");
      assert.ok(result.text.trim().length > 0);
      const tools = sent[0]!.body!.tools as { function: { name: string } }[];
      assert.deepEqual(tools.map((t) => t.function.name), ["add", "lookup"]);
      assert.equal(sent[0]!.body!.response_format, undefined);
    });

    test("live stream at temperature 0 streams the plain-text answer", SLOW, async () => {
      const { agent, sent, events } = makeAgent({ protocol: "native", temperature: 0 });
      const result = await streamRun(agent, true);
      assertCleanRun(result, events, sent);
      assert.equal(result.stopReason, "final");
    });

    test("the server accepts tools with any tool_choice; this model still answers in text", async () => {
      const client = new LMStudioClient();
      for (const tool_choice of ["auto", "none", "required"] as const) {
        const result = await client.generate({
          messages: [{ role: "user", content: PROMPT }],
          tools: toNativeTools([add, lookup]),
          tool_choice,
          temperature: 0,
          max_tokens: 16,
        });
        // "required" is not enforced by a grammar here: no tool_calls, whatever the choice.
        assert.equal(result.toolCalls, undefined, tool_choice);
        assert.ok(result.finishReason === "stop" || result.finishReason === "length");
      }
    });

    test("a reply the server cannot parse as a tool call is a typed error, streamed or not", async () => {
      // With `tools`, llama-server parses the model's output as it goes; a prefilled
      // assistant turn it cannot parse makes it fail the request: HTTP 500 server_error, or
      // in a stream a `data: {"error": …}` event after the first chunk, then no [DONE].
      const client = new LMStudioClient({ maxRetries: 0 });
      const request = {
        messages: [
          { role: "user" as const, content: "2+3?" },
          {
            role: "assistant" as const,
            content: '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
          },
        ],
        tools: toNativeTools([add]),
        temperature: 0,
        max_tokens: 5,
      };
      const message = /does not match the expected peg-native format/;
      const plain = assertInstance(await rejection(client.generate(request)), APIError);
      assert.equal(plain.status, 500);
      assert.equal(plain.code, "server_error");
      assert.match(plain.serverMessage, message);
      const streamed = assertInstance(
        await rejection(client.stream(request).finalResult()),
        APIError,
      );
      assert.equal(streamed.status, undefined, "an error event inside a 200 stream");
      assert.equal(streamed.code, "server_error");
      assert.match(streamed.serverMessage, message);
      assert.match(streamed.message, /server sent an error mid-stream/);
    });

    test("sampled runs end with an answer or the documented ProtocolError", SLOW, async () => {
      const outcomes: string[] = [];
      for (let seed = SEED + 1; seed <= SEED + 6; seed++) {
        const { agent, sent, events } = makeAgent({ protocol: "native", seed });
        try {
          const result = await agent.run(PROMPT);
          assertCleanRun(result, events, sent);
          const retries = events.filter((e) => e.type === "protocol_retry").length;
          outcomes.push(`seed ${seed}: ${result.stopReason}, ${retries} protocol retries`);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          assert.match(err.reason, /neither text nor a tool call|cut off by the token limit/);
          assert.equal(err.step, 1);
          assert.ok(events.some((e) => e.type === "protocol_retry"));
          outcomes.push(`seed ${seed}: ProtocolError`);
        }
        // Whatever happened, no tool ran without a native call to run.
        assert.equal(events.filter((e) => e.type === "tool_call").length, 0, outcomes.join(", "));
      }
      console.log(`native sampled outcomes: ${outcomes.join(", ")}`);
    });
  });
}
