// Aborts at random points, over a real loopback socket: before the run starts, while waiting
// for the response, mid-stream (also from inside an event listener), during a retry delay,
// while a tool runs (one that honours its signal and one that ignores it), during paced chunk
// emission and in live mode. Every run must settle promptly with exactly the abort reason,
// the tool must see its signal aborted, no unhandled rejection may fire, no timer started by
// src/ may stay pending, and the file must end by itself (node --test would hang otherwise).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import { Agent, type AgentEvent, defineTool, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";
import { serve, type Served } from "./_kit/serve.ts";
import { isLong, recordUnhandledRejections } from "./_kit/reliability_kit.ts";
import { trackSrcTimers } from "./_kit/client_kit.ts";

const unhandled = recordUnhandledRejections();

// Timers of src/ but not of the fake server (src/testing/), counted 10 ms after each run.
const TIMERS = { ignoreTestKit: true, settleMs: 10 };

const final = (content: string) => JSON.stringify({ type: "final", content });
const callTool = (tool: string) => JSON.stringify({ type: "tool_call", tool, arguments: {} });
const WORDS = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");

const POINTS = [
  "before-start",
  "before-response",
  "mid-stream-listener",
  "stalled-stream",
  "retry-delay",
  "tool-honours-signal",
  "tool-ignores-signal",
  "chunk-emission",
  "live-answer",
] as const;
type Point = typeof POINTS[number];

type Api = "run" | "stream" | "readable";

type ReasonKind = "error" | "string" | "dom" | "default" | "object";

function makeReason(kind: ReasonKind, i: number): unknown {
  switch (kind) {
    case "error":
      return new Error(`stop #${i}`);
    case "string":
      return `stop #${i}`;
    case "dom":
      return new DOMException(`stop #${i}`, "AbortError");
    case "object":
      return { stop: i };
    case "default":
      return undefined; // controller.abort() picks its own DOMException
  }
}

/** The script the fake server answers with, for each abort point. */
function script(point: Point): FakeReply[] {
  switch (point) {
    case "before-start":
      return [{ content: final("never") }];
    case "before-response":
      return [{ content: final("never"), firstByteDelayMs: 30_000 }];
    case "mid-stream-listener":
      return [{ content: final(WORDS), delayMs: 1 }];
    case "stalled-stream":
      return [{ content: final(WORDS), stallAfterEvents: 4 }];
    case "retry-delay":
      return [{ status: 503, body: { error: "busy" }, headers: { "retry-after": "30" } }];
    case "tool-honours-signal":
      return [{ content: callTool("wait") }, { content: final("never") }];
    case "tool-ignores-signal":
      return [{ content: callTool("stubborn") }, { content: final("never") }];
    case "chunk-emission":
      return [{ content: final(WORDS) }];
    case "live-answer":
      return [{ content: final(WORDS), delayMs: 2 }];
  }
}

interface Scenario {
  point: Point;
  api: Api;
  reason: ReasonKind;
  waitMs: number;
  nth: number;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  point: fc.constantFrom<Point>(...POINTS),
  api: fc.constantFrom<Api>("run", "stream", "readable"),
  reason: fc.constantFrom<ReasonKind>("error", "string", "dom", "default", "object"),
  waitMs: fc.integer({ min: 0, max: 12 }),
  nth: fc.integer({ min: 1, max: 6 }),
}).map((s) =>
  // Chunks are only emitted one by one by the streaming APIs.
  (s.point === "chunk-emission" || s.point === "live-answer") && s.api === "run"
    ? { ...s, api: "stream" as const }
    : s
);

let server: Served;
/** A chat request as the server saw it: `gone` once the client went away. */
interface Seen {
  gone: boolean;
}
let current: { replies: FakeReply[]; requests: Seen[] } = { replies: [], requests: [] };
const fake = createFakeLMStudio({
  replies: (_req, index) => current.replies[index - replyBase] ?? { content: final("extra") },
});
let replyBase = 0;

/**
 * The server notices a client going away through `request.signal` or, once the response
 * streams, through its body being cancelled. (Deno.serve does not abort `request.signal` when a
 * client with a request body over ~1 kB disconnects before the response starts, so on Deno
 * only the second is observable.)
 */
async function ensureServer(): Promise<Served> {
  server ??= await serve(async (request) => {
    if (request.method !== "POST") return fake.handler(request);
    const seen: Seen = { gone: false };
    current.requests.push(seen);
    request.signal.addEventListener("abort", () => seen.gone = true, { once: true });
    const response = await fake.handler(request);
    if (!response.body) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        seen.gone = true;
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  });
  return server;
}

const denoServer = "Deno" in globalThis;

