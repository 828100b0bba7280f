// SSE as the WHATWG spec says: unknown fields, an invalid `retry`, `id` values and comments are
// ignored; only a malformed JSON payload in a data event, an over-limit line or a
// protocol-level error fails the stream; and the outcome never depends on where the bytes are
// split: for each edge-case body, the whole body, every split into two pieces and a 1-byte
// split give the same outcome (in-process), and so does the body over a loopback socket.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  APIError,
  decodeChatStream,
  InvalidResponseError,
  LMStudioClient,
  StreamError,
} from "../mod.ts";
import { createFakeLMStudio, everySplit, splitBytes, sseResponse } from "../testing.ts";
import { serve } from "./_kit/serve.ts";

const chunk = (content: string) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })}`;
const FINISH = `data: ${
  JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })
}`;
const HELLO = `${chunk("Hel")}\n\n${chunk("lo é😀")}\n\n${FINISH}\n\n`;
const DONE = "data: [DONE]\n\n";

/** What a body decodes to: the text, or the error's class, message and partial text. */
interface Outcome {
  text: string;
  finishReason?: string | null;
  error?: string;
  message?: string;
  serverMessage?: string;
  partialText?: string;
}

interface Case {
  name: string;
  body: string;
  expect: Outcome | ((o: Outcome) => void);
}

const ok = (text: string): Outcome => ({ text, finishReason: "stop" });

const CASES: Case[] = [
  { name: "plain", body: HELLO + DONE, expect: ok("Hello é😀") },
  {
    name: "retry with junk (retry: 2000x)",
    body: `retry: 2000x\n\n${HELLO}${DONE}`,
    expect: ok("Hello é😀"),
  },
  { name: "empty retry", body: `retry:\n\n${HELLO}${DONE}`, expect: ok("Hello é😀") },
  { name: "valid retry", body: `retry: 3000\n${HELLO}${DONE}`, expect: ok("Hello é😀") },
  { name: "unknown field foo: bar", body: `foo: bar\n${HELLO}${DONE}`, expect: ok("Hello é😀") },
  {
    name: "unknown fields inside an event, and a bare name",
    body: `${chunk("Hel")}\nx-custom: 1\nfoo\n\n${chunk("lo é😀")}\n\n${FINISH}\n\n${DONE}`,
    expect: ok("Hello é😀"),
  },
  {
    name: "id values, event names, comments",
    body: `: hello\n:\nid: 7\nid\nevent: message\n${HELLO}id: \u00e9\n: bye\n${DONE}`,
    expect: ok("Hello é😀"),
  },
  { name: "leading BOM", body: `\uFEFF${HELLO}${DONE}`, expect: ok("Hello é😀") },
  { name: "CRLF", body: (HELLO + DONE).replaceAll("\n", "\r\n"), expect: ok("Hello é😀") },
  { name: "CR only", body: (HELLO + DONE).replaceAll("\n", "\r"), expect: ok("Hello é😀") },
  {
    name: "data split over two data lines (joined with a newline, still JSON)",
    body: `data: {"choices":[{"delta":\ndata: {"content":"x"}}]}\n\n${FINISH}\n\n${DONE}`,
    expect: ok("x"),
  },
  {
    name: "a line that is not SSE, mid-stream, then [DONE]: ignored",
    body: `${chunk("Hel")}\n\n<html>oops</html>\n${chunk("lo é😀")}\n\n${FINISH}\n\n${DONE}`,
    expect: ok("Hello é😀"),
  },
  {
    name: "a bare JSON error line (no data: prefix)",
    body: `{"error":{"message":"CUDA out of memory"}}\n`,
    expect: (o) => {
      assert.equal(o.error, "APIError");
      assert.equal(o.serverMessage, "CUDA out of memory");
      assert.match(o.message!, /CUDA out of memory/);
    },
  },
  {
    name: "a bare JSON error line after some text, without a final newline",
    body: `${chunk("Hel")}\n\n{"error":"model crashed"}`,
    expect: (o) => {
      assert.equal(o.error, "APIError");
      assert.equal(o.serverMessage, "model crashed");
      assert.equal(o.partialText, "Hel");
    },
  },
  {
    name: "an event: error with a plain-text message",
    body: `${chunk("Hel")}\n\nevent: error\ndata: backend exploded\n\n`,
    expect: (o) => {
      assert.equal(o.error, "APIError");
      assert.equal(o.serverMessage, "backend exploded");
      assert.equal(o.partialText, "Hel");
    },
  },
  {
    name: "a data event that is not JSON",
    body: `${chunk("Hel")}\n\ndata: {not json\n\n${DONE}`,
    expect: (o) => {
      assert.equal(o.error, "InvalidResponseError");
      assert.match(o.message!, /not JSON: \{not json/);
      assert.equal(o.partialText, "Hel");
    },
  },
  {
    name: "an HTML page instead of SSE",
    body: "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n",
    expect: (o) => {
      assert.equal(o.error, "InvalidResponseError");
      assert.match(o.message!, /not an SSE stream.*502 Bad Gateway/);
    },
  },
  {
    name: "cut off before [DONE]",
    body: HELLO,
    expect: (o) => {
      assert.equal(o.error, "StreamError");
      assert.equal(o.partialText, "Hello é😀");
    },
  },
];

async function outcome(body: ReadableStream<Uint8Array>): Promise<Outcome> {
  const stream = decodeChatStream(body);
  const parts: string[] = [];
  try {
    for await (const d of stream) parts.push(d.text);
    const r = await stream.finalResult();
    assert.equal(r.text, parts.join(""));
    return { text: r.text, finishReason: r.finishReason };
  } catch (err) {
    return errorOutcome(parts.join(""), err);
  }
}

function errorOutcome(text: string, err: unknown): Outcome {
  assert.ok(err instanceof Error, String(err));
  const o: Outcome = { text, error: err.name, message: err.message };
  if (err instanceof APIError) {
    o.serverMessage = err.serverMessage;
    o.partialText = err.partialText;
  }
  if (err instanceof StreamError || err instanceof InvalidResponseError) {
    o.partialText = err.partialText;
  }
  return o;
}

function check(c: Case, got: Outcome): void {
  if (typeof c.expect === "function") c.expect(got);
  else assert.deepEqual(got, c.expect);
}

const bodyOf = (pieces: Uint8Array[]) => sseResponse(pieces).body!;

describe("SSE by the spec, whatever the split", () => {
  for (const c of CASES) {
    test(`${c.name}: whole, every 2-way split and 1-byte pieces agree`, async () => {
      const bytes = new TextEncoder().encode(c.body);
      const whole = await outcome(bodyOf([bytes]));
      check(c, whole);
      for (const [a, b] of everySplit(bytes)) {
        assert.deepEqual(await outcome(bodyOf([a, b])), whole, `split at ${a.length}`);
      }
      assert.deepEqual(await outcome(bodyOf(splitBytes(bytes, 1))), whole, "1-byte pieces");
      const random = splitBytes(bytes, { min: 1, max: 9, seed: bytes.length });
      assert.deepEqual(await outcome(bodyOf(random)), whole, "random pieces");
    });
  }

  test("over a loopback socket, through client.stream(), 1-byte writes: the same outcomes", async () => {
    for (const c of CASES) {
      const fake = createFakeLMStudio({ replies: [{ rawBody: c.body, chunkBytes: 1 }] });
      const server = await serve(fake.handler);
      try {
        const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", maxRetries: 0 });
        const stream = client.stream({ messages: [{ role: "user", content: "hi" }] });
        const parts: string[] = [];
        let got: Outcome;
        try {
          for await (const d of stream) parts.push(d.text);
          const r = await stream.finalResult();
          got = { text: r.text, finishReason: r.finishReason };
        } catch (err) {
          got = errorOutcome(parts.join(""), err);
        }
        const inProcess = await outcome(bodyOf([new TextEncoder().encode(c.body)]));
        // Messages name the request in one case and "stream" in the other.
        const strip = (o: Outcome) => ({
          ...o,
          message: o.message?.replace(/^(stream|POST \S+): /, ""),
        });
        assert.deepEqual(strip(got), strip(inProcess), c.name);
      } finally {
        await server.close();
      }
    }
  });
});
