// Adversarial SSE: arbitrary Unicode content framed like real OpenAI-compatible servers and
// cut at arbitrary (and deliberately nasty) byte offsets must come out exactly, through
// client.stream() and through agent.stream(); and every way a stream can go wrong gives a
// typed error carrying the partial text, never a short success.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Agent,
  APIError,
  type Chunking,
  InvalidResponseError,
  LiveStreamError,
  LMStudioClient,
  type StreamChunk,
  StreamError,
} from "../mod.ts";
import { ResponseTimeoutError } from "../src/errors.ts";
import { chatCompletionEvents, encodeSSE, type ServerFlavor, splitBytes } from "../testing.ts";
import {
  cutAt,
  cutText,
  fetchFrom,
  isLong,
  nastyOffsets,
  piecesBody,
  resetBody,
  sample,
  sse,
  stalledBody,
  utf8,
} from "./_kit/reliability_kit.ts";

const USER = [{ role: "user" as const, content: "hi" }];
/** ORCH_LONG=1 runs ten times as many cases. */
const RUNS = isLong() ? 10 : 1;
/** Per-test limit for the property tests (bun test defaults to 5 s). */
const TIMEOUT = 300_000 * RUNS;

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Pieces chosen to hurt: astral, ZWJ, flags, combining marks, CR/LF, SSE syntax, BOM, NUL. */
const NASTY = [
  "👨‍👩‍👧‍👦",
  "🏳️‍🌈",
  "🇫🇷🇯🇵",
  "👍🏽",
  "e\u0301",
  "a\u0308\u0301\u0323",
  "𝕏𝔸",
  "日本語テキスト",
  "\r\n",
  "\r",
  "\n",
  "\n\n",
  "\r\n\r\n",
  "data: [DONE]\n\n",
  ": keep-alive\n",
  "event: error\n",
  '{"error":"x"}',
  "[DONE]",
  "\u2028\u2029",
  "\ufeff",
  "\0",
  "\t",
  '"',
  "\\",
  "\\u00e9",
  "</think>",
  "```",
];

/** Arbitrary text: graphemes, raw UTF-16 (lone surrogates too), nasty pieces, long lines. */
const textArb: fc.Arbitrary<string> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
    { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom("x", "é", "😀", "a b "),
        fc.integer({ min: 500, max: 3000 }),
      )
        .map(([c, n]) => c.repeat(n)),
    },
  ),
  { maxLength: 10 },
).map((parts) => parts.join(""));

/**
 * Cuts `text` into deltas at arbitrary UTF-16 offsets (so a delta may end inside a surrogate
 * pair or a grapheme cluster), with empty deltas sprinkled in.
 */
function toDeltas(text: string, cuts: readonly number[], empties: readonly number[]): string[] {
  const deltas = cutText(text, cuts);
  for (const e of empties) deltas.splice(e % (deltas.length + 1), 0, "");
  return deltas;
}

interface Framing {
  flavor: ServerFlavor;
  newline: "lf" | "crlf" | "cr";
  comments: boolean;
  fields: boolean;
  usage: boolean;
  bom: boolean;
}

const framingArb: fc.Arbitrary<Framing> = fc.record({
  flavor: fc.constantFrom<ServerFlavor>("lmstudio", "openai", "llamacpp"),
  newline: fc.constantFrom<Framing["newline"]>("lf", "crlf", "cr"),
  comments: fc.boolean(),
  fields: fc.boolean(),
  usage: fc.boolean(),
  bom: fc.boolean(),
});

type Split =
  | { kind: "one-byte" }
  | { kind: "random"; seed: number; max: number }
  | { kind: "offsets"; offsets: number[] }
  | { kind: "nasty"; seed: number; p: number }
  | { kind: "whole" };

