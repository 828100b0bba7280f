// Retries: the helpers in src/_retry.ts, and the client's retry loop (what is retried, how
// often, how long it waits, and that nothing is retried once a body is being read).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  APIError,
  ConnectionError,
  LMStudioClient,
  type LMStudioClientOptions,
  type RetryInfo,
  StreamError,
} from "../mod.ts";
import { ResponseTimeoutError } from "../src/errors.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";
import { abortableDelay, isRetryableStatus, parseRetryAfter, retryDelay } from "../src/_retry.ts";
import { assertInstance, trackSrcTimers, USER } from "./_kit/client_kit.ts";
import { collectDeltas as collect, rejection } from "./_kit/async_kit.ts";
import { closedPort } from "./_kit/serve.ts";

describe("isRetryableStatus", () => {
  test("retries 408, 409, 429 and 5xx; never other 4xx", () => {
    for (const s of [408, 409, 429, 500, 502, 503, 504, 599]) {
      assert.equal(isRetryableStatus(s), true, `${s}`);
    }
    for (const s of [400, 401, 403, 404, 405, 413, 422, 451]) {
      assert.equal(isRetryableStatus(s), false, `${s}`);
    }
  });
});

describe("parseRetryAfter", () => {
  const h = (init: Record<string, string>) => new Headers(init);
  const NOW = Date.UTC(2025, 10, 25, 12, 0, 0); // a whole second, like HTTP dates

  test("delta-seconds, including fractions and zero; negatives clamp to 0", () => {
    assert.equal(parseRetryAfter(h({ "retry-after": "0" })), 0);
    assert.equal(parseRetryAfter(h({ "retry-after": "3" })), 3000);
    assert.equal(parseRetryAfter(h({ "retry-after": "1.5" })), 1500);
    assert.equal(parseRetryAfter(h({ "retry-after": " 2 " })), 2000);
    assert.equal(parseRetryAfter(h({ "retry-after": "-4" })), 0);
  });

  test("an HTTP date is the time until then; a past date is 0", () => {
    const at = (ms: number) => new Date(NOW + ms).toUTCString();
    assert.equal(parseRetryAfter(h({ "retry-after": at(7000) }), NOW), 7000);
    assert.equal(parseRetryAfter(h({ "retry-after": at(120_000) }), NOW), 120_000);
    assert.equal(parseRetryAfter(h({ "retry-after": at(-60_000) }), NOW), 0);
    assert.equal(
      parseRetryAfter(h({ "retry-after": "Tue, 25 Nov 2025 12:00:42 GMT" }), NOW),
      42_000,
    );
  });

  test("retry-after-ms wins over retry-after; a bad retry-after-ms falls back", () => {
    assert.equal(parseRetryAfter(h({ "retry-after-ms": "250", "retry-after": "9" })), 250);
    assert.equal(parseRetryAfter(h({ "retry-after-ms": "soon", "retry-after": "9" })), 9000);
    assert.equal(parseRetryAfter(h({ "retry-after-ms": "-3" })), 0);
  });

  test("absent, empty or unparseable is undefined", () => {
    assert.equal(parseRetryAfter(h({})), undefined);
    assert.equal(parseRetryAfter(h({ "retry-after": "" })), undefined);
    assert.equal(parseRetryAfter(h({ "retry-after": "   " })), undefined);
    assert.equal(parseRetryAfter(h({ "retry-after": "later, please" })), undefined);
    assert.equal(parseRetryAfter(h({ "retry-after": "Infinity" })), undefined);
  });
});

