// LMStudioClient: configuration, generate(), models(), HTTP errors, timeouts, connection
// failures, secrets and cancellation, in-process (fake.fetch) and over a real loopback socket.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  APIError,
  ConnectionError,
  DEFAULT_BASE_URL,
  InvalidResponseError,
  LMStudioClient,
  LMStudioError,
  ResponseTooLargeError,
  StreamError,
} from "../mod.ts";
import { ResponseTimeoutError } from "../src/errors.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";
import {
  assertInstance,
  NO_ENV,
  observeBody,
  observedClient,
  trackSrcTimers,
  USER,
  withEnv,
} from "./_kit/client_kit.ts";
import { collectDeltas as collect, eventually, rejection, sleep } from "./_kit/async_kit.ts";
import { closedPort, serve } from "./_kit/serve.ts";

/** A fake with `replies` and a client on its in-process fetch (retries off). */
function setup(
  replies: FakeReply[],
  options: ConstructorParameters<typeof LMStudioClient>[0] = {},
) {
  const fake = createFakeLMStudio({ replies });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0, ...options });
  return { fake, client };
}

/** A fetch that records the URLs it was asked for and answers from `fake`. */
function recordingFetch(fake: { fetch: typeof fetch }) {
  const urls: string[] = [];
  const fetchFn = ((input: RequestInfo | URL, init?: RequestInit) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return fake.fetch(input, init);
  }) as typeof fetch;
  return { urls, fetch: fetchFn };
}