const splitArb: fc.Arbitrary<Split> = fc.oneof(
  fc.constant<Split>({ kind: "one-byte" }),
  fc.record({
    kind: fc.constant("random" as const),
    seed: fc.integer(),
    max: fc.integer({ min: 2, max: 64 }),
  }),
  fc.record({
    kind: fc.constant("offsets" as const),
    offsets: fc.array(fc.nat(), { maxLength: 60 }),
  }),
  fc.record({
    kind: fc.constant("nasty" as const),
    seed: fc.integer(),
    p: fc.constantFrom(0.3, 1),
  }),
  fc.constant<Split>({ kind: "whole" }),
);

/** A realistic SSE body for one completion, as text. */
function sseText(
  deltas: readonly string[],
  reasoning: readonly string[],
  framing: Framing,
  finishReason: string | null = "stop",
): string {
  const data = chatCompletionEvents({
    deltas,
    reasoningDeltas: reasoning,
    flavor: framing.flavor,
    finishReason,
    usage: framing.usage ? undefined : null,
  });
  // JSON never holds a raw CR or LF, so swapping every LF changes only the framing.
  let text = encodeSSE(data, { comments: framing.comments, fields: framing.fields });
  if (framing.newline === "crlf") text = text.replaceAll("\n", "\r\n");
  if (framing.newline === "cr") text = text.replaceAll("\n", "\r");
  return (framing.bom ? "\ufeff" : "") + text;
}

function split(bytes: Uint8Array, how: Split): Uint8Array[] {
  switch (how.kind) {
    case "whole":
      return [bytes];
    case "one-byte":
      // Keep CI fast: very long bodies get every nasty offset instead of every byte.
      return bytes.length <= 30_000 ? splitBytes(bytes, 1) : cutAt(bytes, nastyOffsets(bytes));
    case "random":
      return splitBytes(bytes, { min: 1, max: how.max, seed: how.seed });
    case "offsets":
      return cutAt(bytes, how.offsets);
    case "nasty":
      return cutAt(bytes, sample(nastyOffsets(bytes), how.seed, how.p));
  }
}

/** A client whose every request is answered with `makeBody()` over an in-process fetch. */
function clientFor(
  makeBody: () => ReadableStream<Uint8Array>,
  options: { contentType?: string; idleTimeoutMs?: number } = {},
) {
  const f = fetchFrom(() => sse(makeBody(), options.contentType));
  const client = new LMStudioClient({
    fetch: f,
    model: "m",
    maxRetries: 0,
    idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
  });
  return { client, requests: f.requests };
}

async function drainClient(client: LMStudioClient) {
  const stream = client.stream({ messages: USER });
  const texts: string[] = [];
  const reasoning: string[] = [];
  let error: unknown;
  try {
    for await (const d of stream) {
      texts.push(d.text);
      reasoning.push(d.reasoning);
    }
  } catch (err) {
    error = err;
  }
  return { text: texts.join(""), reasoning: reasoning.join(""), error, stream };
}

async function drainAgent(agent: Agent, options: { live?: boolean } = {}) {
  const chunks: StreamChunk[] = [];
  const stream = agent.stream("go", options);
  let error: unknown;
  try {
    for await (const c of stream) chunks.push(c);
  } catch (err) {
    error = err;
  }
  const result = error === undefined ? await stream.result : undefined;
  return { chunks, text: chunks.map((c) => c.text).join(""), error, result };
}

function graphemeBoundaries(text: string): Set<number> {
  const out = new Set<number>([0, text.length]);
  for (const s of new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)) {
    out.add(s.index);
  }
  return out;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// ---------------------------------------------------------------------------------------------
// Properties

