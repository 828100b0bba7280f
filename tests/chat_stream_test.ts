// The streamed chat path: SSE bytes → deltas → finalResult(), through `client.stream()`.
// Fixture transcripts (LM Studio, OpenAI, llama.cpp, reasoning, tool calls, an error event)
// are replayed under every byte split; the fake LM Studio injects framing quirks and faults.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  APIError,
  type ChatDelta,
  type ChatResult,
  decodeChatStream,
  InvalidResponseError,
  LMStudioClient,
  type LMStudioClientOptions,
  ResponseTooLargeError,
  StreamError,
} from "../mod.ts";
import { ResponseTimeoutError } from "../src/errors.ts";
import {
  chatCompletionEvents,
  createFakeLMStudio,
  encodeSSE,
  everySplit,
  type FakeLMStudioOptions,
  type FakeReply,
  splitBytes,
  sseResponse,
} from "../testing.ts";
import {
  assertInstance,
  fixture,
  observeBody,
  observedClient,
  trackSrcTimers,
  USER,
} from "./_kit/client_kit.ts";
import {
  collectDeltas as collect,
  eventually,
  rejection,
  sleep,
  within,
} from "./_kit/async_kit.ts";
import { serve } from "./_kit/serve.ts";

const encoder = new TextEncoder();

/** A client whose every request is answered with `pieces` as one SSE body. */
function replayClient(
  pieces: ReadonlyArray<string | Uint8Array>,
  options: LMStudioClientOptions = {},
): LMStudioClient {
  return new LMStudioClient({
    model: "m",
    maxRetries: 0,
    fetch: (() => Promise.resolve(sseResponse(pieces))) as typeof fetch,
    ...options,
  });
}

interface Outcome {
  deltas: ChatDelta[];
  result?: ChatResult;
  error?: unknown;
}

/** Streams `pieces` through `client.stream()` and returns the deltas and the result/error. */
async function replay(
  pieces: ReadonlyArray<string | Uint8Array>,
  options?: LMStudioClientOptions,
): Promise<Outcome> {
  const stream = replayClient(pieces, options).stream({ messages: USER });
  const { deltas, error } = await collect(stream);
  if (error) return { deltas, error };
  return { deltas, result: await stream.finalResult() };
}

/** Cuts `bytes` at the given offsets (any order; out-of-range and duplicates ignored). */
function cutAt(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of sorted) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < bytes.length) out.push(bytes.subarray(from));
  return out;
}

// ---- What each fixture must decode to -------------------------------------------------

interface Expected {
  /** Successful fixtures: the whole result. */
  result?: ChatResult;
  /** Failing fixtures: what the error must look like. */
  error?: { cls: typeof APIError; serverMessage: string; code: string; partialText: string };
  /** Number of non-empty deltas. */
  deltaCount: number;
}