describe("configuration", () => {
  test("defaults to http://localhost:1234/v1 without LMSTUDIO_BASE_URL", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "ok" }] });
      const rec = recordingFetch(fake);
      const client = new LMStudioClient({ fetch: rec.fetch, model: "m" });
      assert.equal(DEFAULT_BASE_URL, "http://localhost:1234/v1");
      assert.equal(client.baseURL, "http://localhost:1234/v1");
      await client.generate({ messages: USER });
      assert.deepEqual(rec.urls, ["http://localhost:1234/v1/chat/completions"]);
    });
  });

  test("reads LMSTUDIO_BASE_URL, LMSTUDIO_MODEL and LMSTUDIO_API_KEY at construction", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "a" }, { content: "b" }] });
    const rec = recordingFetch(fake);
    const client = await withEnv({
      LMSTUDIO_BASE_URL: "http://10.1.2.3:4321/v1/",
      LMSTUDIO_MODEL: "env-model",
      LMSTUDIO_API_KEY: "env-key-123",
    }, () => new LMStudioClient({ fetch: rec.fetch }));
    // The environment is restored now: the client keeps what it read.
    assert.equal(client.baseURL, "http://10.1.2.3:4321/v1", "trailing slash trimmed");
    assert.equal(client.model, "env-model");
    await client.generate({ messages: USER });
    assert.deepEqual(rec.urls, ["http://10.1.2.3:4321/v1/chat/completions"]);
    assert.equal(fake.chatRequests[0]!.body!.model, "env-model");
    assert.equal(fake.chatRequests[0]!.headers.get("authorization"), "Bearer env-key-123");
    assert.equal(fake.requests.length, 1, "no /models lookup with a configured model");
  });

  test("options override the environment; a request's model overrides both", async () => {
    await withEnv({
      LMSTUDIO_BASE_URL: "http://env-host:1/v1",
      LMSTUDIO_MODEL: "env-model",
      LMSTUDIO_API_KEY: "env-key",
    }, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "a" }, { content: "b" }] });
      const rec = recordingFetch(fake);
      const client = new LMStudioClient({
        fetch: rec.fetch,
        baseURL: "http://127.0.0.1:9999/v1",
        model: "opt-model",
        apiKey: "opt-key",
      });
      await client.generate({ messages: USER });
      await client.generate({ messages: USER, model: "req-model" });
      assert.deepEqual(rec.urls, [
        "http://127.0.0.1:9999/v1/chat/completions",
        "http://127.0.0.1:9999/v1/chat/completions",
      ]);
      assert.equal(fake.chatRequests[0]!.body!.model, "opt-model");
      assert.equal(fake.chatRequests[1]!.body!.model, "req-model");
      assert.equal(fake.chatRequests[0]!.headers.get("authorization"), "Bearer opt-key");
    });
  });

  test("the environment changing after construction changes nothing", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "a" }] });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m" });
      await withEnv(
        { LMSTUDIO_API_KEY: "late-key", LMSTUDIO_BASE_URL: "http://late/v1" },
        () => client.generate({ messages: USER }),
      );
      assert.equal(client.baseURL, DEFAULT_BASE_URL);
      assert.equal(fake.requests[0]!.headers.has("authorization"), false);
    });
  });

  test("sends no Authorization header at all without a key, Bearer <key> with one", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "a" }, { content: "b" }] });
      const anonymous = new LMStudioClient({ fetch: fake.fetch });
      await anonymous.generate({ messages: USER }); // GET /models, then POST
      await anonymous.stream({ messages: USER }).finalResult();
      assert.equal(fake.requests.length, 3);
      for (const r of fake.requests) assert.equal(r.headers.has("authorization"), false, r.path);

      const secured = createFakeLMStudio({ apiKey: "sk-lm-xyz", replies: [{ content: "ok" }] });
      const withKey = new LMStudioClient({ fetch: secured.fetch, apiKey: "sk-lm-xyz" });
      assert.equal((await withKey.generate({ messages: USER })).text, "ok");
      for (const r of secured.requests) {
        assert.equal(r.headers.get("authorization"), "Bearer sk-lm-xyz", r.path);
      }
    });
  });

  test("sends custom headers (record or Headers) with every request, plus JSON content type", async () => {
    for (const headers of [{ "X-Trace": "t-1" }, new Headers({ "x-trace": "t-1" })]) {
      const fake = createFakeLMStudio({ replies: [{ content: "a" }] });
      const client = new LMStudioClient({ fetch: fake.fetch, headers });
      await client.generate({ messages: USER });
      for (const r of fake.requests) assert.equal(r.headers.get("x-trace"), "t-1", r.path);
      const post = fake.chatRequests[0]!;
      assert.equal(post.headers.get("content-type"), "application/json");
      assert.equal(fake.requests[0]!.method, "GET");
    }
  });

  test("an invalid baseURL throws TypeError naming baseURL", () => {
    for (const baseURL of ["not a url", "localhost:1234/v1", "ftp://host/v1", "file:///tmp/x"]) {
      assert.throws(() => new LMStudioClient({ baseURL }), (err: unknown) => {
        assert.ok(err instanceof TypeError, String(err));
        assert.match(err.message, /baseURL/);
        return true;
      }, baseURL);
    }
  });

  test("bad limits throw RangeError naming the option; a non-function fetch TypeError", () => {
    for (const maxRetries of [-1, 1.5, NaN, Infinity]) {
      assert.throws(() => new LMStudioClient({ maxRetries }), (err: unknown) => {
        assert.ok(err instanceof RangeError, String(err));
        assert.match(err.message, /maxRetries/);
        assert.match(err.message, new RegExp(String(maxRetries)));
        return true;
      });
    }
    for (
      const [name, value] of [
        ["timeoutMs", -1],
        ["idleTimeoutMs", NaN],
        ["retryBaseDelayMs", -5],
        ["maxRetryDelayMs", -1],
        ["maxResponseBytes", 0],
        ["maxResponseChars", -10],
      ] as const
    ) {
      assert.throws(() => new LMStudioClient({ [name]: value }), (err: unknown) => {
        assert.ok(err instanceof RangeError, `${name}: ${String(err)}`);
        assert.match(err.message, new RegExp(name));
        return true;
      });
    }
    assert.throws(
      () => new LMStudioClient({ fetch: "nope" as unknown as typeof fetch }),
      /fetch must be a function/,
    );
  });

  test("an empty messages array is a TypeError, and nothing is sent", async () => {
    const { fake, client } = setup([{ content: "x" }]);
    await assert.rejects(client.generate({ messages: [] }), TypeError);
    await assert.rejects(client.stream({ messages: [] }).finalResult(), TypeError);
    assert.equal(fake.requests.length, 0);
  });
});