describe("retryDelay", () => {
  test("a server's Retry-After is used as-is, capped at maxDelayMs", () => {
    const opts = { baseDelayMs: 500, maxDelayMs: 30_000 };
    assert.equal(retryDelay(0, { ...opts, retryAfterMs: 0 }), 0);
    assert.equal(retryDelay(3, { ...opts, retryAfterMs: 1234 }), 1234);
    assert.equal(retryDelay(0, { ...opts, retryAfterMs: 3_600_000 }), 30_000);
  });

  test("backoff doubles per attempt with half fixed, half jitter", () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(retryDelay(0, opts, () => 0), 50);
    assert.equal(retryDelay(0, opts, () => 0.999999), 99.99995);
    assert.equal(retryDelay(1, opts, () => 0), 100);
    assert.equal(retryDelay(2, opts, () => 0.5), 300);
    assert.equal(retryDelay(10, opts, () => 0), 500, "the ceiling is capped at maxDelayMs");
    assert.equal(retryDelay(10, opts, () => 0.999999) < 1000, true);
  });

  test("property: the delay lies in [ceiling/2, ceiling] with ceiling = min(max, base·2^attempt)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseDelayMs, maxDelayMs, r) => {
          const d = retryDelay(attempt, { baseDelayMs, maxDelayMs }, () => r);
          const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
          assert.ok(d >= ceiling / 2 && d <= ceiling, `${d} vs ${ceiling}`);
          assert.ok(d <= maxDelayMs);
        },
      ),
      { seed: 424242, numRuns: 500 },
    );
  });
});

describe("abortableDelay", () => {
  test("resolves after the delay", async () => {
    const started = Date.now();
    await abortableDelay(30);
    assert.ok(Date.now() - started >= 25);
    const controller = new AbortController();
    await abortableDelay(5, controller.signal);
    controller.abort(); // after it resolved: nothing happens, nothing is unhandled
  });

  test("an already-aborted signal rejects at once with its reason, starting no timer", async () => {
    const reason = new Error("already");
    const { result, pending } = await trackSrcTimers(() =>
      rejection(abortableDelay(60_000, AbortSignal.abort(reason)))
    );
    assert.equal(result, reason);
    assert.equal(pending, 0);
  });

  test("aborting mid-wait rejects promptly with exactly the reason and clears the timer", async () => {
    for (const reason of [new Error("stop"), "a string reason", undefined]) {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(reason), 10);
      const { result, pending } = await trackSrcTimers(() =>
        rejection(abortableDelay(60_000, controller.signal))
      );
      if (reason === undefined) {
        assert.equal(result, controller.signal.reason, "the default AbortError reason");
        assert.equal((result as Error).name, "AbortError");
      } else {
        assert.equal(result, reason);
      }
      assert.ok(Date.now() - started < 500);
      assert.equal(pending, 0, "the 60 s timer was cleared");
    }
  });

  test("removes its abort listener once the delay has passed", async () => {
    let added = 0;
    let removed = 0;
    const signal = {
      aborted: false,
      reason: undefined,
      addEventListener: () => added++,
      removeEventListener: () => removed++,
    } as unknown as AbortSignal;
    await abortableDelay(1, signal);
    assert.equal(added, 1);
    assert.equal(removed, 1);
  });
});

/** A client on a fake with `replies`; tiny real delays. */
function setup(replies: FakeReply[], options: LMStudioClientOptions = {}) {
  const fake = createFakeLMStudio({ replies });
  const retries: RetryInfo[] = [];
  const client = new LMStudioClient({
    fetch: fake.fetch,
    model: "m",
    retryBaseDelayMs: 1,
    ...options,
  });
  const onRetry = (info: RetryInfo) => void retries.push(info);
  return { fake, client, retries, onRetry };
}

const fail = (status: number, headers?: Record<string, string>): FakeReply => ({
  status,
  body: { error: { message: `upstream ${status}`, type: "server_error" } },
  headers,
});

