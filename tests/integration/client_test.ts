// LMStudioClient against a real OpenAI-compatible server (llama.cpp's llama-server): model
// listing and resolution, generate() vs stream(), usage, the server's real errors, concurrency
// and cancellation. Skipped unless LMSTUDIO_BASE_URL is set (`npm run test:integration`).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { APIError, type ChatMessage, LMStudioClient, type RetryInfo } from "../../mod.ts";
import { assertInstance, withEnv } from "../_kit/client_kit.ts";
import { collectDeltas as collect, rejection } from "../_kit/async_kit.ts";
import {
  BASE_URL,
  env,
  recordingFetch,
  type SentRequest,
  skipWithoutServer,
  SLOW,
} from "./_kit.ts";

const HI: ChatMessage[] = [{ role: "user", content: "Say hello." }];

if (!BASE_URL) {
  skipWithoutServer("integration: client");
} else {
  describe("integration: client against a real server", () => {
    test("models() lists the served model, and a client without a model resolves to it", async () => {
      const ids = await new LMStudioClient().models();
      assert.ok(ids.length >= 1, `the server lists no model: ${JSON.stringify(ids)}`);
      const configured = env("LMSTUDIO_MODEL");
      if (configured) assert.ok(ids.includes(configured), `${configured} not in ${ids}`);

      const sent: SentRequest[] = [];
      const client = await withEnv(
        { LMSTUDIO_MODEL: undefined },
        () => new LMStudioClient({ fetch: recordingFetch(sent) }),
      );
      assert.equal(client.model, undefined);
      const result = await client.generate({ messages: HI, temperature: 0, max_tokens: 4 });
      assert.equal(client.model, ids[0]);
      const requests = sent.filter((r) => !r.retry);
      assert.deepEqual(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`), [
        "GET /v1/models",
        "POST /v1/chat/completions",
      ]);
      assert.equal(requests[1]!.body!.model, ids[0]);
      assert.equal(result.model, ids[0]);
      // Resolved once per client: a second request does not list models again.
      await client.generate({ messages: HI, temperature: 0, max_tokens: 2 });
      assert.equal(requests.filter((r) => r.url.endsWith("/models")).length, 1);
    });

    test("generate() and stream() give identical text at temperature 0", async () => {
      const client = new LMStudioClient();
      const request = { messages: HI, temperature: 0, max_tokens: 24 };
      const generated = await client.generate(request);
      const stream = client.stream(request);
      const { deltas, text, error } = await collect(stream);
      assert.equal(error, undefined);
      const streamed = await stream.finalResult();
      assert.ok(generated.text.length > 0, "empty reply at temperature 0");
      assert.equal(streamed.text, generated.text);
      assert.equal(text, generated.text);
      assert.ok(deltas.length >= 1);
      assert.equal(streamed.finishReason, generated.finishReason);
      assert.equal(streamed.finishReason, "stop");
      assert.equal(streamed.usage?.completionTokens, generated.usage?.completionTokens);
    });

    test("generate() and stream() agree token for token on a seeded reply cut by max_tokens", async () => {
      const client = new LMStudioClient();
      const request = {
        messages: [{ role: "user" as const, content: "Tell me a long story." }],
        temperature: 0.9,
        seed: 42,
        max_tokens: 12,
      };
      const generated = await client.generate(request);
      const stream = client.stream(request);
      const { deltas, text, error } = await collect(stream);
      assert.equal(error, undefined);
      const streamed = await stream.finalResult();
      assert.equal(generated.finishReason, "length");
      assert.equal(streamed.finishReason, "length");
      assert.equal(generated.usage?.completionTokens, 12);
      assert.equal(streamed.usage?.completionTokens, 12);
      assert.equal(streamed.text, generated.text);
      assert.equal(text, generated.text);
      // llama.cpp streams one event per token (empty pieces are not delivered as deltas).
      assert.ok(deltas.length > 1 && deltas.length <= 12, `${deltas.length} deltas`);
    });

    test("stream() reports the usage from the server's final choices: [] chunk", async () => {
      const client = new LMStudioClient();
      const request = { messages: HI, temperature: 0.8, seed: 7, max_tokens: 10 };
      const stream = client.stream(request);
      for await (const _ of stream) { /* drain */ }
      const { usage } = await stream.finalResult();
      assert.ok(usage, "no usage in the stream");
      assert.ok(usage.promptTokens > 0, `promptTokens ${usage.promptTokens}`);
      assert.ok(usage.completionTokens > 0, `completionTokens ${usage.completionTokens}`);
      assert.equal(usage.totalTokens, usage.promptTokens + usage.completionTokens);
      const generated = await client.generate(request);
      assert.deepEqual(generated.usage, usage);
    });

    test("a request the server rejects gives APIError 400 with the server's message", async () => {
      const client = new LMStudioClient({ maxRetries: 0 });
      // The client refuses a bad `messages` itself; `extra` is sent as-is and overrides it.
      const cases = [
        { extra: { messages: "hello" }, message: "Expected 'messages' to be an array" },
        { extra: { messages: undefined }, message: "'messages' is required" },
      ];
      for (const { extra, message } of cases) {
        for (const call of ["generate", "stream"] as const) {
          const request = { messages: HI, max_tokens: 4, extra };
          const err = assertInstance(
            await rejection(
              call === "generate"
                ? client.generate(request)
                : collect(client.stream(request)).then((r) => {
                  throw r.error;
                }),
              call,
            ),
            APIError,
          );
          assert.equal(err.status, 400, `${call}: ${err.message}`);
          assert.equal(err.serverMessage, message);
          assert.equal(err.code, "invalid_request_error");
          assert.match(err.message, /POST .*\/chat\/completions failed with status 400/);
          assert.ok(err.message.includes(message));
        }
      }
    });

    test("a body that is not JSON gets HTTP 500 server_error, retried like any 5xx", async () => {
      // llama.cpp answers a JSON syntax error with 500 (not 400), so the client's retry policy
      // sends it again before giving up. Cut the body to make it malformed.
      const truncating = ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, {
          ...init,
          body: typeof init?.body === "string" ? init.body.slice(0, 20) : init?.body,
        })) as typeof fetch;
      const retries: RetryInfo[] = [];
      const client = new LMStudioClient({ fetch: truncating, maxRetries: 1, retryBaseDelayMs: 1 });
      const err = assertInstance(
        await rejection(
          client.generate({ messages: HI, max_tokens: 4 }, { onRetry: (i) => retries.push(i) }),
        ),
        APIError,
      );
      assert.equal(err.status, 500);
      assert.equal(err.code, "server_error");
      assert.match(err.serverMessage, /^\[json\.exception\.parse_error\.\d+\] parse error/);
      assert.deepEqual(retries.map((r) => r.status), [500]);
    });

    test("a prompt longer than the context gives APIError 400 exceed_context_size_error", async () => {
      const client = new LMStudioClient({ maxRetries: 0 });
      // ~20 000 tokens: more than the whole server context (16 384), let alone a slot's.
      const long = [{ role: "user" as const, content: "hello ".repeat(20_000) }];
      for (const call of ["generate", "stream"] as const) {
        const request = { messages: long, max_tokens: 4 };
        const t0 = Date.now();
        const err = assertInstance(
          await rejection(
            call === "generate" ? client.generate(request) : client.stream(request).finalResult(),
            call,
          ),
          APIError,
        );
        // Even with stream: true the server answers with plain JSON, before any SSE.
        assert.equal(err.status, 400, `${call}: ${err.message}`);
        assert.equal(err.code, "exceed_context_size_error");
        assert.match(
          err.serverMessage,
          /^request \(\d+ tokens\) exceeds the available context size \(\d+ tokens\)/,
        );
        const body = err.body as { error: { n_prompt_tokens: number; n_ctx: number } };
        assert.ok(body.error.n_prompt_tokens > body.error.n_ctx, JSON.stringify(body));
        assert.ok(Date.now() - t0 < 30_000, "rejected without generating");
      }
    });

    test("several concurrent streams each get their own complete reply", SLOW, async () => {
      const client = new LMStudioClient();
      const seeds = [1, 2, 3, 4, 5];
      const request = (seed: number) => ({
        messages: [{ role: "user" as const, content: `Story number ${seed}, please.` }],
        temperature: 0.9,
        seed,
        max_tokens: 10,
      });
      // More streams than the server has slots (2): the rest queue, and all must finish.
      const streamed = await Promise.all(seeds.map(async (seed) => {
        const stream = client.stream(request(seed));
        const { text, error } = await collect(stream);
        assert.equal(error, undefined, `seed ${seed}`);
        const result = await stream.finalResult();
        assert.equal(result.text, text);
        return result;
      }));
      // Each matches the same request made alone: no stream received another's tokens.
      for (const [i, seed] of seeds.entries()) {
        const alone = await client.generate(request(seed));
        assert.equal(streamed[i]!.text, alone.text, `seed ${seed}`);
        assert.equal(streamed[i]!.finishReason, alone.finishReason);
        assert.ok((streamed[i]!.usage?.completionTokens ?? 0) > 0);
      }
    });

    test("breaking out of a stream cancels it, and the server keeps serving", SLOW, async () => {
      const client = new LMStudioClient();
      const t0 = Date.now();
      let seen = 0;
      for await (
        const d of client.stream({ messages: HI, temperature: 1, seed: 3, max_tokens: 400 })
      ) {
        if (d.text) seen++;
        if (seen === 2) break;
      }
      assert.equal(seen, 2);
      const next = await client.generate({ messages: HI, temperature: 0, max_tokens: 8 });
      assert.ok(next.text.length > 0);
      // 400 tokens take tens of seconds here; the break must not have waited for them.
      assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    });

    test("an aborted stream rejects with the signal's reason", async () => {
      const client = new LMStudioClient();
      const controller = new AbortController();
      const reason = new Error("user pressed stop");
      const stream = client.stream({
        messages: HI,
        temperature: 1,
        seed: 5,
        max_tokens: 400,
        signal: controller.signal,
      });
      const err = await rejection((async () => {
        for await (const d of stream) if (d.text) controller.abort(reason);
      })());
      assert.equal(err, reason);
    });
  });
}
