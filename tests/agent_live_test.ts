// Live final-answer streaming (`agent.stream(prompt, { live: true })`): the envelope's content is
// decoded and sliced while the model is still writing it. Arbitrary Unicode text under arbitrary
// delta boundaries (fast-check), no chunks from tool-call replies, the first chunk before the
// model finishes (paced fake server), LiveStreamError once text is out, the normal retry before
// that, chunking options and paced chunks.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type AgentResult,
  type Chunking,
  defineTool,
  LiveStreamError,
  LMStudioClient,
  LMStudioError,
  ProtocolError,
  sliceText,
  type StreamChunk,
} from "../mod.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";

// ---- helpers ---------------------------------------------------------------------------------

const final = (content: string) => JSON.stringify({ type: "final", content });

function setup(replies: readonly FakeReply[], options: AgentOptions = {}) {
  const fake = createFakeLMStudio({ replies });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
  const agent = new Agent({ client, ...options });
  return { fake, agent };
}

/** One entry per thing that happened, in order: a chunk the consumer received, or an event. */
type Entry = { kind: "recv"; chunk: StreamChunk; at: number } | {
  kind: "event";
  event: AgentEvent;
  at: number;
};

interface Trace {
  timeline: Entry[];
  chunks: StreamChunk[];
  events: AgentEvent[];
  result?: AgentResult;
  error?: unknown;
}

/** Streams a run to the end (or its error), recording chunks and events on one timeline. */
async function trace(
  agent: Agent,
  options: { live?: boolean; signal?: AbortSignal; onChunk?: (c: StreamChunk) => void } = {},
): Promise<Trace> {
  const t: Trace = { timeline: [], chunks: [], events: [] };
  const stream = agent.stream("question", {
    ...(options.live === undefined ? {} : { live: options.live }),
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: (event) => {
      t.events.push(event);
      t.timeline.push({ kind: "event", event, at: performance.now() });
    },
  });
  try {
    for await (const chunk of stream) {
      t.chunks.push(chunk);
      t.timeline.push({ kind: "recv", chunk, at: performance.now() });
      options.onChunk?.(chunk);
    }
    t.result = await stream.result;
  } catch (err) {
    t.error = err;
    // `result` rejects with the same error.
    await assert.rejects(stream.result, (e) => e === err);
  }
  return t;
}

/** How many chunks the consumer had received when the first model_response event fired. */
function chunksBeforeResponse(t: Trace): number {
  const at = t.timeline.findIndex((e) => e.kind === "event" && e.event.type === "model_response");
  assert.ok(at >= 0, "a model_response event was emitted");
  return t.timeline.slice(0, at).filter((e) => e.kind === "recv").length;
}

function assertContract(t: Trace, text: string, step = 1): void {
  assert.equal(t.error, undefined, `no error, got ${String(t.error)}`);
  assert.equal(t.result?.text, text);
  assert.equal(t.chunks.map((c) => c.text).join(""), text);
  assert.deepEqual(
    t.chunks.map((c) => c.isFinal),
    t.chunks.map((_, i) => i === t.chunks.length - 1),
  );
  assert.ok(t.chunks.every((c) => c.step === step), "every chunk belongs to the final step");
  if (text === "") assert.deepEqual(t.chunks, [{ text: "", step, isFinal: true }]);
  else assert.ok(t.chunks.every((c) => c.text !== ""), "no empty chunks");
  // Every chunk the consumer saw was also announced as a "chunk" event, in the same order.
  const announced = t.events.flatMap((e) => e.type === "chunk" ? [e.chunk] : []);
  assert.deepEqual(announced, t.chunks);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function graphemeBoundaries(text: string): Set<number> {
  const set = new Set<number>([text.length]);
  for (
    const { index } of new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)
  ) {
    set.add(index);
  }
  return set;
}

function assertGraphemeSafe(chunks: readonly StreamChunk[], text: string): void {
  const boundaries = graphemeBoundaries(text);
  let at = 0;
  for (const c of chunks) {
    assert.ok(!LONE_SURROGATE.test(c.text), `lone surrogate in chunk ${JSON.stringify(c.text)}`);
    at += c.text.length;
    assert.ok(boundaries.has(at), `chunk boundary at ${at} is inside a grapheme cluster`);
  }
}