const FIXTURES: Record<string, Expected> = {
  "lmstudio.sse": {
    deltaCount: 8,
    result: {
      text: "Hello, wörld! 🦀 日本語 👩‍👩‍👧 done.",
      reasoning: "",
      finishReason: "stop",
      usage: { promptTokens: 14, completionTokens: 9, totalTokens: 23 },
      model: "qwen3-4b-2507",
    },
  },
  "lmstudio_reasoning.sse": {
    deltaCount: 9,
    result: {
      text: "2 + 2 = **4**.",
      reasoning: "The user asks 2+2. That is 4 — easy.",
      finishReason: "stop",
      usage: { promptTokens: 22, completionTokens: 9, totalTokens: 31 },
      model: "qwen3-4b-thinking-2507",
    },
  },
  "lmstudio_gptoss_reasoning.sse": {
    deltaCount: 6,
    result: {
      text: "Hi there! 👋",
      reasoning: "User wants a greeting.",
      finishReason: "stop",
      usage: { promptTokens: 31, completionTokens: 6, totalTokens: 37 },
      model: "openai/gpt-oss-20b",
    },
  },
  "lmstudio_tool_calls.sse": {
    deltaCount: 7,
    result: {
      text: "Checking both.",
      reasoning: "",
      finishReason: "tool_calls",
      usage: { promptTokens: 120, completionTokens: 41, totalTokens: 161 },
      model: "qwen3-4b-2507",
      toolCalls: [
        {
          id: "365174485",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Zürich"}' },
        },
        {
          id: "118237094",
          type: "function",
          function: { name: "get_time", arguments: '{"tz":"Europe/Zurich"}' },
        },
      ],
    },
  },
  "lmstudio_error.sse": {
    deltaCount: 3,
    error: {
      cls: APIError,
      serverMessage: "The model has crashed without additional information. (Exit code: null)",
      code: "server_error",
      partialText: "Once upon a",
    },
  },
  "openai.sse": {
    deltaCount: 7,
    result: {
      text: "Bonjour à tous — ça va?",
      reasoning: "",
      finishReason: "stop",
      usage: { promptTokens: 19, completionTokens: 7, totalTokens: 26 },
      model: "gpt-4o-mini-2024-07-18",
    },
  },
  "llamacpp.sse": {
    deltaCount: 6,
    result: {
      text: " hello world ünïcødé ∑",
      reasoning: "",
      finishReason: "stop",
      usage: { promptTokens: 15, completionTokens: 6, totalTokens: 21 },
      model: "tiny-peer",
    },
  },
  "framing_fields.sse": {
    deltaCount: 3,
    result: { text: "Ça marche 🎉", reasoning: "", finishReason: "stop", model: "m" },
  },
};

/** Asserts one replay matches the fixture's expectation and the reference deltas. */
function check(name: string, how: string, got: Outcome, want: Expected, reference?: ChatDelta[]) {
  const where = `${name} (${how})`;
  if (reference) assert.deepEqual(got.deltas, reference, `${where}: deltas differ`);
  assert.equal(got.deltas.length, want.deltaCount, `${where}: delta count`);
  for (const d of got.deltas) {
    assert.ok(d.text !== "" || d.reasoning !== "" || d.toolCalls, `${where}: empty delta`);
    assert.ok(d.text === "" || d.reasoning === "", `${where}: text and reasoning mixed`);
  }
  if (want.result) {
    assert.equal(got.error, undefined, `${where}: unexpected ${String(got.error)}`);
    assert.deepEqual(got.result, want.result, where);
    assert.equal(got.deltas.map((d) => d.text).join(""), want.result.text, where);
    assert.equal(got.deltas.map((d) => d.reasoning).join(""), want.result.reasoning, where);
  } else {
    const err = assertInstance(got.error, want.error!.cls);
    assert.equal(err.status, undefined, where);
    assert.equal(err.serverMessage, want.error!.serverMessage, where);
    assert.equal(err.code, want.error!.code, where);
    assert.equal(err.partialText, want.error!.partialText, where);
    assert.equal(got.deltas.map((d) => d.text).join(""), want.error!.partialText, where);
  }
}

describe("fixtures replayed through client.stream()", () => {
  for (const [name, want] of Object.entries(FIXTURES)) {
    describe(name, () => {
      const bytes = fixture(name);

      test("decodes the whole body", async () => {
        check(name, "whole", await replay([bytes]), want);
      });

      test("gives the same deltas under 1-byte and random 1–17-byte splits", async () => {
        const reference = (await replay([bytes])).deltas;
        check(name, "1-byte", await replay(splitBytes(bytes, 1)), want, reference);
        for (let seed = 1; seed <= 25; seed++) {
          const pieces = splitBytes(bytes, { min: 1, max: 17, seed });
          check(name, `random seed ${seed}`, await replay(pieces), want, reference);
        }
      });

      // The large transcripts get 1-byte splits above, which cut at every byte too.
      if (bytes.length <= 1100) {
        test("gives the same deltas when cut in two at every byte", async () => {
          const reference = (await replay([bytes])).deltas;
          for (const [head, tail] of everySplit(bytes)) {
            check(name, `cut at ${head.length}`, await replay([head, tail]), want, reference);
          }
        });
      }

      test("gives the same deltas with CRLF and with bare CR line endings", async () => {
        const reference = (await replay([bytes])).deltas;
        const text = new TextDecoder().decode(bytes);
        for (const nl of ["\r\n", "\r"]) {
          const framed = encoder.encode(text.replaceAll("\n", nl));
          const label = JSON.stringify(nl);
          check(name, `${label} 1-byte`, await replay(splitBytes(framed, 1)), want, reference);
          for (let seed = 1; seed <= 5; seed++) {
            const pieces = splitBytes(framed, { min: 1, max: 17, seed });
            check(name, `${label} seed ${seed}`, await replay(pieces), want, reference);
          }
        }
      });
    });
  }
});