describe("models and model resolution", () => {
  test("models() lists the server's model ids in order", async () => {
    const fake = createFakeLMStudio({ models: ["qwen3-4b", "gemma-3-1b", "text-embedding-x"] });
    const client = new LMStudioClient({ fetch: fake.fetch });
    assert.deepEqual(await client.models(), ["qwen3-4b", "gemma-3-1b", "text-embedding-x"]);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.method, "GET");
    assert.equal(fake.requests[0]!.path, "/v1/models");
  });

  test("models() rejects a body without a data array with InvalidResponseError", async () => {
    const client = new LMStudioClient({
      fetch: (() => Promise.resolve(Response.json({ object: "list" }))) as typeof fetch,
    });
    assertInstance(await rejection(client.models()), InvalidResponseError);
  });

  test("without a model, the first listed one is used, looked up once per client", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({
        models: ["first-model", "second-model"],
        replies: [{ content: "a" }, { content: "b" }, { content: "c" }],
      });
      const client = new LMStudioClient({ fetch: fake.fetch });
      assert.equal(client.model, undefined);
      await client.generate({ messages: USER });
      await client.stream({ messages: USER }).finalResult();
      await client.generate({ messages: USER });
      const lookups = fake.requests.filter((r) => r.path.endsWith("/models"));
      assert.equal(lookups.length, 1);
      assert.deepEqual(fake.chatRequests.map((r) => r.body!.model), [
        "first-model",
        "first-model",
        "first-model",
      ]);
      assert.equal(client.model, "first-model");
    });
  });

  test("concurrent first calls share one /models lookup", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "a" }, { content: "b" }] });
      const client = new LMStudioClient({ fetch: fake.fetch });
      await Promise.all([
        client.generate({ messages: USER }),
        client.generate({ messages: USER }),
      ]);
      assert.equal(fake.requests.filter((r) => r.path.endsWith("/models")).length, 1);
    });
  });

  test("an empty model list is a clear LMStudioError; the next call asks again", async () => {
    await withEnv(NO_ENV, async () => {
      const fake = createFakeLMStudio({ models: [], replies: [{ content: "x" }] });
      const client = new LMStudioClient({ fetch: fake.fetch, baseURL: "http://127.0.0.1:1234/v1" });
      for (
        const call of [
          () => client.generate({ messages: USER }),
          () => client.stream({ messages: USER }).finalResult(),
        ]
      ) {
        const err = assertInstance(await rejection(call()), LMStudioError);
        assert.match(err.message, /No model is loaded at http:\/\/127\.0\.0\.1:1234\/v1/);
        assert.match(err.message, /lms load/);
        assert.match(err.message, /LMSTUDIO_MODEL/);
      }
      assert.equal(fake.requests.filter((r) => r.path.endsWith("/models")).length, 2);
      assert.equal(fake.chatRequests.length, 0);
    });
  });
});

