// agent.stream(): the streaming contract (concatenation, exactly one isFinal and it is last,
// the empty answer), every chunking option, paced chunks with an injected delay, the
// ReadableStream / text / SSE Response views, `result`, cancellation by `break` and by
// cancelling a view, and a seeded property test over arbitrary Unicode answers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type AgentStream,
  type Chunking,
  defineTool,
  LMStudioClient,
  ProtocolError,
  type StreamChunk,
  type ToolContext,
} from "../mod.ts";
import { createFakeLMStudio, type FakeReply, type RecordedRequest } from "../testing.ts";
import { serve } from "./_kit/serve.ts";
import { collect, eventually, rejection, sleep, within } from "./_kit/async_kit.ts";

// ---- helpers ---------------------------------------------------------------------------------

const final = (content: string) => JSON.stringify({ type: "final", content });
const call = (tool: string, args: Record<string, unknown>) =>
  JSON.stringify({ type: "tool_call", tool, arguments: args });

type Replies = readonly FakeReply[] | ((request: RecordedRequest, index: number) => FakeReply);

/**
 * An agent on a fake server; `signals` holds the AbortSignal of every model request (chat
 * completions, not model-info lookups).
 */
function setup(replies: Replies, options: Omit<AgentOptions, "client"> = {}) {
  const fake = createFakeLMStudio({ replies });
  const signals: AbortSignal[] = [];
  const client = new LMStudioClient({
    model: "m",
    fetch: (input, init) => {
      if (init?.signal && String(input).endsWith("/chat/completions")) signals.push(init.signal);
      return fake.fetch(input, init);
    },
  });
  const events: AgentEvent[] = [];
  const agent = new Agent({ client, onEvent: (e) => events.push(e), ...options });
  return { fake, client, agent, signals, events };
}

/** The streaming contract every stream must keep. */
function assertContract(chunks: StreamChunk[], text: string, step = 1): void {
  assert.ok(chunks.length >= 1, "at least one chunk");
  assert.equal(chunks.map((c) => c.text).join(""), text, "chunks concatenate to the answer");
  const finals = chunks.flatMap((c, i) => c.isFinal ? [i] : []);
  assert.deepEqual(finals, [chunks.length - 1], "exactly one isFinal, on the last chunk");
  assert.ok(chunks.every((c) => c.step === step), `every chunk has step ${step}`);
  if (text !== "") assert.ok(chunks.every((c) => c.text !== ""), "no empty chunks");
}

/** Parses an SSE body into `{event, data}` records. */
function parseSSE(body: string): { event: string; data: string }[] {
  return body.split("\n\n").filter((block) => block !== "").map((block) => {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
      else assert.fail(`unexpected SSE line ${JSON.stringify(line)}`);
    }
    return { event, data: data.join("\n") };
  });
}

const TEXT = "Hello world. How are you?\nFine, thanks! 👍🏽 ok";

// ---- the contract ------------------------------------------------------------------------------

describe("streaming contract", () => {
  test("chunks concatenate to result.text; exactly one isFinal and it is last; chunk events match", async () => {
    const { agent, events } = setup([{ content: final(TEXT) }]);
    const stream = agent.stream("hi");
    const chunks = await collect(stream);
    const result = await stream.result;
    assert.equal(result.text, TEXT);
    assertContract(chunks, TEXT);
    assert.ok(chunks.length > 3, "the default (word) chunking cuts the answer");
    const chunkEvents = events.flatMap((e) => e.type === "chunk" ? [e.chunk] : []);
    assert.deepEqual(chunkEvents, chunks);
    assert.equal(events.at(-1)!.type, "finish");
  });

  test("an empty final answer yields exactly one chunk {text: '', isFinal: true}", async () => {
    for (const modelCall of ["stream", "generate"] as const) {
      const { agent } = setup([{ content: final("") }, { content: final("") }], { modelCall });
      assert.deepEqual(await collect(agent.stream("say nothing")), [
        { text: "", step: 1, isFinal: true },
      ]);
      const result = await agent.run("say nothing");
      assert.equal(result.text, "");
      assert.equal(result.stopReason, "final");
    }
  });

  test("after tool steps, the final chunks carry the final step", async () => {
    const add = defineTool({
      name: "add",
      description: "Adds.",
      parameters: z.object({ a: z.number(), b: z.number() }),
      execute: ({ a, b }) => a + b,
    });
    const { agent } = setup([
      { content: call("add", { a: 1, b: 2 }) },
      { content: call("add", { a: 3, b: 3 }) },
      { content: final("It is 6, really.") },
    ], { tools: [add] });
    const chunks = await collect(agent.stream("sum"));
    assertContract(chunks, "It is 6, really.", 3);
  });

  test("run() yields no paced chunks: one chunk event with the whole answer, no delays", async () => {
    const delays: number[] = [];
    const { agent, events } = setup([{ content: final(TEXT) }], {
      chunkDelayMs: 50,
      delay: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    });
    await agent.run("hi");
    assert.deepEqual(delays, []);
    assert.deepEqual(events.flatMap((e) => e.type === "chunk" ? [e.chunk] : []), [
      { text: TEXT, step: 1, isFinal: true },
    ]);
  });
});