describe("client retries", () => {
  for (const status of [500, 502, 503]) {
    test(`generate() and stream() retry a ${status}, then succeed`, async () => {
      for (const call of ["generate", "stream"] as const) {
        const { fake, client, retries, onRetry } = setup([fail(status), { content: "recovered" }]);
        const result = call === "generate"
          ? await client.generate({ messages: USER }, { onRetry })
          : await client.stream({ messages: USER }, { onRetry }).finalResult();
        assert.equal(result.text, "recovered");
        assert.equal(fake.chatRequests.length, 2);
        assert.equal(retries.length, 1);
        assert.equal(retries[0]!.attempt, 1);
        assert.equal(retries[0]!.status, status);
        const err = assertInstance(retries[0]!.error, APIError);
        assert.equal(err.status, status);
        assert.equal(err.serverMessage, `upstream ${status}`);
      }
    });
  }

  test("retries up to maxRetries times (500, 502, 503, then success with maxRetries 3)", async () => {
    const { fake, client, retries, onRetry } = setup(
      [fail(500), fail(502), fail(503), { content: "fourth time" }],
      { maxRetries: 3 },
    );
    assert.equal((await client.generate({ messages: USER }, { onRetry })).text, "fourth time");
    assert.equal(fake.chatRequests.length, 4);
    assert.deepEqual(retries.map((r) => [r.attempt, r.status]), [[1, 500], [2, 502], [3, 503]]);
    // Backoff with base 1 ms: attempt k waits within [2^k/2, 2^k] ms.
    retries.forEach((r, k) =>
      assert.ok(r.delayMs >= 2 ** k / 2 && r.delayMs <= 2 ** k, `${r.delayMs}`)
    );
  });

  test("gives up after maxRetries with the last error", async () => {
    const { fake, client, retries, onRetry } = setup([fail(503), fail(503), fail(502), {
      content: "x",
    }], {
      maxRetries: 2,
    });
    const err = assertInstance(
      await rejection(client.generate({ messages: USER }, { onRetry })),
      APIError,
    );
    assert.equal(err.status, 502);
    assert.equal(fake.chatRequests.length, 3);
    assert.equal(retries.length, 2);
  });

  test("maxRetries: 0 sends exactly one request", async () => {
    const { fake, client, retries, onRetry } = setup([fail(503), { content: "x" }], {
      maxRetries: 0,
    });
    const err = assertInstance(
      await rejection(client.generate({ messages: USER }, { onRetry })),
      APIError,
    );
    assert.equal(err.status, 503);
    assert.equal(fake.chatRequests.length, 1);
    assert.deepEqual(retries, []);
  });

  test("408 and 409 are retried too", async () => {
    for (const status of [408, 409]) {
      const { fake, client } = setup([fail(status), { content: "ok" }]);
      assert.equal((await client.generate({ messages: USER })).text, "ok");
      assert.equal(fake.chatRequests.length, 2);
    }
  });

  test("400, 401, 403, 404 and 422 are not retried (exactly one request)", async () => {
    for (const status of [400, 401, 403, 404, 422]) {
      const { fake, client, retries, onRetry } = setup([fail(status), { content: "never" }], {
        maxRetries: 5,
      });
      const err = assertInstance(
        await rejection(client.generate({ messages: USER }, { onRetry })),
        APIError,
      );
      assert.equal(err.status, status);
      assert.equal(fake.chatRequests.length, 1, `${status}`);
      assert.deepEqual(retries, []);
    }
  });

  test("429 with Retry-After in seconds: honoured (even 0), capped by maxRetryDelayMs", async () => {
    // With retryBaseDelayMs 1000 a backoff would be ≥ 500 ms: 0 and 40 prove the header won.
    for (
      const [header, max, want] of [
        ["0", 30_000, 0],
        ["0.04", 30_000, 40],
        ["120", 25, 25],
      ] as const
    ) {
      const { fake, client, retries, onRetry } = setup(
        [fail(429, { "retry-after": header }), { content: "ok" }],
        { retryBaseDelayMs: 1000, maxRetryDelayMs: max },
      );
      const started = Date.now();
      assert.equal((await client.generate({ messages: USER }, { onRetry })).text, "ok");
      assert.equal(retries.length, 1);
      assert.equal(retries[0]!.status, 429);
      assert.equal(retries[0]!.delayMs, want, `Retry-After ${header}`);
      assert.ok(Date.now() - started >= want - 5, "the delay was actually waited");
      assert.equal(fake.chatRequests.length, 2);
    }
  });

  test("429 with Retry-After as an HTTP date: honoured, capped by maxRetryDelayMs", async () => {
    const date = (ms: number) => new Date(Date.now() + ms).toUTCString();
    // Far future: capped.
    {
      const { client, retries, onRetry } = setup(
        [fail(429, { "retry-after": date(3_600_000) }), { content: "ok" }],
        { retryBaseDelayMs: 1000, maxRetryDelayMs: 30 },
      );
      await client.generate({ messages: USER }, { onRetry });
      assert.equal(retries[0]!.delayMs, 30);
    }
    // In the past: retry at once.
    {
      const { client, retries, onRetry } = setup(
        [fail(429, { "retry-after": date(-5_000) }), { content: "ok" }],
        { retryBaseDelayMs: 1000 },
      );
      await client.generate({ messages: USER }, { onRetry });
      assert.equal(retries[0]!.delayMs, 0);
    }
    // A few seconds ahead, under the cap: that long (HTTP dates have 1 s resolution). The
    // wait is cut short by aborting, which rejects with the reason and sends nothing more.
    {
      const controller = new AbortController();
      const reason = new Error("not waiting that long");
      const { fake, client, retries } = setup(
        [fail(429, { "retry-after": date(5_000) }), { content: "ok" }],
        { retryBaseDelayMs: 1, maxRetryDelayMs: 60_000 },
      );
      const { result: err, pending } = await trackSrcTimers(() =>
        rejection(client.generate({ messages: USER, signal: controller.signal }, {
          onRetry: (info) => {
            retries.push(info);
            setTimeout(() => controller.abort(reason), 5);
          },
        }))
      );
      assert.equal(err, reason);
      assert.ok(
        retries[0]!.delayMs > 3_900 && retries[0]!.delayMs <= 5_000,
        `${retries[0]!.delayMs}`,
      );
      assert.equal(fake.chatRequests.length, 1);
      assert.equal(pending, 0, "the retry timer was cleared");
    }
  });

  test("connection refused is retried maxRetries times, then ConnectionError", async () => {
    const port = await closedPort();
    let calls = 0;
    const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      return fetch(input, init);
    }) as typeof fetch;
    const retries: RetryInfo[] = [];
    const client = new LMStudioClient({
      baseURL: `http://127.0.0.1:${port}/v1`,
      model: "m",
      fetch: counting,
      maxRetries: 3,
      retryBaseDelayMs: 1,
    });
    const err = assertInstance(
      await rejection(
        client.generate({ messages: USER }, { onRetry: (r) => void retries.push(r) }),
      ),
      ConnectionError,
    );
    assert.equal(calls, 4);
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2, 3]);
    for (const r of retries) {
      assert.equal(r.status, undefined);
      assertInstance(r.error, ConnectionError);
    }
    assert.match(err.message, /running/);
  });

  test("nothing is retried once the body is being read", async () => {
    // deno-lint-ignore no-explicit-any
    const faults: Array<[FakeReply, LMStudioClientOptions, new (...a: any[]) => Error]> = [
      [{ content: "a b c", disconnectAfterEvents: 2 }, {}, StreamError],
      [
        { content: "a b c", errorEvent: { message: "overloaded", type: "server_error" } },
        {},
        APIError,
      ],
      [{ content: "a b c", omitDone: true, finishReason: null }, {}, StreamError],
      [{ content: "a b c", stallAfterEvents: 1 }, { idleTimeoutMs: 30 }, ResponseTimeoutError],
    ];
    for (const [reply, options, cls] of faults) {
      const { fake, client, retries, onRetry } = setup([reply, { content: "second" }], {
        maxRetries: 3,
        ...options,
      });
      const { error, text } = await collect(client.stream({ messages: USER }, { onRetry }));
      assertInstance(error, cls);
      assert.ok(text.length > 0, "part of the answer had arrived");
      assert.equal(fake.chatRequests.length, 1, JSON.stringify(reply));
      assert.deepEqual(retries, []);
    }
  });

  test("a ResponseTimeoutError before the first byte is not retried", async () => {
    const { fake, client, retries, onRetry } = setup(
      [{ content: "x", firstByteDelayMs: 2_000 }, { content: "y" }],
      { timeoutMs: 20, maxRetries: 3 },
    );
    assertInstance(
      await rejection(client.generate({ messages: USER }, { onRetry })),
      ResponseTimeoutError,
    );
    assert.equal(fake.chatRequests.length, 1);
    assert.deepEqual(retries, []);
  });

  test("aborting during a retry delay rejects with the reason, promptly, sending nothing more", async () => {
    const controller = new AbortController();
    const reason = new Error("give up");
    const { fake, client } = setup([fail(503, { "retry-after": "30" }), { content: "x" }], {
      maxRetryDelayMs: 60_000,
    });
    setTimeout(() => controller.abort(reason), 30);
    const started = Date.now();
    const { result, pending } = await trackSrcTimers(() =>
      rejection(client.generate({ messages: USER, signal: controller.signal }))
    );
    assert.equal(result, reason);
    assert.ok(Date.now() - started < 500);
    assert.equal(fake.chatRequests.length, 1);
    assert.equal(pending, 0);
  });
});