async function allGone(): Promise<boolean> {
  const deadline = Date.now() + 2_000;
  while (current.requests.some((r) => !r.gone) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return current.requests.every((r) => r.gone);
}

/** Runs one scenario; returns a description of what went wrong, or undefined. */
async function runScenario(s: Scenario, i: number): Promise<void> {
  const srv = await ensureServer();
  replyBase = fake.chatRequests.length;
  current = { replies: script(s.point), requests: [] };
  const controller = new AbortController();
  const reasonValue = makeReason(s.reason, i);
  let abortedAt = 0;
  const abort = () => {
    if (controller.signal.aborted) return;
    abortedAt = performance.now();
    if (s.reason === "default") controller.abort();
    else controller.abort(reasonValue);
  };
  const later = (ms: number) => setTimeout(abort, ms);

  const toolSignals: AbortSignal[] = [];
  const wait = defineTool({
    name: "wait",
    description: "Waits until aborted.",
    parameters: z.object({}),
    execute: (_args, { signal }) => {
      toolSignals.push(signal);
      later(s.waitMs);
      return new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(new Error("tool stopped")), { once: true });
      });
    },
  });
  const stubborn = defineTool({
    name: "stubborn",
    description: "Never finishes and ignores its signal.",
    parameters: z.object({}),
    execute: (_args, { signal }) => {
      toolSignals.push(signal);
      later(s.waitMs);
      return new Promise(() => {});
    },
  });

  const client = new LMStudioClient({
    baseURL: srv.baseURL,
    model: "m",
    maxRetries: 2,
    retryBaseDelayMs: 1,
    maxRetryDelayMs: 60_000,
  });
  const agent = new Agent({
    client,
    tools: [wait, stubborn],
    chunkDelayMs: s.point === "chunk-emission" ? 3 : 0,
    live: s.point === "live-answer",
  });

  let deltas = 0;
  const onEvent = (e: AgentEvent) => {
    if (s.point === "mid-stream-listener" && e.type === "model_delta" && ++deltas === s.nth) {
      abort(); // from inside the run's own event dispatch
    }
    if (s.point === "stalled-stream" && e.type === "model_delta" && deltas++ === 0) later(s.waitMs);
    if (s.point === "retry-delay" && e.type === "model_retry") later(s.waitMs);
  };

  if (s.point === "before-start") abort();
  if (s.point === "before-response") later(s.waitMs + 5);

  let chunks = 0;
  const onChunk = () => {
    if ((s.point === "chunk-emission" || s.point === "live-answer") && ++chunks === s.nth) {
      if (s.waitMs % 2) abort();
      else later(s.waitMs);
    }
  };

  const settled = (async () => {
    const options = { signal: controller.signal, onEvent };
    if (s.api === "run") return await agent.run("go", options);
    const stream = agent.stream("go", options);
    if (s.api === "stream") {
      for await (const _ of stream) onChunk();
      return await stream.result;
    }
    const reader = stream.toReadableStream().getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      onChunk();
    }
    return await stream.result;
  })();

  let error: unknown;
  let resolved = false;
  try {
    await settled;
    resolved = true;
  } catch (err) {
    error = err;
  }
  const settleMs = performance.now() - abortedAt;
  const where = JSON.stringify(s);

  assert.ok(!resolved, `${where}: the run resolved instead of rejecting`);
  assert.ok(controller.signal.aborted, `${where}: the abort never happened`);
  assert.equal(error, controller.signal.reason, `${where}: rejected with ${String(error)}`);
  assert.ok(settleMs < 2_000, `${where}: settled ${settleMs.toFixed(0)} ms after the abort`);

  if (s.point === "tool-honours-signal" || s.point === "tool-ignores-signal") {
    assert.equal(toolSignals.length, 1, `${where}: the tool ran once`);
    assert.ok(toolSignals[0]!.aborted, `${where}: the tool's signal was aborted`);
    assert.equal(toolSignals[0]!.reason, controller.signal.reason);
  }
  if (s.point === "before-start") {
    assert.equal(current.requests.length, 0, `${where}: nothing was sent`);
  }
  // A request still waiting on the server is cancelled there too (not left open).
  if (s.point === "stalled-stream" || (s.point === "before-response" && !denoServer)) {
    assert.ok(await allGone(), `${where}: the server's request was not cancelled`);
  }
}

describe("aborts at random points", () => {
  test("every run settles promptly with exactly the abort reason, leaving no src timer", {
    timeout: 300_000,
  }, async () => {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const n = ++i;
        const { pending: left } = await trackSrcTimers(() => runScenario(s, n), TIMERS);
        assert.equal(left, 0, `${JSON.stringify(s)}: ${left} timer(s) from src/ left pending`);
        assert.deepEqual(unhandled.reasons, [], "no unhandled rejection");
      }),
      { seed: 0xab0_7ed, numRuns: isLong() ? 500 : 100, endOnFailure: true },
    );
  });

  test("every abort point at least once, with each API", { timeout: 120_000 }, async () => {
    let n = 1000;
    for (const point of POINTS) {
      for (const api of ["run", "stream", "readable"] as const) {
        if ((point === "chunk-emission" || point === "live-answer") && api === "run") continue;
        const s: Scenario = { point, api, reason: "error", waitMs: 3, nth: 2 };
        const { pending: left } = await trackSrcTimers(() => runScenario(s, ++n), TIMERS);
        assert.equal(left, 0, `${JSON.stringify(s)}: timers left`);
      }
    }
  });

  test("breaking out of agent.stream() stops the tool and the request, rejecting result", async () => {
    const srv = await ensureServer();
    replyBase = fake.chatRequests.length;
    current = {
      replies: [{ content: final(WORDS), chunkBytes: 5, delayMs: 1 }],
      requests: [],
    };
    const agent = new Agent({
      client: new LMStudioClient({ baseURL: srv.baseURL, model: "m" }),
      live: true,
    });
    const stream = agent.stream("go");
    let seen = 0;
    for await (const _ of stream) if (++seen === 2) break;
    await assert.rejects(stream.result, (e: unknown) => (e as Error).name === "AbortError");
    assert.ok(await allGone(), "the request was cancelled");
  });

  test("no unhandled rejection fired during the whole file (then the server closes)", async () => {
    // Give stray rejections a few turns to surface.
    await new Promise((r) => setTimeout(r, 50));
    await server?.close();
    assert.deepEqual(unhandled.reasons, []);
  });
});