// ---- chunking options ----------------------------------------------------------------------------

describe("chunking options", () => {
  const cases: { name: string; chunking: Chunking | undefined; expected: string[] }[] = [
    {
      name: "default (word)",
      chunking: undefined,
      expected: ["Hello ", "world. ", "How ", "are ", "you?\n", "Fine, ", "thanks! 👍🏽 ", "ok"],
    },
    {
      name: "word",
      chunking: "word",
      expected: ["Hello ", "world. ", "How ", "are ", "you?\n", "Fine, ", "thanks! 👍🏽 ", "ok"],
    },
    {
      name: "grapheme",
      chunking: "grapheme",
      expected: [...new Intl.Segmenter("en", { granularity: "grapheme" }).segment(TEXT)].map(
        (s) => s.segment,
      ),
    },
    {
      name: "line",
      chunking: "line",
      expected: ["Hello world. How are you?\n", "Fine, thanks! 👍🏽 ok"],
    },
    {
      name: "sentence",
      chunking: "sentence",
      expected: ["Hello world. ", "How are you?\n", "Fine, thanks! ", "👍🏽 ok"],
    },
    {
      name: "{ graphemes: 5 }",
      chunking: { graphemes: 5 },
      expected: ["Hello", " worl", "d. Ho", "w are", " you?", "\nFine", ", tha", "nks! ", "👍🏽 ok"],
    },
    {
      name: "RegExp",
      chunking: /,\s*/,
      expected: ["Hello world. How are you?\nFine, ", "thanks! 👍🏽 ok"],
    },
    {
      name: "function",
      chunking: (text: string) => text.split(/(?<=\s)/),
      expected: ["Hello ", "world. ", "How ", "are ", "you?\n", "Fine, ", "thanks! ", "👍🏽 ", "ok"],
    },
  ];
  for (const { name, chunking, expected } of cases) {
    test(`${name}`, async () => {
      const { agent } = setup([{ content: final(TEXT) }], chunking ? { chunking } : {});
      const chunks = await collect(agent.stream("hi"));
      assert.deepEqual(chunks.map((c) => c.text), expected);
      assertContract(chunks, TEXT);
    });
  }

  test("the grapheme chunking keeps the emoji with its skin tone in one chunk", async () => {
    const { agent } = setup([{ content: final("a👍🏽b") }], { chunking: "grapheme" });
    assert.deepEqual((await collect(agent.stream("hi"))).map((c) => c.text), ["a", "👍🏽", "b"]);
  });

  test("a splitter that cuts inside clusters has its boundaries moved to cluster ends", async () => {
    const family = "👨‍👩‍👧‍👦";
    const text = `ab${family}e\u0301🇫🇷c`;
    const codeUnits = (t: string) => t.split("");
    for (const chunking of [codeUnits, /[\s\S]/] as Chunking[]) {
      const { agent } = setup([{ content: final(text) }], { chunking });
      const chunks = await collect(agent.stream("hi"));
      assert.deepEqual(chunks.map((c) => c.text), ["a", "b", family, "e\u0301", "🇫🇷", "c"]);
    }
  });

  test("a chunking function returning pieces that do not cover the text fails the run", async () => {
    const { agent } = setup([{ content: final("abc") }], { chunking: () => ["a", "x"] });
    const err = await rejection(collect(agent.stream("hi")));
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /chunking function must return pieces/);
  });
});

// ---- paced chunks -----------------------------------------------------------------------------------