describe("generate()", () => {
  test("returns text, finish reason, camelCase usage, reasoning and model", async () => {
    const { fake, client } = setup([{
      content: "Paris is the capital.",
      reasoning: "Geography question.",
      finishReason: "length",
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    }]);
    const result = await client.generate({ messages: USER, temperature: 0, max_tokens: 5 });
    assert.deepEqual(result, {
      text: "Paris is the capital.",
      reasoning: "Geography question.",
      finishReason: "length",
      usage: { promptTokens: 12, completionTokens: 5, totalTokens: 17 },
      model: "fake-model",
    });
    const body = fake.chatRequests[0]!.body!;
    assert.equal(body.temperature, 0);
    assert.equal(body.max_tokens, 5);
    assert.equal(body.stream, undefined, "generate() does not ask for a stream");
    assert.deepEqual(body.messages, USER);
  });

  test("reads reasoning from the gpt-oss `reasoning` field; sends `extra` fields as-is", async () => {
    const { fake, client } = setup([{
      content: "Hi",
      reasoning: "greet",
      reasoningField: "reasoning",
    }]);
    const result = await client.generate({
      messages: USER,
      extra: { draft_model: "tiny", ttl: 60 },
    });
    assert.equal(result.reasoning, "greet");
    assert.equal(result.text, "Hi");
    assert.equal(fake.chatRequests[0]!.body!.draft_model, "tiny");
    assert.equal(fake.chatRequests[0]!.body!.ttl, 60);
  });

  test("returns native tool calls", async () => {
    const { client } = setup([{ toolCalls: [{ id: "9", name: "add", arguments: { a: 1 } }] }]);
    const result = await client.generate({ messages: USER });
    assert.deepEqual(result.toolCalls, [
      { id: "9", type: "function", function: { name: "add", arguments: '{"a":1}' } },
    ]);
    assert.equal(result.finishReason, "tool_calls");
  });

  test("a 200 body with {error} throws APIError with the server's message", async () => {
    const { client } = setup([{
      rawBody: '{"error":{"message":"Model crashed","type":"server_error"}}',
    }]);
    const err = assertInstance(await rejection(client.generate({ messages: USER })), APIError);
    assert.equal(err.status, 200);
    assert.equal(err.serverMessage, "Model crashed");
    assert.equal(err.code, "server_error");
    assert.match(err.message, /Model crashed/);
  });

  test("a non-JSON body throws InvalidResponseError; so does JSON that is no completion", async () => {
    for (const rawBody of ["<html>proxy error</html>", '{"choices":[]}', '{"object":"list"}']) {
      const { client } = setup([{ rawBody }]);
      const err = assertInstance(
        await rejection(client.generate({ messages: USER })),
        InvalidResponseError,
      );
      assert.match(err.message, /POST http:\/\/localhost:1234\/v1\/chat\/completions/);
    }
  });

  test("maxResponseChars applies to generate() too", async () => {
    const { client } = setup([{ content: "x".repeat(100) }], { maxResponseChars: 10 });
    const err = assertInstance(
      await rejection(client.generate({ messages: USER })),
      ResponseTooLargeError,
    );
    assert.equal(err.unit, "chars");
    assert.equal(err.limit, 10);
  });

  test("a connection reset mid-body over a real socket is a StreamError, not a raw TypeError", async () => {
    const server = await serve(() => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent) {
            await sleep(20);
            return controller.error(new Error("injected reset"));
          }
          sent = true;
          controller.enqueue(new TextEncoder().encode('{"choices":[{"message":{"content":"par'));
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    });
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", maxRetries: 0 });
      const err = assertInstance(await rejection(client.generate({ messages: USER })), StreamError);
      assert.match(err.message, /connection lost while reading the response/);
    } finally {
      await server.close();
    }
  });
});

describe("HTTP errors", () => {
  const cases = [
    {
      status: 400,
      body: { error: "'response_format.type' must be 'json_schema' or 'text'" },
      serverMessage: "'response_format.type' must be 'json_schema' or 'text'",
      code: undefined,
    },
    {
      status: 401,
      body: { error: { message: "Invalid API Key", type: "authentication_error", code: 401 } },
      serverMessage: "Invalid API Key",
      code: "authentication_error",
      hint: /API key/,
    },
    {
      status: 404,
      body: {
        error: {
          message: 'Invalid model identifier "qwen9". Please specify a valid downloaded model.',
          type: "invalid_request_error",
          param: "model",
          code: "model_not_found",
        },
      },
      serverMessage: 'Invalid model identifier "qwen9". Please specify a valid downloaded model.',
      code: "model_not_found",
      hint: /load a model/,
    },
    {
      status: 400,
      body: "Bad request: plain text",
      serverMessage: "Bad request: plain text",
      code: undefined,
    },
  ];

  for (const c of cases) {
    test(`${c.status} ${JSON.stringify(c.body).slice(0, 40)}… → APIError with status and message, not retried`, async () => {
      const fake = createFakeLMStudio({
        replies: [{ status: c.status, body: c.body }, { content: "never" }],
      });
      const retries: unknown[] = [];
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m", retryBaseDelayMs: 1 });
      const err = assertInstance(
        await rejection(client.generate({ messages: USER }, { onRetry: (r) => retries.push(r) })),
        APIError,
      );
      assert.equal(err.status, c.status);
      assert.equal(err.serverMessage, c.serverMessage);
      assert.equal(err.code, c.code);
      assert.equal(err.partialText, "");
      assert.ok(err.message.includes(`status ${c.status}`), err.message);
      assert.ok(err.message.includes(c.serverMessage), err.message);
      assert.ok(
        err.message.includes("POST http://localhost:1234/v1/chat/completions"),
        err.message,
      );
      if (c.hint) assert.match(err.message, c.hint);
      assert.equal(fake.chatRequests.length, 1, "not retried");
      assert.deepEqual(retries, []);
    });
  }

  test("no model loaded (LM Studio's 400) → APIError whose message says how to load one", async () => {
    for (const call of ["generate", "stream"] as const) {
      const fake = createFakeLMStudio({ models: [] });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "qwen3-4b" });
      const p = call === "generate"
        ? client.generate({ messages: USER })
        : client.stream({ messages: USER }).finalResult();
      const err = assertInstance(await rejection(p), APIError);
      assert.equal(err.status, 400);
      assert.equal(err.code, "model_not_found");
      assert.match(err.serverMessage, /No models loaded/);
      assert.match(err.message, /load a model in LM Studio .*lms load/);
      assert.equal(fake.chatRequests.length, 1);
    }
  });

  test("stream() gets the same APIError for an HTTP error, before any delta", async () => {
    const { client } = setup([{ status: 401, body: { error: "Unauthorized" } }]);
    const { deltas, error } = await collect(client.stream({ messages: USER }));
    const err = assertInstance(error, APIError);
    assert.equal(err.status, 401);
    assert.equal(err.serverMessage, "Unauthorized");
    assert.equal(deltas.length, 0);
  });
});