describe("stream decoding", () => {
  for (const nl of ["\n", "\r\n", "\r"]) {
    test(`an event is delivered from the read that completes it (${JSON.stringify(nl)} line ends)`, async () => {
      const [first, second] = chatCompletionEvents({ deltas: ["now", "later"] })
        .slice(0, 2).map((e) => `data: ${e}${nl}${nl}`);
      let body!: ReadableStreamDefaultController<Uint8Array>;
      const stream = decodeChatStream(
        new ReadableStream<Uint8Array>({ start: (c) => void (body = c) }),
      );
      const it = stream[Symbol.asyncIterator]();
      // A read that ends with a whole event, and long enough that a missed line break shows.
      body.enqueue(encoder.encode(`: ${"x".repeat(40_000)}${nl}${first}`));
      const delta = await within(it.next(), 2000, "the first event's delta");
      assert.equal(delta.value?.text, "now");
      body.enqueue(encoder.encode(`${second}data: [DONE]${nl}${nl}`));
      body.close();
      assert.equal((await it.next()).value?.text, "later");
      assert.equal((await stream.finalResult()).text, "nowlater");
    });
  }

  test("a split inside every multi-byte character still yields the exact text", async () => {
    const text = "é€🦀👩‍👩‍👧日";
    const body = encoder.encode(encodeSSE(chatCompletionEvents({ deltas: [...text] })));
    // Offsets strictly inside a UTF-8 sequence: continuation bytes (10xxxxxx).
    const inside = [...body.keys()].filter((i) => (body[i]! & 0xc0) === 0x80);
    assert.ok(inside.length >= 20);
    for (const i of inside) {
      const got = await replay([body.subarray(0, i), body.subarray(i)]);
      assert.equal(got.result?.text, text, `cut at ${i}`);
      assert.deepEqual(got.deltas.map((d) => d.text), [...text]);
    }
    // All of them at once: every character arrives in pieces.
    const got = await replay(cutAt(body, inside));
    assert.equal(got.result?.text, text);
  });

  test("re-chunking never changes the deltas, for any content, flavor and framing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: "binary", maxLength: 6 }), { maxLength: 10 }),
        fc.array(fc.string({ unit: "grapheme", maxLength: 4 }), { maxLength: 4 }),
        fc.constantFrom("reasoning_content" as const, "reasoning" as const),
        fc.constantFrom("lmstudio" as const, "openai" as const, "llamacpp" as const),
        fc.record({ crlf: fc.boolean(), comments: fc.boolean(), fields: fc.boolean() }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (deltas, reasoningDeltas, reasoningField, flavor, framing, cuts) => {
          const data = chatCompletionEvents({ deltas, reasoningDeltas, reasoningField, flavor });
          const body = encoder.encode(encodeSSE(data, framing));
          const got = await replay(cutAt(body, cuts));
          assert.equal(got.error, undefined, String(got.error));
          const want = [
            ...reasoningDeltas.filter((r) => r !== "").map((r) => ({ text: "", reasoning: r })),
            ...deltas.filter((d) => d !== "").map((d) => ({ text: d, reasoning: "" })),
          ];
          assert.deepEqual(got.deltas, want);
          assert.equal(got.result!.text, deltas.join(""));
          assert.equal(got.result!.reasoning, reasoningDeltas.join(""));
          assert.equal(got.result!.finishReason, "stop");
        },
      ),
      { seed: 20251125, numRuns: 300 },
    );
  });

  test("the fake's 1-byte, random, CRLF, comment and field framings all reconstruct the text", async () => {
    const content = "Grüße aus Zürich 🇨🇭 — naïve café, 東京. Done!";
    const variants = [
      { chunkBytes: 1 },
      { chunkBytes: "random" as const, seed: 7 },
      { chunkBytes: "random" as const, seed: 99, crlf: true },
      { chunkBytes: 1, crlf: true, comments: true, sseFields: true },
      { chunkBytes: 3, comments: true },
      { sseFields: true, flavor: "openai" as const },
      { chunkBytes: 2, flavor: "llamacpp" as const, crlf: true },
    ];
    for (const v of variants) {
      const fake = createFakeLMStudio({ replies: [{ content, ...v }] });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m" });
      const stream = client.stream({ messages: USER });
      const { text, error } = await collect(stream);
      assert.equal(error, undefined, JSON.stringify(v));
      assert.equal(text, content, JSON.stringify(v));
      assert.equal((await stream.finalResult()).text, content);
    }
  });

  test("a leading byte-order mark and a final event without its blank line are accepted", async () => {
    const data = chatCompletionEvents({ deltas: ["a", "b"] });
    const body = "\ufeff" + encodeSSE(data).replace(/\n\n$/, "");
    const got = await replay(splitBytes(encoder.encode(body), 1));
    assert.equal(got.error, undefined, String(got.error));
    assert.equal(got.result!.text, "ab");
  });

  test('role-only first chunks (content null or "") produce no delta', async () => {
    for (const flavor of ["llamacpp", "openai"] as const) {
      const data = chatCompletionEvents({ deltas: ["x", "y"], flavor });
      assert.ok(data[0]!.includes('"role":"assistant"'));
      const got = await replay([encodeSSE(data)]);
      assert.deepEqual(got.deltas, [{ text: "x", reasoning: "" }, { text: "y", reasoning: "" }]);
    }
  });

  test("usage arrives camelCased; a missing total is the sum; usage: null chunks don't erase it", async () => {
    const got = await replay([
      encodeSSE([
        JSON.stringify({ choices: [{ index: 0, delta: { content: "a" } }], usage: null }),
        JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }),
        JSON.stringify({
          choices: [{ index: 0, delta: {}, finish_reason: "length" }],
          usage: null,
        }),
        "[DONE]",
      ]),
    ]);
    assert.deepEqual(got.result, {
      text: "a",
      reasoning: "",
      finishReason: "length",
      usage: { promptTokens: 5, completionTokens: 2, totalTokens: 7 },
    });
  });

  test("reasoning from reasoning_content and reasoning is kept out of the text", async () => {
    for (const reasoningField of ["reasoning_content", "reasoning"] as const) {
      const fake = createFakeLMStudio({
        replies: [{ reasoning: "think hard about it", reasoningField, content: "The answer." }],
      });
      const stream = new LMStudioClient({ fetch: fake.fetch, model: "m" }).stream({
        messages: USER,
      });
      const { deltas } = await collect(stream);
      const result = await stream.finalResult();
      assert.equal(result.text, "The answer.");
      assert.equal(result.reasoning, "think hard about it");
      const firstText = deltas.findIndex((d) => d.text !== "");
      assert.ok(deltas.slice(0, firstText).every((d) => d.reasoning !== "" && d.text === ""));
      assert.ok(deltas.slice(firstText).every((d) => d.reasoning === ""));
    }
  });

  test("native tool-call fragments merge by index, interleaved, ignoring empty names and ids", async () => {
    const chunk = (tool_calls: unknown[], finish: string | null = null) =>
      JSON.stringify({
        choices: [{
          index: 0,
          delta: { role: "assistant", tool_calls },
          finish_reason: finish,
        }],
      });
    const frag = (index: number, id: string, name: string, args: string) => ({
      index,
      id,
      type: "function",
      function: { name, arguments: args },
    });
    const body = encodeSSE([
      chunk([frag(0, "a1", "search", "")]),
      chunk([frag(1, "b2", "fetch", "")]),
      chunk([frag(0, "", "", '{"q":')]),
      chunk([frag(1, "", "", '{"url":"x"}')]),
      chunk([frag(0, "", "", '"cats"}')]),
      // vLLM style: no id at all on a later fragment; llama.cpp style: no type
      chunk([{ index: 0, function: { arguments: "" } }]),
      chunk([], "tool_calls"),
      "[DONE]",
    ]);
    for (const pieces of [[body], splitBytes(encoder.encode(body), 1)]) {
      const got = await replay(pieces);
      assert.equal(got.error, undefined, String(got.error));
      assert.deepEqual(got.result!.toolCalls, [
        { id: "a1", type: "function", function: { name: "search", arguments: '{"q":"cats"}' } },
        { id: "b2", type: "function", function: { name: "fetch", arguments: '{"url":"x"}' } },
      ]);
      assert.equal(got.result!.finishReason, "tool_calls");
      assert.deepEqual(got.deltas[0], {
        text: "",
        reasoning: "",
        toolCalls: [{ index: 0, id: "a1", name: "search", arguments: "" }],
      });
    }
  });

  test('the fake\'s LM Studio tool calls (repeated name "" and id "") merge intact', async () => {
    const fake = createFakeLMStudio({
      replies: [{
        toolCalls: [
          { id: "777", name: "add", arguments: { a: 2, b: 3 } },
          { name: "mul", arguments: '{"x":10,"y":"é"}' },
        ],
        chunkBytes: 1,
      }],
    });
    const stream = new LMStudioClient({ fetch: fake.fetch, model: "m" }).stream({
      messages: USER,
    });
    const result = await stream.finalResult();
    assert.deepEqual(result.toolCalls, [
      { id: "777", type: "function", function: { name: "add", arguments: '{"a":2,"b":3}' } },
      { id: "101", type: "function", function: { name: "mul", arguments: '{"x":10,"y":"é"}' } },
    ]);
    assert.equal(result.finishReason, "tool_calls");
  });
});