describe("chunkDelayMs", () => {
  test("an injected delay is asked for chunkDelayMs between chunks (count = chunks - 1), never waiting", async () => {
    const log: string[] = [];
    const aborted: boolean[] = [];
    const { agent } = setup([{ content: final("one two three four") }], {
      chunkDelayMs: 40,
      delay: (ms, signal) => {
        log.push(`delay ${ms}`);
        aborted.push(!(signal instanceof AbortSignal) || signal.aborted);
        return Promise.resolve();
      },
    });
    const chunks: StreamChunk[] = [];
    for await (const chunk of agent.stream("count")) {
      chunks.push(chunk);
      log.push(`chunk ${chunk.text}`);
    }
    assert.deepEqual(log, [
      "chunk one ",
      "delay 40",
      "chunk two ",
      "delay 40",
      "chunk three ",
      "delay 40",
      "chunk four",
    ]);
    assert.equal(log.filter((l) => l.startsWith("delay")).length, chunks.length - 1);
    assert.deepEqual(aborted, [false, false, false], "each delay gets the run's live signal");
  });

  test("the default delay is abortable: abort during a long pause rejects promptly with the reason", async () => {
    const { agent } = setup([{ content: final("one two") }], { chunkDelayMs: 60_000 });
    const controller = new AbortController();
    const reason = new Error("stop pacing");
    const got: string[] = [];
    const started = Date.now();
    const err = await within(
      rejection((async () => {
        for await (const chunk of agent.stream("hi", { signal: controller.signal })) {
          got.push(chunk.text);
          setTimeout(() => controller.abort(reason), 20);
        }
      })()),
      5000,
      "the paced stream",
    );
    assert.equal(err, reason);
    assert.deepEqual(got, ["one "]);
    assert.ok(Date.now() - started < 5000);
  });
});

// ---- views: ReadableStream, text Response, SSE Response, result ------------------------------------

describe("ReadableStream and Response views", () => {
  test("toReadableStream() delivers the same chunks", async () => {
    const { agent } = setup([{ content: final(TEXT) }]);
    const stream = agent.stream("hi");
    const reader = stream.toReadableStream().getReader();
    const chunks: StreamChunk[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    assertContract(chunks, TEXT);
    assert.equal((await stream.result).text, TEXT);
  });

  test("toTextResponse() streams the answer as text/plain", async () => {
    const { agent } = setup([{ content: final(TEXT) }]);
    const response = agent.stream("hi").toTextResponse({ status: 201, headers: { "x-run": "1" } });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(response.headers.get("x-run"), "1");
    assert.equal(await response.text(), TEXT);
  });

  test("toTextResponse(): a failed run errors the body instead of ending it short", async () => {
    const { agent } = setup([{ content: "nope" }, { content: "still nope" }]);
    const response = agent.stream("hi").toTextResponse();
    await assert.rejects(response.text());
  });

  test("toSSEResponse(): one data event {text, step, isFinal} per chunk", async () => {
    const { agent } = setup([{ content: final(TEXT) }]);
    const stream = agent.stream("hi");
    const response = stream.toSSEResponse();
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-cache");
    const events = parseSSE(await response.text());
    assert.ok(events.every((e) => e.event === "message"));
    const chunks = events.map((e) => JSON.parse(e.data) as StreamChunk);
    for (const chunk of chunks) {
      assert.deepEqual(Object.keys(chunk).sort(), ["isFinal", "step", "text"]);
    }
    assertContract(chunks, TEXT);
    assert.equal((await stream.result).text, TEXT);
  });

  test("toSSEResponse(): a run failing before any chunk ends with `event: error` {name, message}", async () => {
    const { agent } = setup([{ content: "nope" }, { content: "still nope" }]);
    const stream = agent.stream("hi");
    const events = parseSSE(await stream.toSSEResponse().text());
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event, "error");
    const error = JSON.parse(events[0]!.data);
    assert.deepEqual(Object.keys(error).sort(), ["message", "name"]);
    assert.equal(error.name, "ProtocolError");
    assert.match(error.message, /broke the reply protocol twice/);
    assert.ok(await rejection(stream.result) instanceof ProtocolError);
  });

  test("toSSEResponse(): an error mid-run, after chunks, ends with `event: error`", async () => {
    const { agent } = setup([{ content: final("one two three") }], {
      chunkDelayMs: 5,
      delay: () => Promise.reject(new RangeError("pacing broke")),
    });
    const events = parseSSE(await agent.stream("hi").toSSEResponse().text());
    assert.deepEqual(events.map((e) => e.event), ["message", "error"]);
    assert.deepEqual(JSON.parse(events[0]!.data), { text: "one ", step: 1, isFinal: false });
    assert.deepEqual(JSON.parse(events[1]!.data), { name: "RangeError", message: "pacing broke" });
  });

  test("`result` without iterating runs to the end; iterating afterwards replays the answer", async () => {
    const { agent, events, fake } = setup([{ content: final(TEXT) }]);
    const stream = agent.stream("hi");
    assert.equal(fake.chatRequests.length, 0, "nothing starts before consumption");
    const result = await stream.result;
    assert.equal(result.text, TEXT);
    assert.equal(result.stopReason, "final");
    assert.equal(await stream.result, result, "result is stable");
    const chunkEvents = events.flatMap((e) => e.type === "chunk" ? [e.chunk] : []);
    assertContract(chunkEvents, TEXT);
    // Issue 15: `result` is passive, so iterating after it still works: the finished answer,
    // re-sliced the same way, with no second run.
    const replayed: StreamChunk[] = [];
    for await (const chunk of stream) replayed.push(chunk);
    assert.deepEqual(replayed, chunkEvents);
    assert.equal(fake.chatRequests.length, 1, "no second run");
    assert.throws(() => stream[Symbol.asyncIterator](), TypeError, "iterated once");
  });
});