describe("timeouts and connection failures", () => {
  test("a slow first byte throws ResponseTimeoutError phase response, in-process, without retrying", async () => {
    for (const call of ["generate", "stream"] as const) {
      const fake = createFakeLMStudio({ replies: [{ content: "late", firstByteDelayMs: 5_000 }] });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m", timeoutMs: 50 });
      const started = Date.now();
      const { result: err, pending } = await trackSrcTimers(() =>
        rejection(
          call === "generate"
            ? client.generate({ messages: USER })
            : client.stream({ messages: USER }).finalResult(),
        )
      );
      const t = assertInstance(err, ResponseTimeoutError);
      assert.equal(t.phase, "response");
      assert.equal(t.timeoutMs, 50);
      assert.match(t.message, /timeoutMs/);
      assert.ok(Date.now() - started < 1000, `${call} took ${Date.now() - started} ms`);
      assert.equal(fake.chatRequests.length, 1, "a timeout is not retried");
      assert.equal(pending, 0, "no timer left behind");
    }
  });

  test("a slow first byte throws ResponseTimeoutError phase response over a real socket", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "late", firstByteDelayMs: 5_000 }] });
    const server = await serve(fake.handler);
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", timeoutMs: 60 });
      const started = Date.now();
      const err = assertInstance(
        await rejection(client.generate({ messages: USER })),
        ResponseTimeoutError,
      );
      assert.equal(err.phase, "response");
      assert.ok(Date.now() - started < 1000);
    } finally {
      await server.close();
    }
  });

  test("connection refused → ConnectionError naming the base URL and asking if it is running", async () => {
    const port = await closedPort();
    const baseURL = `http://127.0.0.1:${port}/v1`;
    const client = new LMStudioClient({ baseURL, model: "m", maxRetries: 0 });
    for (const call of [() => client.generate({ messages: USER }), () => client.models()]) {
      const err = assertInstance(await rejection(call()), ConnectionError);
      assert.ok(err.message.includes(baseURL), err.message);
      assert.match(err.message, /running/);
      assert.equal(err.baseURL, baseURL);
      assert.ok(err.cause !== undefined, "the runtime's error is attached as cause");
    }
  });
});