/** Cuts `s` at the given code-unit indices (any order, duplicates and out-of-range allowed). */
function cut(s: string, points: readonly number[]): string[] {
  const sorted = [...new Set(points.map((p) => p % (s.length + 1)))].sort((a, b) => a - b);
  const parts: string[] = [];
  let from = 0;
  for (const p of sorted) {
    if (p > from) parts.push(s.slice(from, p));
    from = Math.max(from, p);
  }
  parts.push(s.slice(from));
  return parts;
}

/** JSON with every non-ASCII code unit (and control character) as a \uXXXX escape. */
function asciiJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[^\x20-\x7e\n]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Deltas that each carry one word of `text` (the envelope split around it). */
function wordDeltas(text: string): string[] {
  return ['{"type":"final","content":"', ...text.split(/(?<= )/), '"}'];
}

// ---- the contract under arbitrary text and delta boundaries ---------------------------------

// Graphemes that stress the decoder and the slicer: ZWJ sequences, skin tones, flags (regional
// indicator pairs), combining marks, Hangul jamo, CJK, JSON-special characters, control
// characters, line/paragraph separators, a BOM.
const TRICKY = [
  "👨‍👩‍👧‍👦",
  "👍🏽",
  "🏳️‍🌈",
  "🇫🇷",
  "🇯🇵🇰🇷",
  "😀",
  "e\u0301",
  "a\u0308\u0323",
  "\u1100\u1161\u11a8",
  "한국어",
  "中文字",
  "日本語。",
  '"',
  '\\"',
  "\\",
  "\\u0041",
  "/",
  "\n",
  "\r\n",
  "\t",
  "\u0000",
  "\u001f",
  "\u007f",
  "\u2028",
  "\u2029",
  "\ufeff",
  " ",
  "word ",
  "end. ",
  "}",
  '","type":"tool_call"',
];

const textArb = fc.array(
  fc.oneof(
    fc.constantFrom(...TRICKY),
    fc.string({ unit: "grapheme", maxLength: 4 }),
    fc.string({ unit: "grapheme-composite", maxLength: 3 }),
  ),
  { maxLength: 24 },
).map((parts) => parts.join(""));

type Shape = "plain" | "pretty" | "think" | "fence" | "content_first" | "extra_key";

function envelope(text: string, shape: Shape, ascii: boolean): string {
  const encode = (v: unknown, indent?: number) =>
    ascii ? asciiJson(v, indent) : JSON.stringify(v, null, indent);
  switch (shape) {
    case "plain":
      return encode({ type: "final", content: text });
    case "pretty":
      return encode({ type: "final", content: text }, 2);
    case "think":
      return `<think>The user wants {"type":"tool_call"}.</think>\n${
        encode({ type: "final", content: text })
      }`;
    case "fence":
      return "```json\n" + encode({ type: "final", content: text }) + "\n```";
    case "content_first":
      return encode({ content: text, type: "final" });
    case "extra_key":
      return encode({ type: "final", note: { content: "decoy", list: ["}", 1] }, content: text });
  }
}

describe("live mode: the streaming contract", () => {
  test("arbitrary Unicode text, arbitrary delta boundaries: chunks concatenate to the text, grapheme-safe, one isFinal", async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.constantFrom<Shape>("plain", "pretty", "think", "fence", "content_first", "extra_key"),
        fc.boolean(),
        fc.oneof(fc.array(fc.nat(400), { maxLength: 40 }), fc.constant("each" as const)),
        fc.constantFrom<Chunking>("grapheme", "word", { graphemes: 2 }),
        async (text, shape, ascii, cuts, chunking) => {
          const raw = envelope(text, shape, ascii);
          // Cut anywhere: inside escapes, between the two \uXXXX of a surrogate pair, between
          // the halves of a raw surrogate pair (the fake JSON-encodes a lone half as \udXXX).
          const deltas = cuts === "each" ? [...raw.split("")] : cut(raw, cuts);
          assert.equal(deltas.join(""), raw);
          const { agent } = setup([{ deltas }], { chunking });
          const t = await trace(agent, { live: true });
          assertContract(t, text);
          assertGraphemeSafe(t.chunks, text);
          // Live indeed: with one grapheme per chunk and "type" first, everything but the
          // last couple of clusters is out before the reply ends.
          const clusters = graphemeBoundaries(text).size - 1;
          if (chunking === "grapheme" && shape !== "content_first" && clusters >= 3) {
            assert.ok(
              chunksBeforeResponse(t) >= clusters - 2,
              `${chunksBeforeResponse(t)} of ${clusters} chunks before the reply ended`,
            );
          }
          if (shape === "content_first") {
            // The content is held until "type":"final" has been read.
            const firstRecv = t.timeline.findIndex((e) => e.kind === "recv");
            const before = t.timeline.slice(0, firstRecv).flatMap((e) =>
              e.kind === "event" && e.event.type === "model_delta" ? [e.event.text] : []
            ).join("");
            assert.ok(before.includes('"type":"final"'), `chunk before "type" was read: ${before}`);
          }
        },
      ),
      { seed: 0x5eed_11fe, numRuns: 250 },
    );
  });

  test("an escaped surrogate pair split at every position decodes to whole emoji", async () => {
    const text = "😀👍🏽 é中";
    const raw = asciiJson({ type: "final", content: text });
    for (let i = 1; i < raw.length; i++) {
      const { agent } = setup([{ deltas: [raw.slice(0, i), raw.slice(i)] }], {
        chunking: "grapheme",
      });
      const t = await trace(agent, { live: true });
      assertContract(t, text);
      assertGraphemeSafe(t.chunks, text);
      assert.deepEqual(t.chunks.map((c) => c.text), ["😀", "👍🏽", " ", "é", "中"]);
    }
  });

  test("an empty final answer is one empty final chunk", async () => {
    const { agent } = setup([{ deltas: ['{"type":"final","content":', '""}'] }]);
    const t = await trace(agent, { live: true });
    assertContract(t, "");
  });
});