describe("stream errors", () => {
  const client = (reply: FakeLMStudioOptions, options: LMStudioClientOptions = {}) => {
    const fake = createFakeLMStudio(reply);
    return { fake, client: new LMStudioClient({ fetch: fake.fetch, model: "m", ...options }) };
  };

  test("an error event mid-stream throws APIError with the partial text (both error shapes)", async () => {
    for (
      const [errorEvent, serverMessage, code] of [
        ["Context length exceeded", "Context length exceeded", undefined],
        [
          { message: "Model unloaded", type: "server_error", param: null, code: null },
          "Model unloaded",
          "server_error",
        ],
      ] as const
    ) {
      const { fake, client: c } = client({
        replies: [{ content: "one two three", errorEvent, chunkBytes: "random" }],
      });
      const stream = c.stream({ messages: USER });
      const { text, error } = await collect(stream);
      const err = assertInstance(error, APIError);
      assert.equal(err.status, undefined);
      assert.equal(err.serverMessage, serverMessage);
      assert.equal(err.code, code);
      assert.equal(err.partialText, "one two three");
      assert.equal(text, "one two three");
      assert.match(err.message, new RegExp(serverMessage));
      assert.equal(fake.chatRequests.length, 1, "an error event is not retried");
      assert.equal(await rejection(stream.finalResult()), err);
    }
  });

  test("an `event: error` SSE event is an APIError too", async () => {
    const got = await replay([
      encodeSSE(chatCompletionEvents({ deltas: ["so far"] }).slice(0, 1)),
      'event: error\ndata: {"message":"out of memory","type":"server_error"}\n\n',
    ]);
    const err = assertInstance(got.error, APIError);
    assert.equal(err.serverMessage, "out of memory");
    assert.equal(err.partialText, "so far");
  });

  test("a data line that is not JSON throws InvalidResponseError with the partial text", async () => {
    const { client: c } = client({
      replies: [{ content: "alpha beta gamma", invalidJsonAfterEvents: 2 }],
    });
    const { text, error } = await collect(c.stream({ messages: USER }));
    const err = assertInstance(error, InvalidResponseError);
    assert.equal(err.partialText, "alpha beta");
    assert.equal(text, "alpha beta");
    assert.match(err.message, /not JSON: \{not json/);
  });

  test("a body ending without [DONE] throws StreamError with the partial text, finish reason or not", async () => {
    for (const finishReason of ["stop", null]) {
      const { fake, client: c } = client({
        replies: [{ content: "cut short here", finishReason, omitDone: true, chunkBytes: 5 }],
      });
      const stream = c.stream({ messages: USER });
      const { text, error } = await collect(stream);
      const err = assertInstance(error, StreamError);
      assert.equal(err.name, "StreamError");
      assert.ok(!(err instanceof InvalidResponseError) && !(err instanceof ResponseTooLargeError));
      assert.equal(err.partialText, "cut short here");
      assert.equal(text, "cut short here");
      assert.match(
        err.message,
        finishReason ? /finish_reason "stop" was seen, but no \[DONE\]/ : /without a finish reason/,
      );
      assert.equal(fake.chatRequests.length, 1);
    }
  });

  test("a 200 that is not text/event-stream throws InvalidResponseError", async () => {
    for (
      const [contentType, rawBody] of [
        ["application/json", '{"choices":[{"message":{"content":"hi"}}]}'],
        ["text/html; charset=utf-8", "<html>LM Studio</html>"],
      ]
    ) {
      const { client: c } = client({ replies: [{ contentType, rawBody }] });
      const { error, deltas } = await collect(c.stream({ messages: USER }));
      const err = assertInstance(error, InvalidResponseError);
      assert.match(err.message, new RegExp(contentType!.split(";")[0]!.replace("/", "\\/")));
      assert.match(err.message, /text\/event-stream/);
      assert.equal(deltas.length, 0);
    }
  });

  test("a connection reset mid-body (in-process) throws StreamError with the partial text", async () => {
    const { fake, client: c } = client({
      replies: [{ content: "a b c d e f", disconnectAfterEvents: 3 }],
    });
    const onRetry: unknown[] = [];
    const { text, error } = await collect(
      c.stream({ messages: USER }, { onRetry: (i) => onRetry.push(i) }),
    );
    const err = assertInstance(error, StreamError);
    assert.equal(err.partialText, "a b c");
    assert.equal(text, "a b c");
    assert.match(err.message, /connection lost/);
    assert.equal(fake.chatRequests.length, 1, "never retried once the body was being read");
    assert.deepEqual(onRetry, []);
  });

  test("a connection reset mid-body over a real socket throws StreamError with the partial text", async () => {
    const fake = createFakeLMStudio({
      replies: [{ content: "a b c d e f", disconnectAfterEvents: 3, delayMs: 20 }],
    });
    const server = await serve(fake.handler);
    try {
      const c = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const { text, error } = await collect(c.stream({ messages: USER }));
      const err = assertInstance(error, StreamError);
      assert.equal(err.constructor, StreamError);
      // Bun's server drops the last write before a reset; the others deliver all three events.
      assert.ok(["a b", "a b c"].includes(err.partialText), JSON.stringify(err.partialText));
      assert.equal(text, err.partialText);
      assert.equal(fake.chatRequests.length, 1, "never retried once the body was being read");
    } finally {
      await server.close();
    }
  });

  test("a stall past idleTimeoutMs throws ResponseTimeoutError phase idle, in-process", async () => {
    const { client: c } = client({ replies: [{ content: "x y z w", stallAfterEvents: 2 }] }, {
      idleTimeoutMs: 60,
    });
    const started = Date.now();
    const { result, pending } = await trackSrcTimers(() => collect(c.stream({ messages: USER })));
    const err = assertInstance(result.error, ResponseTimeoutError);
    assert.equal(err.phase, "idle");
    assert.equal(err.timeoutMs, 60);
    assert.equal(err.partialText, "x y");
    assert.equal(result.text, "x y");
    assert.ok(Date.now() - started < 1000, "fails soon after the idle limit");
    assert.equal(pending, 0, "no timer left behind");
  });

  test("a stall past idleTimeoutMs throws ResponseTimeoutError phase idle, over a real socket", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "x y z w", stallAfterEvents: 2 }] });
    let cancelled = false;
    const server = await serve(async (req) =>
      observeBody(await fake.handler(req), () => cancelled = true)
    );
    try {
      const c = new LMStudioClient({ baseURL: server.baseURL, model: "m", idleTimeoutMs: 150 });
      const { text, error } = await collect(c.stream({ messages: USER }));
      const err = assertInstance(error, ResponseTimeoutError);
      assert.equal(err.phase, "idle");
      assert.equal(err.partialText, "x y");
      assert.equal(text, "x y");
      assert.ok(await eventually(() => cancelled), "the server saw the stalled response cancelled");
    } finally {
      await server.close();
    }
  });

  test("a consumer slower than idleTimeoutMs is not a stall", async () => {
    const { client: c } = client({ replies: [{ content: "one two three" }] }, {
      idleTimeoutMs: 30,
    });
    const seen: string[] = [];
    const { pending } = await trackSrcTimers(async () => {
      for await (const d of c.stream({ messages: USER })) {
        seen.push(d.text);
        await sleep(80);
      }
    });
    assert.equal(seen.join(""), "one two three");
    assert.equal(pending, 0, "no timer left behind");
  });

  test("maxResponseChars stops the stream with ResponseTooLargeError (unit chars)", async () => {
    const { client: c } = client({ replies: [{ deltas: ["12345", "67890", "abcde", "fghij"] }] }, {
      maxResponseChars: 12,
    });
    const { text, error } = await collect(c.stream({ messages: USER }));
    const err = assertInstance(error, ResponseTooLargeError);
    assert.equal(err.unit, "chars");
    assert.equal(err.limit, 12);
    assert.equal(text, "1234567890", "the delta that crossed the limit is not delivered");
    assert.ok("1234567890abcde".startsWith(err.partialText) && err.partialText.length >= 10);
  });

  test("reasoning counts toward maxResponseChars", async () => {
    const { client: c } = client({ replies: [{ reasoning: "a".repeat(50), content: "ok" }] }, {
      maxResponseChars: 20,
    });
    const { error } = await collect(c.stream({ messages: USER }));
    assert.equal(assertInstance(error, ResponseTooLargeError).unit, "chars");
  });

  test("maxResponseBytes stops the stream with ResponseTooLargeError (unit bytes)", async () => {
    for (const chunkBytes of [undefined, 1, 64]) {
      const { client: c } = client({
        replies: [{ content: "word ".repeat(200), chunkBytes }],
      }, { maxResponseBytes: 1000 });
      const { error, text } = await collect(c.stream({ messages: USER }));
      const err = assertInstance(error, ResponseTooLargeError);
      assert.equal(err.unit, "bytes");
      assert.equal(err.limit, 1000);
      assert.ok(text.length < 1000 && err.partialText.startsWith(text));
    }
  });
});