describe("secrets", () => {
  const KEY = "sk-lm-SuperSecret-9f8e7d6c";

  /** Every way an error might be shown or logged, down the cause chain. */
  async function assertNoKey(value: unknown, what: string) {
    const { inspect } = await import("node:util");
    const seen = new Set<unknown>();
    for (let e = value; e !== undefined && e !== null && !seen.has(e); e = (e as Error).cause) {
      seen.add(e);
      const views = [
        String(e),
        JSON.stringify(e) ?? "",
        inspect(e, { depth: 10, showHidden: true }),
      ];
      if (e instanceof Error) views.push(e.message, e.stack ?? "");
      for (const v of views) assert.ok(!v.includes(KEY), `${what}: the key leaked into ${v}`);
    }
  }

  test("the API key appears in no error message, String(), JSON, inspect or cause chain", async () => {
    const errors: Array<[string, unknown]> = [];
    // 401 from a server that wants a different key
    {
      const fake = createFakeLMStudio({ apiKey: "other", replies: [] });
      const client = new LMStudioClient({ fetch: fake.fetch, apiKey: KEY, model: "m" });
      errors.push(["401", await rejection(client.generate({ messages: USER }))]);
      errors.push(["401 models", await rejection(client.models())]);
    }
    // connection refused (real fetch)
    {
      const port = await closedPort();
      const client = new LMStudioClient({
        baseURL: `http://127.0.0.1:${port}/v1`,
        apiKey: KEY,
        model: "m",
        maxRetries: 0,
      });
      errors.push(["refused", await rejection(client.generate({ messages: USER }))]);
    }
    // timeout, stream errors, invalid responses, error events
    for (
      const [name, reply, opts] of [
        ["timeout", { content: "x", firstByteDelayMs: 2_000 }, { timeoutMs: 20 }],
        ["idle", { content: "x y", stallAfterEvents: 1 }, { idleTimeoutMs: 20 }],
        ["no done", { content: "x", omitDone: true }, {}],
        ["reset", { content: "x y", disconnectAfterEvents: 1 }, {}],
        ["bad json", { content: "x y", invalidJsonAfterEvents: 1 }, {}],
        ["error event", { content: "x", errorEvent: { message: "boom" } }, {}],
        ["too large", { content: "x".repeat(50) }, { maxResponseChars: 5 }],
        ["500", { status: 500, body: { error: "internal" } }, {}],
      ] as const
    ) {
      const fake = createFakeLMStudio({ replies: [reply] });
      const client = new LMStudioClient({
        fetch: fake.fetch,
        apiKey: KEY,
        model: "m",
        maxRetries: 0,
        ...opts,
      });
      errors.push([name, (await collect(client.stream({ messages: USER }))).error]);
    }
    assert.equal(errors.length, 11);
    for (const [name, err] of errors) {
      assert.ok(err instanceof LMStudioError, `${name}: ${String(err)}`);
      await assertNoKey(err, name);
    }
  });

  test("the API key is not visible on the client: JSON, inspect, keys, String", async () => {
    const { inspect } = await import("node:util");
    const client = new LMStudioClient({ apiKey: KEY, model: "m" });
    for (
      const view of [
        JSON.stringify(client),
        inspect(client, { depth: Infinity, showHidden: true, getters: true }),
        String(client),
        JSON.stringify(Object.getOwnPropertyNames(client)),
        JSON.stringify(Object.entries(client)),
      ]
    ) {
      assert.ok(!view.includes(KEY), view);
    }
  });
});

