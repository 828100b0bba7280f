// Server-side faults over a real loopback socket (serve() on 127.0.0.1 with the runtime under
// test), through the client and through the agent, counting what the server actually saw:
// refused connections, resets mid-body, retried 5xx, 429 with Retry-After (seconds and date,
// honoured and capped), 4xx that must not be retried, a model that is not loaded, and
// responses past maxResponseBytes / maxResponseChars.
import { type AddressInfo, createServer } from "node:net";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Agent,
  type AgentEvent,
  APIError,
  ConnectionError,
  LMStudioClient,
  type LMStudioClientOptions,
  LMStudioError,
  ResponseTooLargeError,
  type RetryInfo,
  StreamError,
} from "../mod.ts";
import {
  chatCompletionEvents,
  createFakeLMStudio,
  encodeSSE,
  type FakeLMStudioOptions,
  type FakeReply,
} from "../testing.ts";
import { closedPort, serve, type Served } from "./_kit/serve.ts";

const USER = [{ role: "user" as const, content: "hi" }];
const final = (content: string) => JSON.stringify({ type: "final", content });

/** A fake LM Studio on a real socket; `seen` counts the chat requests it received. */
async function fakeServer(options: FakeLMStudioOptions) {
  const fake = createFakeLMStudio(options);
  const server = await serve(fake.handler);
  return {
    fake,
    server,
    get seen() {
      return fake.chatRequests.length;
    },
  };
}

function clientOn(server: Served, options: LMStudioClientOptions = {}) {
  return new LMStudioClient({
    baseURL: server.baseURL,
    model: "m",
    retryBaseDelayMs: 1,
    maxRetryDelayMs: 50,
    timeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    ...options,
  });
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection, got a result");
}

function expectError<T>(err: unknown, cls: abstract new (...a: never[]) => T): T {
  if (!(err instanceof cls)) {
    assert.fail(
      `expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : err}`,
    );
  }
  return err;
}

const fail = (status: number, headers?: Record<string, string>): FakeReply => ({
  status,
  body: { error: { message: `upstream said ${status}`, type: "server_error" } },
  headers,
});