describe("ChatStream", () => {
  const setup = (replies: FakeReply[]) => {
    const fake = createFakeLMStudio({ replies });
    return { fake, client: new LMStudioClient({ fetch: fake.fetch, model: "m" }) };
  };

  test("nothing is sent until iteration starts; finalResult() alone reads everything", async () => {
    const { fake, client } = setup([{ content: "lazy but complete", usage: null }]);
    const stream = client.stream({ messages: USER });
    await sleep(5);
    assert.equal(fake.requests.length, 0);
    const result = await stream.finalResult();
    assert.deepEqual(result, {
      text: "lazy but complete",
      reasoning: "",
      finishReason: "stop",
      model: "fake-model",
    });
    assert.equal(await stream.finalResult(), result, "the same result object again");
    assert.equal(fake.chatRequests.length, 1);
    const body = fake.chatRequests[0]!.body!;
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  test("iterating twice throws TypeError (also after finalResult())", async () => {
    const { client } = setup([{ content: "once" }, { content: "twice" }]);
    const stream = client.stream({ messages: USER });
    for await (const _ of stream) { /* drain */ }
    await assert.rejects(async () => {
      for await (const _ of stream) { /* again */ }
    }, TypeError);
    const other = client.stream({ messages: USER });
    await other.finalResult();
    assert.throws(() => other[Symbol.asyncIterator](), TypeError);
  });

  test("finalResult() after the stream failed rejects with the same error", async () => {
    const { client } = setup([{ content: "half", omitDone: true }]);
    const stream = client.stream({ messages: USER });
    const { error } = await collect(stream);
    assertInstance(error, StreamError);
    assert.equal(await rejection(stream.finalResult()), error);
  });

  test("finalResult() after the request itself failed rejects with the same error", async () => {
    const { client } = setup([{ status: 400, body: { error: { message: "bad request" } } }]);
    const stream = client.stream({ messages: USER });
    const { deltas, error } = await collect(stream);
    assert.equal(deltas.length, 0);
    assertInstance(error, APIError);
    assert.equal(await rejection(stream.finalResult()), error);
  });

  test("finalResult() after `break` rejects with TypeError (the stream was cancelled)", async () => {
    const { client } = setup([{ content: "a b c d" }]);
    const stream = client.stream({ messages: USER });
    for await (const _ of stream) break;
    assertInstance(await rejection(stream.finalResult()), TypeError);
  });

  test("toReadableStream() delivers the deltas, then finalResult() has the result", async () => {
    const { client } = setup([{ content: "web streams too", reasoning: "hm" }]);
    const stream = client.stream({ messages: USER });
    const readable = stream.toReadableStream();
    assert.ok(readable instanceof ReadableStream);
    const reader = readable.getReader();
    const deltas: ChatDelta[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) deltas.push(r.value);
    assert.equal(deltas.map((d) => d.text).join(""), "web streams too");
    assert.equal(deltas.map((d) => d.reasoning).join(""), "hm");
    assert.equal((await stream.finalResult()).text, "web streams too");
  });

  test("toReadableStream() errors with the stream's error", async () => {
    const { client } = setup([{ content: "x", errorEvent: "boom" }]);
    const reader = client.stream({ messages: USER }).toReadableStream().getReader();
    let err: unknown;
    try {
      while (!(await reader.read()).done) { /* read */ }
    } catch (e) {
      err = e;
    }
    assert.equal(assertInstance(err, APIError).serverMessage, "boom");
  });

  test("cancelling toReadableStream() cancels the request, even while a read is pending", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "a b c", stallAfterEvents: 1 }] });
    // idleTimeoutMs bounds the test if cancel() waits for the read: the timeout would end it.
    const { client, seen } = observedClient(fake, { idleTimeoutMs: 2_000 });
    const { pending } = await trackSrcTimers(async () => {
      const reader = client.stream({ messages: USER }).toReadableStream().getReader();
      assert.equal((await reader.read()).value?.text, "a");
      const next = reader.read(); // the server is silent: this read waits
      await sleep(10);
      const started = Date.now();
      await reader.cancel();
      assert.ok(Date.now() - started < 500, `cancel took ${Date.now() - started} ms`);
      assert.equal((await next).done, true);
    });
    assert.ok(seen.cancelled, "the response body was cancelled");
    assert.equal(seen.signal?.aborted, true, "the request's signal was aborted");
    assert.equal(pending, 0, "no timer left behind");
  });
});