// ---- cancellation by the consumer ------------------------------------------------------------------

describe("cancellation by the consumer", () => {
  test("`break` after the first chunk stops the run: no more chunks, result rejects with AbortError", async () => {
    const delays: number[] = [];
    const { agent, events } = setup([{ content: final("a b c d e f") }], {
      chunkDelayMs: 10,
      delay: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    });
    const stream = agent.stream("hi");
    for await (const _chunk of stream) break;
    const err = await within(rejection(stream.result), 2000, "result after `break`");
    assert.ok(err instanceof DOMException && err.name === "AbortError", String(err));
    await sleep(20);
    assert.equal(events.filter((e) => e.type === "chunk").length, 1);
    assert.ok(!events.some((e) => e.type === "finish"));
    assert.deepEqual(delays, []);
  });

  test("`break` while the model is still writing (live) aborts the in-flight request", async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
    const { agent, signals, events } = setup([{ content: final(words), delayMs: 15 }], {
      live: true,
    });
    const stream = agent.stream("hi");
    const got: string[] = [];
    for await (const chunk of stream) {
      got.push(chunk.text);
      break;
    }
    assert.deepEqual(got, ["w0 "]);
    assert.equal(signals.length, 1);
    assert.ok(await eventually(() => signals[0]!.aborted), "the model request was aborted");
    const deltas = events.filter((e) => e.type === "model_delta").length;
    await sleep(60);
    assert.equal(
      events.filter((e) => e.type === "model_delta").length,
      deltas,
      "nothing keeps reading",
    );
    assert.ok(await rejection(stream.result) instanceof DOMException);
  });

  test("cancelling toReadableStream() during a model call aborts the request promptly", async () => {
    const { agent, signals } = setup([{ content: final("late"), firstByteDelayMs: 60_000 }]);
    const stream = agent.stream("hi");
    const reader = stream.toReadableStream().getReader();
    const read = reader.read();
    assert.ok(await eventually(() => signals.length === 1));
    const started = Date.now();
    await within(reader.cancel(new Error("gone")), 5000, "cancel()");
    assert.ok(Date.now() - started < 5000);
    assert.ok(signals[0]!.aborted, "the in-flight model request was aborted");
    assert.deepEqual(await read, { value: undefined, done: true });
    await rejection(stream.result);
  });

  test("cancelling toReadableStream() during a tool aborts the tool's signal", async () => {
    let context: ToolContext | undefined;
    const hang = defineTool({
      name: "hang",
      description: "Never returns.",
      parameters: z.object({}),
      execute: (_args, ctx) => {
        context = ctx;
        return new Promise(() => {});
      },
    });
    const { agent, fake } = setup([{ content: call("hang", {}) }, { content: final("x") }], {
      tools: [hang],
    });
    const reader = agent.stream("hi").toReadableStream().getReader();
    const read = reader.read();
    assert.ok(await eventually(() => context !== undefined), "the tool started");
    await within(reader.cancel(), 5000, "cancel()");
    assert.equal(context!.signal.aborted, true);
    assert.deepEqual(await read, { value: undefined, done: true });
    assert.equal(fake.chatRequests.length, 1, "no further model call");
  });

  test("cancelling the SSE Response body during a model call aborts the request", async () => {
    const { agent, signals } = setup([{ content: final("late"), firstByteDelayMs: 60_000 }]);
    const reader = agent.stream("hi").toSSEResponse().body!.getReader();
    const read = reader.read();
    assert.ok(await eventually(() => signals.length === 1));
    await within(reader.cancel(), 5000, "cancel()");
    assert.ok(signals[0]!.aborted);
    assert.equal((await read).done, true);
  });

  test("over a real socket: the HTTP client going away from an SSE edge handler aborts the model request", async () => {
    const { agent, signals } = setup([{ content: final("late"), firstByteDelayMs: 60_000 }]);
    const server = await serve(() => agent.stream("hi").toSSEResponse());
    try {
      const controller = new AbortController();
      const response = fetch(server.origin, { signal: controller.signal }).then(
        (r) => r.body?.cancel(),
        () => {},
      );
      assert.ok(await eventually(() => signals.length === 1), "the handler started the run");
      controller.abort();
      await within(response, 5000, "the client's fetch");
      assert.ok(await eventually(() => signals[0]!.aborted), "the model request was aborted");
    } finally {
      await server.close();
    }
  });

  test("over a real socket: an SSE edge handler streams a whole answer", async () => {
    const { agent } = setup([{ content: final(TEXT) }]);
    const server = await serve(() => agent.stream("hi").toSSEResponse());
    try {
      const response = await fetch(server.origin);
      assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const chunks = parseSSE(await response.text()).map((e) => JSON.parse(e.data) as StreamChunk);
      assertContract(chunks, TEXT);
    } finally {
      await server.close();
    }
  });
});