describe("cancellation", () => {
  test("a signal aborted before the call rejects with its reason and sends nothing", async () => {
    const { fake, client } = setup([{ content: "x" }]);
    const reason = new Error("cancelled up front");
    const signal = AbortSignal.abort(reason);
    assert.equal(await rejection(client.generate({ messages: USER, signal })), reason);
    assert.equal(await rejection(client.stream({ messages: USER, signal }).finalResult()), reason);
    assert.equal(await rejection(client.models({ signal })), reason);
    // Model resolution (no configured model) is aborted too.
    await withEnv(NO_ENV, async () => {
      const anon = new LMStudioClient({ fetch: fake.fetch });
      assert.equal(await rejection(anon.generate({ messages: USER, signal })), reason);
    });
    assert.equal(fake.requests.length, 0);
  });

  test("aborting while waiting for the first byte rejects with exactly the reason, promptly", async () => {
    for (const call of ["generate", "stream"] as const) {
      const { client } = setup([{ content: "late", firstByteDelayMs: 10_000 }]);
      const controller = new AbortController();
      const reason = { why: "user pressed stop" }; // any value, not only Errors
      setTimeout(() => controller.abort(reason), 30);
      const started = Date.now();
      const { result: err, pending } = await trackSrcTimers(() =>
        rejection(
          call === "generate"
            ? client.generate({ messages: USER, signal: controller.signal })
            : client.stream({ messages: USER, signal: controller.signal }).finalResult(),
        )
      );
      assert.equal(err, reason);
      assert.ok(Date.now() - started < 500, `${call}: ${Date.now() - started} ms`);
      assert.equal(pending, 0, "no timer left behind");
    }
  });

  test("aborting mid-stream rejects with exactly the reason and cancels the body", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "a b c d e f g h", delayMs: 30 }] });
    const { client, seen } = observedClient(fake);
    const controller = new AbortController();
    const reason = new Error("stop now");
    const got: string[] = [];
    const { result: err, pending } = await trackSrcTimers(() =>
      rejection((async () => {
        for await (const d of client.stream({ messages: USER, signal: controller.signal })) {
          got.push(d.text);
          if (got.length === 2) controller.abort(reason);
        }
      })())
    );
    assert.equal(err, reason);
    assert.deepEqual(got, ["a", " b"]);
    assert.ok(seen.cancelled, "the response body was cancelled");
    assert.equal(seen.signal?.aborted, true);
    assert.equal(pending, 0, "no timer left behind");
  });

  test("`for await … break` cancels the underlying request", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "a b c d e f", stallAfterEvents: 3 }] });
    const { client, seen } = observedClient(fake);
    const { pending } = await trackSrcTimers(async () => {
      for await (const d of client.stream({ messages: USER })) {
        assert.equal(d.text, "a");
        break;
      }
    });
    assert.ok(seen.cancelled, "the response body was cancelled");
    assert.equal(seen.signal?.aborted, true, "the fetch was aborted");
    assert.equal(pending, 0, "no timer left behind (idle watchdog cleared)");
  });

  test("over a real socket: abort while waiting for the first byte", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "late", firstByteDelayMs: 10_000 }] });
    let serverSignal: AbortSignal | undefined;
    const server = await serve((req) => {
      serverSignal = req.signal;
      return fake.handler(req);
    });
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const controller = new AbortController();
      const reason = new Error("too slow");
      setTimeout(() => controller.abort(reason), 50);
      const started = Date.now();
      const err = await rejection(client.generate({ messages: USER, signal: controller.signal }));
      assert.equal(err, reason);
      assert.ok(Date.now() - started < 500);
      assert.ok(await eventually(() => serverSignal?.aborted === true), "server saw the abort");
    } finally {
      await server.close();
    }
  });

  test("over a real socket: abort mid-stream, and `break`, cancel the server's response", async () => {
    for (const how of ["abort", "break"] as const) {
      const fake = createFakeLMStudio({
        replies: [{ content: "a b c d e f", stallAfterEvents: 2 }],
      });
      let cancelled = false;
      const server = await serve(async (req) =>
        observeBody(await fake.handler(req), () => cancelled = true)
      );
      try {
        const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
        const controller = new AbortController();
        const reason = new Error("mid-stream stop");
        const got: string[] = [];
        const started = Date.now();
        const err = await rejection((async () => {
          for await (const d of client.stream({ messages: USER, signal: controller.signal })) {
            got.push(d.text);
            if (got.length === 2) {
              if (how === "break") break;
              // The server is now silent: the abort must interrupt a pending read.
              setTimeout(() => controller.abort(reason), 20);
            }
          }
          throw "ended";
        })());
        assert.equal(err, how === "abort" ? reason : "ended");
        assert.deepEqual(got, ["a", " b"]);
        assert.ok(Date.now() - started < 1000);
        assert.ok(await eventually(() => cancelled), `${how}: the server's response was cancelled`);
      } finally {
        await server.close();
      }
    }
  });

  test("over a real socket: abort while generate() reads the body", async () => {
    const server = await serve(() => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return new Promise(() => {}); // then silence
          sent = true;
          controller.enqueue(new TextEncoder().encode('{"choices":['));
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    });
    try {
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const controller = new AbortController();
      const reason = new Error("body too slow");
      setTimeout(() => controller.abort(reason), 50);
      assert.equal(
        await rejection(client.generate({ messages: USER, signal: controller.signal })),
        reason,
      );
    } finally {
      await server.close();
    }
  });
});
