// Helpers shared by the client tests: env overrides, a leak detector for timers started by
// src/, fixture loading, instance assertions and observed clients. The async helpers
// (collect, rejection, sleep, eventually) are in async_kit.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { ChatMessage } from "../../src/chat.ts";
import { LMStudioClient, type LMStudioClientOptions } from "../../src/client.ts";
import type { FakeLMStudio } from "../../src/testing/fake_lmstudio.ts";

/** The smallest valid conversation. */
export const USER: ChatMessage[] = [{ role: "user", content: "hi" }];

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function getEnv(name: string): string | undefined {
  return g.Deno ? g.Deno.env.get(name) : g.process.env[name];
}

function setEnv(name: string, value: string | undefined): void {
  if (g.Deno) {
    if (value === undefined) g.Deno.env.delete(name);
    else g.Deno.env.set(name, value);
  } else if (value === undefined) {
    delete g.process.env[name];
  } else {
    g.process.env[name] = value;
  }
}

/**
 * Runs `fn` with the given environment variables set (`undefined` unsets), then restores
 * them. The client reads the environment in its constructor, so construct inside `fn`.
 */
export async function withEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => T | Promise<T>,
): Promise<T> {
  const saved = Object.keys(vars).map((k) => [k, getEnv(k)] as const);
  for (const [k, v] of Object.entries(vars)) setEnv(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) setEnv(k, v);
  }
}

/** The `LMSTUDIO_*` variables all unset, so ambient settings cannot leak into a test. */
export const NO_ENV = {
  LMSTUDIO_BASE_URL: undefined,
  LMSTUDIO_MODEL: undefined,
  LMSTUDIO_API_KEY: undefined,
};

/**
 * Runs `fn` and counts the timers that code under `src/` started meanwhile and has not
 * cleared or run once it settles. A timer still pending afterwards would keep the runtime
 * alive (or fire into a finished request), so tests assert `pending === 0`. Rethrows what
 * `fn` throws.
 *
 * `ignoreTestKit`: leave out timers of the test kit (`src/testing/`, the fake server), for
 * tests that leave a fake reply deliberately unfinished. `settleMs`: how long to let finally
 * blocks and cancel callbacks on later turns finish before counting.
 */
export async function trackSrcTimers<T>(
  fn: () => Promise<T>,
  { ignoreTestKit = false, settleMs = 5 } = {},
): Promise<{ result: T; pending: number }> {
  const fromSrcPattern = ignoreTestKit ? /[/\\]src[/\\](?!testing[/\\])/ : /[/\\]src[/\\]/;
  const origSet = g.setTimeout;
  const origClear = g.clearTimeout;
  const live = new Set<unknown>();
  g.setTimeout = (cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const fromSrc = fromSrcPattern.test(new Error().stack ?? "");
    // deno-lint-ignore prefer-const
    let handle: unknown;
    const wrapped = (...a: unknown[]) => {
      live.delete(handle);
      cb(...a);
    };
    handle = origSet(wrapped, ms, ...args);
    if (fromSrc) live.add(handle);
    return handle;
  };
  g.clearTimeout = (handle: unknown) => {
    live.delete(handle);
    return origClear(handle);
  };
  try {
    const result = await fn();
    await new Promise((r) => origSet(r, settleMs));
    return { result, pending: live.size };
  } finally {
    g.setTimeout = origSet;
    g.clearTimeout = origClear;
  }
}

/** Asserts `err` is an instance of `cls` and returns it typed. */
export function assertInstance<T>(
  err: unknown,
  // deno-lint-ignore no-explicit-any
  cls: abstract new (...args: any[]) => T,
): T {
  if (!(err instanceof cls)) {
    assert.fail(
      `expected ${cls.name}, got ${
        err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)
      }`,
    );
  }
  return err;
}

/** Reads `tests/fixtures/<name>` as bytes. */
export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
}

/**
 * A client (model "m") on `fake` that records what the test needs to see a request released:
 * whether the response body was cancelled, and the signal its fetch was given.
 */
export function observedClient(fake: FakeLMStudio, options: LMStudioClientOptions = {}) {
  const seen = { cancelled: false, signal: undefined as AbortSignal | undefined };
  const client = new LMStudioClient({
    model: "m",
    ...options,
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.signal = init?.signal ?? undefined;
      return observeBody(await fake.fetch(input, init), () => seen.cancelled = true);
    }) as typeof fetch,
  });
  return { client, seen };
}

/**
 * Wraps a response so the test sees when its body is cancelled (the client releasing the
 * connection). `onCancel` gets the cancel reason.
 */
export function observeBody(response: Response, onCancel: (reason: unknown) => void): Response {
  if (!response.body) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(err);
      }
    },
    cancel(reason) {
      onCancel(reason);
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