// ---- property test --------------------------------------------------------------------------------

describe("property: arbitrary Unicode answers under every chunking option", () => {
  const HARD = [
    "👨‍👩‍👧‍👦", // ZWJ family
    "🏳️‍🌈", // ZWJ with a variation selector
    "👍🏽", // skin tone
    "🇫🇷", // flag
    "🇯🇵🇺🇸", // two flags in a row
    "e\u0301", // combining acute
    "a\u0308\u0323", // two combining marks
    "漢字",
    "한국어",
    "\u1100\u1161\u11a8", // conjoining jamo
    "\r\n",
    "\n",
    " ",
    ". ",
    "! ",
    "x\u200dy",
    "ก่",
  ];
  const hard = fc.constantFrom(...HARD);
  const text = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 30 }),
    fc.array(hard, { maxLength: 12 }).map((parts) => parts.join("")),
    fc.array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 4 }), hard), { maxLength: 12 })
      .map((parts) => parts.join("")),
  );
  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

  const options: [string, Chunking][] = [
    ["grapheme", "grapheme"],
    ["word", "word"],
    ["line", "line"],
    ["sentence", "sentence"],
    ["{ graphemes: 3 }", { graphemes: 3 }],
    ["RegExp /\\s+/", /\s+/],
    ["RegExp /[\\s\\S]/ (one code unit)", /[\s\S]/],
    ["function (code units)", (t: string) => t.split("")],
    ["function (every 3 code units)", (t: string) => t.match(/[\s\S]{1,3}/g) ?? []],
  ];
  options.forEach(([name, chunking], index) => {
    test(name, async () => {
      let answer = "";
      const { agent } = setup(() => ({ content: final(answer) }), { chunking });
      await fc.assert(
        fc.asyncProperty(text, async (generated) => {
          answer = generated;
          const stream: AgentStream = agent.stream("go");
          const chunks = await collect(stream);
          assert.equal((await stream.result).text, generated);
          assertContract(chunks, generated);
          if (generated === "") assert.deepEqual(chunks, [{ text: "", step: 1, isFinal: true }]);
          for (const chunk of chunks) {
            assert.ok(
              !LONE_SURROGATE.test(chunk.text),
              `lone surrogate in ${JSON.stringify(chunk.text)}`,
            );
          }
          const boundaries = new Set([...graphemes.segment(generated)].map((s) => s.index));
          boundaries.add(generated.length);
          let at = 0;
          for (const chunk of chunks) {
            at += chunk.text.length;
            assert.ok(boundaries.has(at), `chunk boundary at ${at} splits a grapheme cluster`);
          }
        }),
        { seed: 20_240_401 + index, numRuns: 100 },
      );
    });
  });
});