// ---- tool calls never stream ----------------------------------------------------------------

describe("live mode: tool-call replies", () => {
  test("a tool-call reply emits no chunks, even with decoy final-looking members", async () => {
    const seen: unknown[] = [];
    const lookup = defineTool({
      name: "lookup",
      description: "Looks something up.",
      parameters: z.object({
        q: z.number().optional(),
        type: z.string().optional(),
        content: z.string().optional(),
      }),
      execute: (args) => {
        seen.push(args);
        return "found";
      },
    });
    const decoyNested = JSON.stringify({
      type: "tool_call",
      tool: "lookup",
      arguments: { type: "final", content: "nested decoy words" },
    });
    const decoyFirst = JSON.stringify({
      content: "content before type decoy",
      type: "tool_call",
      tool: "lookup",
      arguments: { q: 1 },
    });
    const { agent, fake } = setup([
      { deltas: [...decoyNested] }, // one character per delta
      { deltas: cut(decoyFirst, [3, 11, 20, 30, 41]) },
      { deltas: wordDeltas("The answer is 42 and that is final.") },
    ], { tools: [lookup], chunking: "grapheme" });
    const t = await trace(agent, { live: true });
    assertContract(t, "The answer is 42 and that is final.", 3);
    assert.equal(t.result?.steps, 3);
    assert.equal(fake.chatRequests.length, 3);
    assert.deepEqual(seen, [{ type: "final", content: "nested decoy words" }, { q: 1 }]);
    // No chunk event at all before the final step started.
    const step3 = t.events.findIndex((e) => e.type === "step_start" && e.step === 3);
    assert.ok(t.events.slice(0, step3).every((e) => e.type !== "chunk"));
    assert.ok(chunksBeforeResponse(t) === 0, "no chunk during the first (tool-call) reply");
  });
});

// ---- liveness --------------------------------------------------------------------------------

describe("live mode: the first chunk arrives before the model finishes", () => {
  const words = Array.from({ length: 36 }, (_, i) => `word${i} `);
  const text = words.join("").trimEnd();
  const replies = (): FakeReply[] => [{ deltas: wordDeltas(text), delayMs: 12 }];

  test("paced fake server: first chunk before the model_response event and before the last delta", async () => {
    const { agent } = setup(replies());
    const t = await trace(agent, { live: true });
    assertContract(t, text);
    const firstRecv = t.timeline.findIndex((e) => e.kind === "recv");
    const response = t.timeline.findIndex((e) =>
      e.kind === "event" && e.event.type === "model_response"
    );
    assert.ok(firstRecv < response, "first chunk precedes the end of the model's reply");
    assert.ok(t.timeline[firstRecv]!.at < t.timeline[response]!.at);
    const deltasBefore =
      t.timeline.slice(0, firstRecv).filter((e) =>
        e.kind === "event" && e.event.type === "model_delta"
      ).length;
    const deltasTotal = t.events.filter((e) => e.type === "model_delta").length;
    assert.ok(deltasBefore < deltasTotal / 4, `${deltasBefore} of ${deltasTotal} deltas before`);
    assert.ok(chunksBeforeResponse(t) >= words.length - 3);
  });

  test("buffered (the default) waits for the whole reply: no chunk before model_response", async () => {
    const { agent } = setup(replies());
    const t = await trace(agent);
    assertContract(t, text);
    assert.equal(chunksBeforeResponse(t), 0);
  });

  test("the agent option `live: true` is the default for stream(); `live: false` per call overrides it", async () => {
    const a = setup(replies(), { live: true });
    const live = await trace(a.agent);
    assertContract(live, text);
    assert.ok(chunksBeforeResponse(live) > 0);

    const b = setup(replies(), { live: true });
    const buffered = await trace(b.agent, { live: false });
    assertContract(buffered, text);
    assert.equal(chunksBeforeResponse(buffered), 0);
  });
});

