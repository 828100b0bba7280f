// Context overflow is one typed error, whatever the server: every public shape found (one
// fixture each in tests/fixtures/context_overflow/, naming its source) becomes a
// ContextOverflowError with the numbers the server stated and a hint on how to make it fit,
// through generate() and stream(), as an HTTP error, a mid-stream event or a 200 error body.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { APIError, LMStudioClient } from "../mod.ts";
import { ContextOverflowError, ModelNotLoadedError } from "../src/errors.ts";
import { assertInstance, fixture, NO_ENV, USER, withEnv } from "./_kit/client_kit.ts";
import { rejection } from "./_kit/async_kit.ts";

interface OverflowFixture {
  source: string;
  synthetic: boolean;
  /** "http": a non-2xx JSON body; "sse": a 200 event stream; "json200": a 200 JSON body. */
  delivery: "http" | "sse" | "json200";
  status: number;
  body?: unknown;
  sse?: string;
  partialText?: string;
  expect: { promptTokens?: number; contextLength?: number };
}

const DIR = "context_overflow";
const FIXTURES: Array<[string, OverflowFixture]> = readdirSync(
  new URL(`./fixtures/${DIR}/`, import.meta.url),
)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => [f, JSON.parse(new TextDecoder().decode(fixture(`${DIR}/${f}`)))]);

/** A client whose every request is answered as the fixture says. */
function clientFor(
  f: Pick<OverflowFixture, "delivery" | "status" | "body" | "sse">,
): { client: LMStudioClient; calls: () => number } {
  let calls = 0;
  const fetch = (() => {
    calls++;
    if (f.delivery === "sse") {
      return Promise.resolve(
        new Response(f.sse, { status: 200, headers: { "content-type": "text/event-stream" } }),
      );
    }
    return Promise.resolve(Response.json(f.body, { status: f.status }));
  }) as typeof globalThis.fetch;
  return {
    client: new LMStudioClient({ fetch, model: "m", baseURL: "http://127.0.0.1:1234/v1" }),
    calls: () => calls,
  };
}

describe("context overflow fixtures", () => {
  test("there is one fixture per known shape, each naming its source", () => {
    assert.ok(FIXTURES.length >= 12, `only ${FIXTURES.length} fixtures`);
    for (const [name, f] of FIXTURES) {
      assert.ok(f.source.length > 10, `${name}: no source`);
      assert.equal(typeof f.synthetic, "boolean", `${name}: synthetic must be stated`);
    }
  });
});

describe("ContextOverflowError", () => {
  for (const [name, f] of FIXTURES) {
    const calls = f.delivery === "sse" ? ["stream"] as const : ["generate", "stream"] as const;
    for (const call of calls) {
      test(`${call}(): ${name} → ContextOverflowError with the server's numbers`, async () => {
        const { client, calls: sent } = clientFor(f);
        const p = call === "generate"
          ? client.generate({ messages: USER })
          : client.stream({ messages: USER }).finalResult();
        const err = assertInstance(await rejection(p), ContextOverflowError);
        assert.ok(err instanceof APIError, "a subclass of APIError");
        assert.equal(err.name, "ContextOverflowError");
        assert.equal(err.promptTokens, f.expect.promptTokens);
        assert.equal(err.contextLength, f.expect.contextLength);
        assert.equal(err.method, "POST");
        assert.equal(err.url, "http://127.0.0.1:1234/v1/chat/completions");
        assert.equal(err.status, f.delivery === "sse" ? undefined : f.status);
        assert.equal(err.partialText, f.partialText ?? "");
        assert.ok(err.serverMessage.length > 0);
        assert.ok(err.message.includes(err.serverMessage), "the server's words are kept");
        // The hint: a larger window, fewer/shorter tool descriptions, a smaller max_tokens.
        assert.match(err.message, /client\.loadModel\(model, \{ contextLength \}\)/);
        assert.match(err.message, /tool descriptions/);
        assert.match(err.message, /max_tokens/);
        if (f.expect.contextLength !== undefined) {
          assert.ok(err.message.includes(`window (${f.expect.contextLength} tokens)`));
        }
        assert.equal(sent(), 1, "an overflow is not retried");
      });
    }
  }

  test("other server errors stay what they were", async () => {
    const others: Array<[unknown, number, typeof APIError]> = [
      [{ error: "'response_format.type' must be 'json_schema' or 'text'" }, 400, APIError],
      [{ error: { message: "Model crashed", type: "server_error" } }, 400, APIError],
      [{ error: { message: "Invalid API Key", type: "authentication_error" } }, 401, APIError],
      [
        {
          error: {
            message: "No models loaded. Please load a model in the developer page or use the " +
              "'lms load' command.",
            type: "invalid_request_error",
            param: "model",
            code: "model_not_found",
          },
        },
        400,
        ModelNotLoadedError,
      ],
    ];
    for (const [body, status, cls] of others) {
      const { client } = clientFor({ delivery: "http", status, body });
      const err = await rejection(client.generate({ messages: USER }));
      assertInstance(err, cls);
      assert.ok(!(err instanceof ContextOverflowError), `${JSON.stringify(body)} is no overflow`);
    }
  });

  test("no model loaded is one error type, whether the server or the client noticed", async () => {
    const { client } = clientFor({
      delivery: "http",
      status: 400,
      body: { error: 'Invalid model identifier "nope".' },
    });
    const server = assertInstance(
      await rejection(client.generate({ messages: USER })),
      ModelNotLoadedError,
    );
    assert.equal(server.status, 400);
    assert.match(server.message, /lms load/);
    await withEnv(NO_ENV, async () => {
      const empty = new LMStudioClient({
        fetch: (() => Promise.resolve(Response.json({ data: [] }))) as typeof fetch,
        baseURL: "http://127.0.0.1:1234/v1",
      });
      const err = assertInstance(await rejection(empty.resolveModel()), ModelNotLoadedError);
      assert.ok(err instanceof APIError);
      assert.equal(err.method, "GET");
      assert.equal(err.url, "http://127.0.0.1:1234/v1/models");
      assert.match(err.message, /No model is loaded at http:\/\/127\.0\.0\.1:1234\/v1/);
    });
  });
});
