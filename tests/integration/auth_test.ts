// API-key mode against a real server: llama-server started with `--api-key` (PEER_API_KEY
// for llama-server.sh) requires `Authorization: Bearer <key>` on every /v1 endpoint, /models
// included, and answers anything else with 401 {"error": {"message": "Invalid API Key",
// "type": "authentication_error", "code": 401}}. The key tests run only when
// LMSTUDIO_API_KEY is set (the runner's second pass); everything is skipped without a server.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { APIError, LMStudioClient, type RetryInfo } from "../../mod.ts";
import { assertInstance, withEnv } from "../_kit/client_kit.ts";
import { rejection } from "../_kit/async_kit.ts";
import { BASE_URL, env, skipWithoutServer } from "./_kit.ts";

const API_KEY = env("LMSTUDIO_API_KEY");
const HI = [{ role: "user" as const, content: "hi" }];

/** The ways a request can go out; each must fail the same way with a bad key. */
const calls = {
  models: (c: LMStudioClient) => c.models(),
  generate: (c: LMStudioClient, onRetry?: (i: RetryInfo) => void) =>
    c.generate({ messages: HI, max_tokens: 2 }, { onRetry }),
  stream: (c: LMStudioClient, onRetry?: (i: RetryInfo) => void) =>
    c.stream({ messages: HI, max_tokens: 2 }, { onRetry }).finalResult(),
};

if (!BASE_URL) {
  skipWithoutServer("integration: API key");
} else if (!API_KEY) {
  describe("integration: a server without an API key", () => {
    test("accepts requests with or without a bearer token", async () => {
      const withKey = new LMStudioClient({ apiKey: "any-key-at-all" });
      assert.ok((await withKey.generate({ messages: HI, max_tokens: 2 })).usage);
      const without = new LMStudioClient();
      assert.ok((await without.models()).length >= 1);
    });
    test("key tests: skipped (LMSTUDIO_API_KEY is not set; the runner's second pass sets it)", {
      skip: "LMSTUDIO_API_KEY is not set",
    }, () => {});
  });
} else {
  describe("integration: a server that requires an API key", () => {
    for (const [what, apiKey] of [["no key", undefined], ["a wrong key", "wrong-key"]] as const) {
      test(`${what}: every endpoint gives APIError 401 "Invalid API Key", not retried`, async () => {
        const client = await withEnv(
          { LMSTUDIO_API_KEY: undefined },
          () => new LMStudioClient({ apiKey, maxRetries: 2, retryBaseDelayMs: 1 }),
        );
        for (const [name, call] of Object.entries(calls)) {
          const retries: RetryInfo[] = [];
          const err = assertInstance(
            await rejection(call(client, (i) => retries.push(i)), name),
            APIError,
          );
          assert.equal(err.status, 401, `${name}: ${err.message}`);
          assert.equal(err.serverMessage, "Invalid API Key");
          assert.equal(err.code, "authentication_error");
          assert.match(err.message, /status 401: Invalid API Key — check the API key/);
          assert.ok(!err.message.includes(API_KEY), "the message leaks the key");
          assert.deepEqual(retries, [], `${name} was retried`);
        }
      });
    }

    test("the right key works for models(), generate() and stream()", async () => {
      const client = new LMStudioClient({ apiKey: API_KEY });
      const ids = await client.models();
      assert.ok(ids.length >= 1);
      const generated = await client.generate({ messages: HI, temperature: 0, max_tokens: 8 });
      const stream = client.stream({ messages: HI, temperature: 0, max_tokens: 8 });
      for await (const _ of stream) { /* drain */ }
      const streamed = await stream.finalResult();
      assert.equal(streamed.text, generated.text);
      assert.ok(streamed.usage && streamed.usage.completionTokens > 0);
    });

    test("the key comes from LMSTUDIO_API_KEY when no apiKey option is given", async () => {
      const client = new LMStudioClient();
      assert.ok((await client.models()).length >= 1);
      assert.ok(!JSON.stringify(client).includes(API_KEY), "the key is visible on the client");
    });
  });
}