describe("adversarial SSE: exact reconstruction", () => {
  test("client.stream() reconstructs any content under any framing and any byte split", {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.option(fc.string({ unit: "grapheme", maxLength: 30 }), { nil: undefined }),
        framingArb,
        splitArb,
        async (text, cuts, empties, thinking, framing, how) => {
          const deltas = toDeltas(text, cuts, empties);
          const reasoning = thinking ? toDeltas(thinking, cuts.slice(0, 3), []) : [];
          const bytes = utf8(sseText(deltas, reasoning, framing));
          const pieces = split(bytes, how);
          const { client } = clientFor(() => piecesBody(pieces));
          const got = await drainClient(client);
          assert.equal(got.error, undefined, describeError(got.error));
          assert.equal(got.text, text);
          assert.equal(got.reasoning, thinking ?? "");
          const result = await got.stream.finalResult();
          assert.equal(result.text, text);
          assert.equal(result.finishReason, "stop");
          if (framing.usage) assert.ok(result.usage, "usage chunk was read");
        },
      ),
      { seed: 0x5eed_0006, numRuns: 150 * RUNS },
    );
  });

  test("agent.stream() emits exactly the final content (buffered and live, any chunking)", {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.constantFrom("bare", "think", "fence", "spaces"),
        fc.array(fc.nat(), { maxLength: 30 }),
        framingArb,
        splitArb,
        fc.constantFrom<Chunking>("word", "grapheme", "line", "sentence", { graphemes: 3 }),
        fc.boolean(),
        async (content, wrap, cuts, framing, how, chunking, live) => {
          const json = JSON.stringify({ type: "final", content });
          const raw = wrap === "think"
            ? `<think>hmm {"type":"final","content":"no"}</think>\n${json}`
            : wrap === "fence"
            ? "```json\n" + json + "\n```"
            : wrap === "spaces"
            ? `\r\n  ${json}\n\n`
            : json;
          const bytes = utf8(sseText(toDeltas(raw, cuts, []), [], framing));
          const pieces = split(bytes, how);
          const { client } = clientFor(() => piecesBody(pieces));
          const agent = new Agent({ client, chunking, live });
          const got = await drainAgent(agent);
          assert.equal(got.error, undefined, describeError(got.error));
          assert.equal(got.text, content);
          assert.equal(got.result!.text, content);
          assert.ok(got.chunks.length >= 1);
          assert.deepEqual(
            got.chunks.map((c) => c.isFinal),
            got.chunks.map((_, i) => i === got.chunks.length - 1),
            "exactly one isFinal, on the last chunk",
          );
          assert.ok(got.chunks.every((c) => c.step === 1));
          if (got.chunks.length > 1) assert.ok(got.chunks.every((c) => c.text !== ""));
          // No chunk boundary falls inside a grapheme cluster.
          const ok = graphemeBoundaries(content);
          let at = 0;
          for (const c of got.chunks) {
            at += c.text.length;
            assert.ok(ok.has(at), `chunk boundary at ${at} splits a grapheme`);
          }
        },
      ),
      { seed: 0x5eed_0106, numRuns: 100 * RUNS },
    );
  });

  test("a body cut off anywhere before [DONE] is never a success (client and agent)", {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.array(fc.nat(), { maxLength: 12 }),
        framingArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        async (content, cuts, framing, where, viaAgent) => {
          const raw = viaAgent ? JSON.stringify({ type: "final", content }) : content;
          const deltas = toDeltas(raw, cuts, []);
          const full = sseText(deltas, [], framing);
          const done = full.lastIndexOf("[DONE]");
          // Cut strictly before the end of "[DONE]" (bytes, so the cut may split a character).
          const fullBytes = utf8(full);
          const limit = utf8(full.slice(0, done + "[DONE]".length)).length;
          const cut = Math.min(limit - 1, Math.floor(where * limit));
          const pieces = splitBytes(fullBytes.subarray(0, cut), { min: 1, max: 40, seed: cut });
          const { client } = clientFor(() => piecesBody(pieces));
          if (!viaAgent) {
            const got = await drainClient(client);
            const err = got.error;
            assert.ok(
              err instanceof StreamError,
              `expected StreamError, got ${describeError(err)}`,
            );
            assert.equal(err.partialText, got.text, "partialText is exactly what was delivered");
            assert.ok(content.startsWith(got.text), "delivered text is a prefix of the content");
          } else {
            const got = await drainAgent(new Agent({ client }));
            const err = got.error;
            assert.ok(
              err instanceof StreamError,
              `expected StreamError, got ${describeError(err)}`,
            );
            assert.equal(got.chunks.length, 0, "a buffered agent emits nothing from a cut reply");
            assert.ok(raw.startsWith(err.partialText), "partialText is a prefix of the reply");
          }
        },
      ),
      { seed: 0x5eed_0206, numRuns: 200 * RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Failures: each its typed error, with the partial text

const REPLY = JSON.stringify({
  type: "final",
  content: "Grüße, 世界! 👨‍👩‍👧 The quick brown fox jumps over the lazy dog again and again.",
});
// Two thirds of the reply arrive before the failure: enough for live mode to have shown words.
const HEAD = [REPLY.slice(0, 40), REPLY.slice(40, 80)];
const TAIL = [REPLY.slice(80)];
const PARTIAL = HEAD.join("");

/** Content events for `deltas` (no finish, no usage, no [DONE]) in the given framing. */
function contentEvents(deltas: readonly string[], crlf = false): string {
  const data = chatCompletionEvents({ deltas, finishReason: null, usage: null }).slice(0, -1);
  return encodeSSE(data, { crlf, comments: true, fields: true });
}

interface Failure {
  name: string;
  /** The body for one request. */
  body: () => ReadableStream<Uint8Array>;
  contentType?: string;
  /** The class the error must be exactly (not merely a subclass of). */
  error: new (...args: never[]) => Error;
  /** Text the server sent before the failure (what partialText must be). */
  partial: string;
  check?: (err: Error) => void;
}

const enc = (s: string) => utf8(s);
const FAILURES: Failure[] = [
  {
    name: "a data line that is not JSON",
    body: () =>
      piecesBody([
        enc(contentEvents(HEAD)),
        enc("data: {this is not json\n\n"),
        enc(encodeSSE(chatCompletionEvents({ deltas: TAIL }))),
      ].flatMap((b) => splitBytes(b, { min: 1, max: 9, seed: 3 }))),
    error: InvalidResponseError,
    partial: PARTIAL,
    check: (err) => assert.match(err.message, /not JSON/),
  },
  {
    name: 'an error event mid-stream ({"error": {...}})',
    body: () =>
      piecesBody([
        enc(contentEvents(HEAD, true)),
        enc(
          'data: {"error":{"message":"Model crashed","type":"server_error","code":"oom"}}\r\n\r\n',
        ),
        enc(encodeSSE(chatCompletionEvents({ deltas: TAIL }))),
      ]),
    error: APIError,
    partial: PARTIAL,
    check: (err) => {
      const e = err as APIError;
      assert.equal(e.serverMessage, "Model crashed");
      assert.equal(e.code, "oom");
      assert.equal(e.status, undefined);
    },
  },
  {
    name: 'an error event mid-stream (event: error, {"error": "..."})',
    body: () =>
      piecesBody([
        enc(contentEvents(HEAD)),
        enc('event: error\ndata: {"error":"context length exceeded"}\n\n'),
      ].flatMap((b) => splitBytes(b, 1))),
    error: APIError,
    partial: PARTIAL,
    check: (err) => assert.equal((err as APIError).serverMessage, "context length exceeded"),
  },
  {
    name: "a body that ends without [DONE] after a finish reason",
    body: () => {
      const data = chatCompletionEvents({ deltas: HEAD, usage: null }).slice(0, -1);
      return piecesBody([enc(encodeSSE(data))]);
    },
    error: StreamError,
    partial: PARTIAL,
    check: (err) => assert.match(err.message, /finish_reason "stop" was seen, but no \[DONE\]/),
  },
  {
    name: "a body that ends without [DONE] and without a finish reason",
    body: () => piecesBody([enc(contentEvents(HEAD))]),
    error: StreamError,
    partial: PARTIAL,
    check: (err) => assert.match(err.message, /without a finish reason or \[DONE\]/),
  },
  {
    name: "a connection reset mid-body",
    body: () => resetBody(splitBytes(enc(contentEvents(HEAD)), { min: 1, max: 30, seed: 9 })),
    error: StreamError,
    partial: PARTIAL,
    check: (err) => assert.match(err.message, /connection lost/),
  },
  {
    name: "a body that stalls (idle timeout)",
    body: () => stalledBody([enc(contentEvents(HEAD))]),
    error: ResponseTimeoutError,
    partial: PARTIAL,
    check: (err) => {
      assert.equal((err as ResponseTimeoutError).phase, "idle");
      assert.equal((err as ResponseTimeoutError).timeoutMs, 40);
    },
  },
  {
    name: "an HTTP 200 with a JSON content type (server ignored stream: true)",
    body: () => piecesBody([enc(JSON.stringify({ choices: [{ message: { content: REPLY } }] }))]),
    contentType: "application/json",
    error: InvalidResponseError,
    partial: "",
    check: (err) => assert.match(err.message, /expected an SSE stream/),
  },
  {
    name: "an HTTP 200 with an HTML content type (a proxy's page)",
    body: () => piecesBody([enc("<html><body>502 Bad Gateway</body></html>")]),
    contentType: "text/html; charset=utf-8",
    error: InvalidResponseError,
    partial: "",
    check: (err) => assert.match(err.message, /text\/html/),
  },
];

function assertExact(err: unknown, f: Failure): asserts err is StreamError | APIError {
  assert.ok(
    err instanceof f.error && (err as Error).constructor === f.error,
    `${f.name}: expected ${f.error.name}, got ${describeError(err)}`,
  );
  f.check?.(err as Error);
}

describe("adversarial SSE: failures are typed and carry the partial text", () => {
  for (const f of FAILURES) {
    const options = { contentType: f.contentType, idleTimeoutMs: 40 };

    test(`client.stream(): ${f.name} → ${f.error.name}`, async () => {
      const { client, requests } = clientFor(f.body, options);
      const got = await drainClient(client);
      assertExact(got.error, f);
      assert.equal(got.error.partialText, f.partial);
      assert.equal(got.text, f.partial, "exactly the partial text was delivered first");
      await assert.rejects(got.stream.finalResult(), (e) => e === got.error);
      assert.equal(requests.length, 1, "a failed stream is not retried");
    });

    test(`agent.stream() and agent.run(): ${f.name} → ${f.error.name}`, async () => {
      const { client } = clientFor(f.body, options);
      const agent = new Agent({ client });
      const streamed = await drainAgent(agent);
      assertExact(streamed.error, f);
      assert.equal(streamed.error.partialText, f.partial);
      assert.deepEqual(streamed.chunks, [], "no chunk of a failed reply is emitted");
      const err = await agent.run("go").then(() => undefined, (e: unknown) => e);
      assertExact(err, f);
      assert.equal(err.partialText, f.partial);
    });

    test(`agent.stream({ live: true }): ${f.name} → typed error, delivered text attached`, async () => {
      const { client } = clientFor(f.body, options);
      const got = await drainAgent(new Agent({ client }), { live: true });
      if (f.partial === "") {
        assertExact(got.error, f);
        assert.deepEqual(got.chunks, []);
        return;
      }
      // Words were already shown: the run ends with LiveStreamError, the cause is the failure.
      assert.ok(got.error instanceof LiveStreamError, describeError(got.error));
      assert.ok(got.chunks.length > 0, "live mode showed text before the failure");
      assert.ok(got.chunks.every((c) => !c.isFinal), "no chunk claims to be final");
      assert.equal(got.error.deliveredText, got.text);
      assertExact(got.error.cause, f);
      assert.equal(got.error.cause.partialText, f.partial);
    });
  }
});