describe("faults over a real socket: connection", () => {
  test("connection refused → ConnectionError after maxRetries + 1 attempts (client and agent)", async () => {
    const port = await closedPort();
    const baseURL = `http://127.0.0.1:${port}/v1`;
    let attempts = 0;
    const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
      attempts++;
      return fetch(input, init);
    }) as typeof fetch;
    const client = new LMStudioClient({
      baseURL,
      model: "m",
      fetch: counting,
      maxRetries: 2,
      retryBaseDelayMs: 1,
    });
    const retries: RetryInfo[] = [];
    const err = expectError(
      await rejectionOf(
        client.stream({ messages: USER }, { onRetry: (r) => retries.push(r) }).finalResult(),
      ),
      ConnectionError,
    );
    assert.equal(attempts, 3);
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2]);
    assert.ok(retries.every((r) => r.error instanceof ConnectionError && r.status === undefined));
    assert.equal(err.baseURL, baseURL);
    assert.ok(err.message.includes(baseURL), err.message);
    assert.match(err.message, /Is LM Studio's server running/);
    // The runtime's own words, even where fetch only says "fetch failed" (Node, Deno).
    assert.match(err.message, /refused/i);
    assert.ok(err.cause !== undefined, "the runtime's error is kept as cause");

    attempts = 0;
    const events: AgentEvent[] = [];
    const agentErr = await rejectionOf(
      new Agent({ client }).run("hi", { onEvent: (e) => events.push(e) }),
    );
    expectError(agentErr, ConnectionError);
    assert.equal(attempts, 3);
    assert.equal(events.filter((e) => e.type === "model_retry").length, 2);
  });

  test("a connection closed before any reply → ConnectionError that says so, retried", async () => {
    // A server that accepts, reads the request and hangs up without a byte of reply (what a
    // client meets when it reuses a pooled connection the server had closed).
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.on("data", () => socket.destroy());
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new LMStudioClient({
        baseURL: `http://127.0.0.1:${port}/v1`,
        model: "m",
        maxRetries: 1,
        retryBaseDelayMs: 1,
      });
      for (
        const call of [
          () => client.generate({ messages: USER }),
          () => client.stream({ messages: USER }).finalResult(),
        ]
      ) {
        connections = 0;
        const err = expectError(await rejectionOf(call()), ConnectionError);
        assert.match(err.message, /closed the connection before its reply began/);
        assert.doesNotMatch(err.message, /Is LM Studio's server running/);
        assert.equal(connections, 2, "tried twice (maxRetries: 1)");
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("a reset mid-body → StreamError with the partial text; the server saw one request", async () => {
    const content = final("one two three four five six seven eight nine ten");
    const { server, fake } = await fakeServer({
      // delayMs: Bun.serve only flushes what was written before the reset if it had time to.
      replies: () => ({ content, disconnectAfterEvents: 4, delayMs: 15 }),
    });
    try {
      const client = clientOn(server, { maxRetries: 3 });
      const stream = client.stream({ messages: USER });
      const texts: string[] = [];
      const err = expectError(
        await rejectionOf((async () => {
          for await (const d of stream) texts.push(d.text);
        })()),
        StreamError,
      );
      assert.ok(texts.length > 0, "some text arrived before the reset");
      assert.equal(err.partialText, texts.join(""));
      assert.ok(content.startsWith(err.partialText));
      assert.equal(fake.chatRequests.length, 1, "a body already being read is never retried");

      const agentErr = expectError(await rejectionOf(new Agent({ client }).run("hi")), StreamError);
      assert.ok(content.startsWith(agentErr.partialText));
      assert.equal(fake.chatRequests.length, 2, "the agent did not retry either");
    } finally {
      await server.close();
    }
  });
});

describe("faults over a real socket: retried statuses", () => {
  test("500, 502, 503, then success: retried; the server saw 4 requests (stream, generate, agent)", async () => {
    for (const mode of ["stream", "generate", "agent"] as const) {
      const { server, fake } = await fakeServer({
        replies: [
          fail(500),
          { status: 502, body: "<html>Bad Gateway</html>", contentType: "text/html" },
          fail(503, { "retry-after": "0" }),
          { content: final("recovered ✓") },
        ],
      });
      try {
        const client = clientOn(server, { maxRetries: 3 });
        const retries: { status?: number; delayMs: number }[] = [];
        let text: string;
        if (mode === "agent") {
          const result = await new Agent({ client }).run("hi", {
            onEvent: (e) => e.type === "model_retry" && retries.push(e),
          });
          text = result.text;
          assert.equal(text, "recovered ✓");
        } else {
          const onRetry = (r: RetryInfo) => retries.push(r);
          text = mode === "stream"
            ? (await client.stream({ messages: USER }, { onRetry }).finalResult()).text
            : (await client.generate({ messages: USER }, { onRetry })).text;
          assert.equal(text, final("recovered ✓"));
        }
        assert.deepEqual(retries.map((r) => r.status), [500, 502, 503], mode);
        assert.equal(retries[2]!.delayMs, 0, "Retry-After: 0 honoured");
        assert.equal(fake.chatRequests.length, 4, mode);
      } finally {
        await server.close();
      }
    }
  });

  test("5xx past maxRetries: the last APIError, after exactly maxRetries + 1 requests", async () => {
    const { server, fake } = await fakeServer({ replies: () => fail(503) });
    try {
      const err = expectError(
        await rejectionOf(new Agent({ client: clientOn(server, { maxRetries: 2 }) }).run("hi")),
        APIError,
      );
      assert.equal(err.status, 503);
      assert.equal(err.serverMessage, "upstream said 503");
      assert.equal(fake.chatRequests.length, 3);
    } finally {
      await server.close();
    }
  });

  test("429 Retry-After in seconds: honoured below the cap, capped above it, really waited", async () => {
    for (const [header, cap, want] of [["0.03", 1_000, 30], ["3600", 40, 40]] as const) {
      const { server, fake } = await fakeServer({
        replies: [fail(429, { "retry-after": header }), { content: "ok" }],
      });
      try {
        // A backoff from retryBaseDelayMs 5000 would be ≥ 2.5 s: a short wait proves the header.
        const client = clientOn(server, { retryBaseDelayMs: 5_000, maxRetryDelayMs: cap });
        const retries: RetryInfo[] = [];
        const started = performance.now();
        const r = await client.stream({ messages: USER }, { onRetry: (x) => retries.push(x) })
          .finalResult();
        const elapsed = performance.now() - started;
        assert.equal(r.text, "ok");
        assert.equal(retries.length, 1);
        assert.equal(retries[0]!.status, 429);
        assert.equal(retries[0]!.delayMs, want, `Retry-After: ${header}, cap ${cap}`);
        assert.ok(elapsed >= want - 5, `waited ${elapsed} ms for ${want}`);
        assert.ok(elapsed < 2_000, `the cap bounded the wait (${elapsed} ms)`);
        assert.equal(fake.chatRequests.length, 2);
      } finally {
        await server.close();
      }
    }
  });

  test("429 Retry-After as an HTTP date: honoured (about a second) and capped (an hour → cap)", async () => {
    const at = (ms: number) => new Date(Date.now() + ms).toUTCString();
    // An hour away: capped.
    {
      const { server, fake } = await fakeServer({
        replies: [fail(429, { "retry-after": at(3_600_000) }), { content: "ok" }],
      });
      try {
        const client = clientOn(server, { retryBaseDelayMs: 5_000, maxRetryDelayMs: 40 });
        const retries: RetryInfo[] = [];
        await client.generate({ messages: USER }, { onRetry: (x) => retries.push(x) });
        assert.equal(retries[0]!.delayMs, 40);
        assert.equal(fake.chatRequests.length, 2);
      } finally {
        await server.close();
      }
    }
    // 1.5 s away (HTTP dates have whole seconds, so 0.5–1.5 s): honoured, under a 5 s cap.
    {
      const { server, fake } = await fakeServer({
        replies: [fail(429, { "retry-after": at(1_500) }), { content: "ok" }],
      });
      try {
        const client = clientOn(server, { retryBaseDelayMs: 1, maxRetryDelayMs: 5_000 });
        const retries: RetryInfo[] = [];
        const started = performance.now();
        await client.generate({ messages: USER }, { onRetry: (x) => retries.push(x) });
        const elapsed = performance.now() - started;
        const delay = retries[0]!.delayMs;
        assert.ok(delay > 400 && delay <= 1_500, `delay ${delay} follows the date`);
        assert.ok(elapsed >= delay - 5, `waited ${elapsed} ms for ${delay}`);
        assert.equal(fake.chatRequests.length, 2);
      } finally {
        await server.close();
      }
    }
  });
});

describe("faults over a real socket: not retried", () => {
  for (const status of [400, 401, 404]) {
    test(`${status} → APIError at once; the server saw exactly one request (client and agent)`, async () => {
      const { server, fake } = await fakeServer({ replies: () => fail(status) });
      try {
        const client = clientOn(server, { maxRetries: 5 });
        const retries: RetryInfo[] = [];
        const err = expectError(
          await rejectionOf(
            client.stream({ messages: USER }, { onRetry: (r) => retries.push(r) }).finalResult(),
          ),
          APIError,
        );
        assert.equal(err.status, status);
        assert.equal(err.serverMessage, `upstream said ${status}`);
        assert.ok(err.message.includes(`${server.baseURL}/chat/completions`), err.message);
        assert.deepEqual(retries, []);
        assert.equal(fake.chatRequests.length, 1);

        const agentErr = expectError(await rejectionOf(new Agent({ client }).run("hi")), APIError);
        assert.equal(agentErr.status, status);
        assert.equal(fake.chatRequests.length, 2, "the agent sent one request too");
      } finally {
        await server.close();
      }
    });
  }

  test("no model loaded: a clear message saying how to load one; not retried", async () => {
    const { server, fake } = await fakeServer({ models: [] });
    try {
      const client = clientOn(server, { maxRetries: 3 });
      const err = expectError(await rejectionOf(new Agent({ client }).run("hi")), APIError);
      assert.equal(err.status, 400);
      assert.equal(err.code, "model_not_found");
      assert.match(err.message, /No models loaded/);
      assert.match(err.message, /load a model in LM Studio .*lms load/);
      assert.equal(fake.chatRequests.length, 1);
    } finally {
      await server.close();
    }
    // Without a configured model, resolution says the same before any chat request.
    const bare = await fakeServer({ models: [] });
    try {
      const client = new LMStudioClient({ baseURL: bare.server.baseURL, maxRetries: 0 });
      const err = expectError(await rejectionOf(new Agent({ client }).run("hi")), LMStudioError);
      assert.match(err.message, /No model is loaded/);
      assert.match(err.message, /lms load/);
      assert.equal(bare.fake.chatRequests.length, 0);
    } finally {
      await bare.server.close();
    }
  });
});

describe("faults over a real socket: response size limits", () => {
  const long = final("word ".repeat(20_000)); // ~100 kB of reply

  test("maxResponseChars → ResponseTooLargeError (stream, generate, agent), never a short answer", async () => {
    const { server } = await fakeServer({ replies: () => ({ content: long }) });
    try {
      const client = clientOn(server, { maxResponseChars: 1_000 });
      const stream = client.stream({ messages: USER });
      const err = expectError(await rejectionOf(stream.finalResult()), ResponseTooLargeError);
      assert.equal(err.unit, "chars");
      assert.equal(err.limit, 1_000);
      assert.ok(long.startsWith(err.partialText));
      assert.ok(err.partialText.length <= 1_000);

      const gen = expectError(
        await rejectionOf(client.generate({ messages: USER })),
        ResponseTooLargeError,
      );
      assert.equal(gen.unit, "chars");

      for (const modelCall of ["stream", "generate"] as const) {
        const agentErr = await rejectionOf(new Agent({ client, modelCall }).run("hi"));
        expectError(agentErr, ResponseTooLargeError);
      }
    } finally {
      await server.close();
    }
  });

  test("maxResponseBytes → ResponseTooLargeError (stream, generate, agent)", async () => {
    const { server } = await fakeServer({ replies: () => ({ content: long }) });
    try {
      const client = clientOn(server, { maxResponseBytes: 8_192 });
      const err = expectError(
        await rejectionOf(client.stream({ messages: USER }).finalResult()),
        ResponseTooLargeError,
      );
      assert.equal(err.unit, "bytes");
      assert.equal(err.limit, 8_192);
      assert.ok(long.startsWith(err.partialText));

      const gen = expectError(
        await rejectionOf(client.generate({ messages: USER })),
        ResponseTooLargeError,
      );
      assert.equal(gen.unit, "bytes");

      for (const modelCall of ["stream", "generate"] as const) {
        expectError(
          await rejectionOf(new Agent({ client, modelCall }).run("hi")),
          ResponseTooLargeError,
        );
      }
    } finally {
      await server.close();
    }
  });

  test("an endless response is cut off by the limit instead of exhausting memory", async () => {
    // The server does not stop (not before 32 MB, so that a regression fails instead of
    // hanging): an SSE stream of deltas, or a JSON body that never closes.
    let cancelled = 0;
    const endless = (kind: "sse" | "json") => {
      const enc = new TextEncoder();
      const piece = kind === "sse"
        ? enc.encode(
          encodeSSE(chatCompletionEvents({ deltas: ["x".repeat(16_000)] }).slice(0, 1)),
        )
        : enc.encode("y".repeat(16_000));
      let first = true;
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        async pull(c) {
          if (first && kind === "json") {
            c.enqueue(enc.encode('{"choices":[{"message":{"content":"'));
          }
          first = false;
          // Like a model producing tokens: yield to the event loop between pieces (a server
          // loop that never does would starve its own socket, whatever the client does).
          await new Promise((r) => setTimeout(r, 0));
          if ((sent += piece.byteLength) > 32_000_000) return c.close();
          c.enqueue(piece);
        },
        cancel() {
          cancelled++;
        },
      });
    };
    const server = await serve(async (req) => {
      const body = await req.json();
      return body.stream
        ? new Response(endless("sse"), { headers: { "content-type": "text/event-stream" } })
        : new Response(endless("json"), { headers: { "content-type": "application/json" } });
    });
    try {
      for (const limit of [{ maxResponseBytes: 200_000 }, { maxResponseChars: 100_000 }]) {
        const client = clientOn(server, limit);
        const started = performance.now();
        const s = expectError(
          await rejectionOf(client.stream({ messages: USER }).finalResult()),
          ResponseTooLargeError,
        );
        assert.ok(s.partialText.length <= 200_000);
        if ("maxResponseBytes" in limit) {
          // A JSON body is only limited in bytes (it has no text until it is parsed).
          const g = expectError(
            await rejectionOf(client.generate({ messages: USER })),
            ResponseTooLargeError,
          );
          assert.equal(g.unit, "bytes");
        }
        assert.ok(performance.now() - started < 10_000);
      }
      // The server's endless bodies were abandoned by the client, not read to the end.
      const deadline = Date.now() + 3_000;
      while (cancelled < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(cancelled >= 2, `server bodies cancelled: ${cancelled}`);
    } finally {
      await server.close();
    }
  });
});