// ---- failures ------------------------------------------------------------------------------

describe("live mode: failures", () => {
  const words = [
    "The ",
    "answer ",
    "is ",
    "long ",
    "and ",
    "it ",
    "keeps ",
    "going ",
    "on ",
    "and ",
  ];

  function assertLiveError(t: Trace): LiveStreamError {
    assert.ok(t.error instanceof LiveStreamError, `LiveStreamError, got ${String(t.error)}`);
    assert.ok(t.error instanceof LMStudioError);
    assert.equal(t.error.name, "LiveStreamError");
    assert.equal(t.error.deliveredText, t.chunks.map((c) => c.text).join(""));
    assert.ok(t.error.deliveredText.length > 0, "some text was delivered before the failure");
    assert.ok(t.chunks.every((c) => !c.isFinal), "no chunk claimed to be the last");
    assert.match(t.error.message, new RegExp(`after ${t.error.deliveredText.length} characters`));
    return t.error;
  }

  test('truncation by the token limit (finish_reason "length") after live text → LiveStreamError, no retry', async () => {
    const { agent, fake } = setup([
      { deltas: ['{"type":"final","content":"', ...words], finishReason: "length" },
      { content: final("never asked for") },
    ]);
    const t = await trace(agent, { live: true });
    const err = assertLiveError(t);
    assert.match(err.message, /length/);
    assert.ok(words.join("").startsWith(err.deliveredText));
    assert.equal(fake.chatRequests.length, 1, "a reply with delivered text is never retried");
    assert.ok(t.events.every((e) => e.type !== "protocol_retry"));
  });

  test("connection lost mid-content → LiveStreamError carrying the delivered text and the cause", async () => {
    const { agent, fake } = setup([
      { deltas: ['{"type":"final","content":"', ...words], disconnectAfterEvents: 8 },
      { content: final("never asked for") },
    ]);
    const t = await trace(agent, { live: true });
    const err = assertLiveError(t);
    assert.ok(words.join("").startsWith(err.deliveredText));
    assert.ok(
      err.cause instanceof LMStudioError,
      `cause is the client's error: ${String(err.cause)}`,
    );
    assert.ok(!(err.cause instanceof LiveStreamError));
    assert.equal(fake.chatRequests.length, 1);
  });

  test("a violation after the content (text after the object) → LiveStreamError, no retry", async () => {
    const { agent, fake } = setup([
      { deltas: ['{"type":"final","content":"', ...words, '"}', " P.S. extra"] },
      { content: final("never asked for") },
    ]);
    const t = await trace(agent, { live: true });
    const err = assertLiveError(t);
    assert.match(err.message, /after the JSON object/);
    assert.equal(fake.chatRequests.length, 1);
  });

  test("a violation before any live text gets the normal single corrective retry", async () => {
    const { agent, fake } = setup([
      { content: "Sure! The answer is 5, as you can see here." },
      { deltas: wordDeltas("It is five.") },
    ]);
    const t = await trace(agent, { live: true });
    assertContract(t, "It is five.");
    assert.equal(fake.chatRequests.length, 2);
    const retries = t.events.filter((e) => e.type === "protocol_retry");
    assert.equal(retries.length, 1);
    const messages = fake.chatRequests[1]!.body?.messages as { role: string; content: string }[];
    assert.equal(messages.at(-1)?.role, "user");
    assert.match(messages.at(-1)!.content, /could not be used/);
  });

  test("cut off while the first slice is still held back → nothing was shown, so it is retried", async () => {
    // "Hello " is sliced but held back (it might be the last chunk), "wor" is still growing:
    // the consumer has seen nothing, so the normal rules apply.
    const { agent, fake } = setup([
      { deltas: ['{"type":"final","content":"', "Hello ", "wor"], finishReason: "length" },
      { deltas: wordDeltas("Short answer.") },
    ]);
    const t = await trace(agent, { live: true });
    assertContract(t, "Short answer.");
    assert.equal(fake.chatRequests.length, 2);
    assert.equal(t.events.filter((e) => e.type === "protocol_retry").length, 1);
  });

  test("two violations before any live text → ProtocolError, as in buffered mode", async () => {
    const { agent } = setup([{ content: "no json" }, { content: "still no json" }]);
    const t = await trace(agent, { live: true });
    assert.ok(t.error instanceof ProtocolError);
    assert.equal(t.error.rawText, "still no json");
    assert.deepEqual(t.chunks, []);
  });

  test("run() with a live agent is never live: a truncated reply is retried, not a LiveStreamError", async () => {
    const { agent, fake } = setup([
      { deltas: ['{"type":"final","content":"', ...words], finishReason: "length" },
      { content: final("Complete.") },
    ], { live: true });
    const result = await agent.run("question");
    assert.equal(result.text, "Complete.");
    assert.equal(fake.chatRequests.length, 2);
  });

  test("abort after live text rejects with the abort reason, not LiveStreamError", async () => {
    const controller = new AbortController();
    const reason = new Error("user stopped");
    const { agent } = setup([{ deltas: wordDeltas(words.join("")), delayMs: 5 }]);
    const t = await trace(agent, {
      live: true,
      signal: controller.signal,
      onChunk: (c) => {
        if (c.text === "is ") controller.abort(reason);
      },
    });
    assert.equal(t.error, reason);
    assert.deepEqual(t.chunks.map((c) => c.text), ["The ", "answer ", "is "]);
  });
});

// ---- chunking and pacing -------------------------------------------------------------------

describe("live mode: chunking options and chunkDelayMs", () => {
  const text = "First line here.\nSecond sentence! Third one? Yes: a /regex/ test,\n" +
    "with words and 👍🏽 emoji.\nLast line";
  const deltas = [
    '{"type":"final","content":',
    ...cut(JSON.stringify(text), [3, 9, 10, 25, 40, 41, 60, 75, 90]),
    "}",
  ];

  const options: [string, Chunking][] = [
    ["grapheme", "grapheme"],
    ["word", "word"],
    ["line", "line"],
    ["sentence", "sentence"],
    ["{ graphemes: 4 }", { graphemes: 4 }],
    ["/\\S+\\s+/", /\S+\s+/],
  ];
  for (const [name, chunking] of options) {
    test(`chunking ${name}: live chunks are exactly sliceText()'s, and some arrive early`, async () => {
      const { agent } = setup([{ deltas }], { chunking });
      const t = await trace(agent, { live: true });
      assertContract(t, text);
      assertGraphemeSafe(t.chunks, text);
      assert.deepEqual(t.chunks.map((c) => c.text), [...sliceText(text, { chunking })]);
      assert.ok(chunksBeforeResponse(t) > 0, "streamed before the reply ended");
    });
  }

  test("a chunking function is applied once to the whole answer (nothing streams early)", async () => {
    const byComma = (s: string) => s.split(/(?<=,)/);
    const { agent } = setup([{ deltas }], { chunking: byComma });
    const t = await trace(agent, { live: true });
    assertContract(t, text);
    assert.deepEqual(t.chunks.map((c) => c.text), byComma(text));
    assert.equal(chunksBeforeResponse(t), 0);
  });

  test("chunkDelayMs: one injected delay between consecutive chunks, none before the first", async () => {
    const log: string[] = [];
    const { agent } = setup([{ deltas }], {
      chunkDelayMs: 25,
      delay: (ms) => {
        log.push(`delay ${ms}`);
        return Promise.resolve();
      },
    });
    const t = await trace(agent, { live: true, onChunk: (c) => log.push(`chunk ${c.text}`) });
    assertContract(t, text);
    assert.ok(chunksBeforeResponse(t) > 0);
    const expected = t.chunks.flatMap((c, i) =>
      i === 0 ? [`chunk ${c.text}`] : ["delay 25", `chunk ${c.text}`]
    );
    assert.deepEqual(log, expected);
  });
});
