// Load: many agent.stream() runs against a fake LM Studio on a loopback socket, all sharing one
// client. Each run is a three-step tool conversation with its own script (the fake answers
// from the content of each request), so any cross-talk between runs shows up as a wrong
// answer. Then many sequential runs with the heap measured before and after.
//
// Defaults keep CI fast: N=50 concurrent, M=300 sequential. ORCH_LONG=1 runs N=200, M=2000; LOAD_N
// and LOAD_M override either. Throughput and heap figures are printed with console.log.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import { Agent, type AgentEvent, defineTool, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio, type FakeReply, type RecordedRequest } from "../testing.ts";
import { runtime, serve } from "./_kit/serve.ts";
import { envInt, findGc, heapUsed, isLong } from "./_kit/reliability_kit.ts";

const N = envInt("LOAD_N", isLong() ? 200 : 50);
const M = envInt("LOAD_M", isLong() ? 2000 : 300);
/** Allowed heap growth over the M sequential runs, after a full GC on both ends. */
const MAX_GROWTH_BYTES = 8 * 1024 * 1024;

/** Per-test limit (bun test defaults to 5 s). */
const LONG_TIMEOUT = 600_000;

const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

// The protocol of the scripted conversation: run k looks up its key, combines the value, then
// answers. The markers carry k through the tool results, so a result delivered to the wrong
// conversation produces a wrong final answer.
const lookupOutput = (k: number) => `<<L${k}:${k * 7}>>`;
const combineOutput = (k: number, value: number) => `<<C${k}:${value + 1}>>`;
const expectedAnswer = (k: number) => `Run ${k} → ${combineOutput(k, k * 7)} ✓ (Grüße, 👨‍👩‍👧, ok)`;

/** What the fake model says, derived only from the request it receives. */
function reply(request: RecordedRequest): FakeReply {
  const messages = (request.body?.messages ?? []) as { role: string; content: string | null }[];
  const prompt = messages.find((m) => m.role === "user")?.content ?? "";
  const k = Number(/^run (\d+)$/.exec(prompt)?.[1]);
  if (!Number.isInteger(k)) return { status: 400, body: { error: `bad prompt ${prompt}` } };
  const assistantTurns = messages.filter((m) => m.role === "assistant").length;
  const last = messages.at(-1)?.content ?? "";
  // Vary the framing per run and step: byte splits, CRLF, comments, flavors.
  const framing: Partial<FakeReply> = {
    chunkBytes: k % 3 === 0 ? "random" : k % 3 === 1 ? 16 : undefined,
    seed: k + assistantTurns,
    crlf: k % 2 === 0,
    comments: k % 5 === 0,
    flavor: (["lmstudio", "openai", "llamacpp"] as const)[k % 3],
  };
  if (assistantTurns === 0) {
    return {
      ...framing,
      content: JSON.stringify({ type: "tool_call", tool: "lookup", arguments: { key: k } }),
    };
  }
  if (assistantTurns === 1) {
    const m = /<<L(\d+):(\d+)>>/.exec(last);
    return {
      ...framing,
      content: JSON.stringify({
        type: "tool_call",
        tool: "combine",
        arguments: { run: Number(m?.[1] ?? -1), value: Number(m?.[2] ?? -1) },
      }),
    };
  }
  const m = /<<C(\d+):(\d+)>>/.exec(last);
  const answer = m
    ? `Run ${k} → <<C${m[1]}:${m[2]}>> ✓ (Grüße, 👨‍👩‍👧, ok)`
    : `Run ${k}: lost the tool result`;
  return { ...framing, content: JSON.stringify({ type: "final", content: answer }) };
}

async function setup() {
  const fake = createFakeLMStudio({ replies: (request) => reply(request) });
  const server = await serve(fake.handler);
  const lookup = defineTool({
    name: "lookup",
    description: "Looks a key up.",
    parameters: z.object({ key: z.number().int() }),
    execute: async ({ key }) => {
      await Promise.resolve();
      return lookupOutput(key);
    },
  });
  const combine = defineTool({
    name: "combine",
    description: "Combines a looked-up value.",
    parameters: z.object({ run: z.number().int(), value: z.number().int() }),
    execute: ({ run, value }) => combineOutput(run, value),
  });
  const client = new LMStudioClient({ baseURL: server.baseURL, model: "m", timeoutMs: 60_000 });
  const agent = new Agent({ client, tools: [lookup, combine], chunking: "word" });
  return { fake, server, agent };
}

/** One run through agent.stream(); returns the streamed text and the result. */
async function oneRun(agent: Agent, k: number, onEvent?: (e: AgentEvent) => void) {
  const stream = agent.stream(`run ${k}`, { onEvent });
  const parts: string[] = [];
  let finals = 0;
  for await (const chunk of stream) {
    parts.push(chunk.text);
    if (chunk.isFinal) finals++;
  }
  const result = await stream.result;
  return { text: parts.join(""), finals, result };
}

describe("load", () => {
  test(`${N} concurrent agent.stream() runs on one client each get exactly their own answer`, {
    timeout: LONG_TIMEOUT,
  }, async () => {
    const { fake, server, agent } = await setup();
    try {
      const retries: AgentEvent[] = [];
      const onEvent = (e: AgentEvent) => {
        if (e.type === "model_retry" || e.type === "protocol_retry" || e.type === "tool_error") {
          retries.push(e);
        }
      };
      const started = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: N }, (_, k) => oneRun(agent, k, onEvent)),
      );
      const seconds = (performance.now() - started) / 1000;
      outcomes.forEach(({ text, finals, result }, k) => {
        assert.equal(text, expectedAnswer(k), `run ${k}`);
        assert.equal(result.text, expectedAnswer(k));
        assert.equal(finals, 1);
        assert.equal(result.steps, 3);
        assert.equal(result.stopReason, "final");
        // Its own conversation: the user prompt, two tool round trips, the answer.
        assert.equal(result.messages[0]!.content, `run ${k}`);
        assert.equal(result.messages.length, 6);
      });
      assert.deepEqual(retries, [], "no retries, protocol corrections or tool errors");
      assert.equal(fake.chatRequests.length, 3 * N);
      console.log(
        `[load] ${runtime}: ${N} concurrent runs (${3 * N} requests) in ${seconds.toFixed(2)} s ` +
          `→ ${(N / seconds).toFixed(0)} runs/s`,
      );
    } finally {
      await server.close();
    }
  });

  test(`${M} sequential runs: the heap does not grow beyond a small bound`, {
    timeout: LONG_TIMEOUT,
  }, async () => {
    const { fake, server, agent } = await setup();
    try {
      const gc = await findGc();
      // Warm up (JIT, connection pool, lazy module state) before the baseline.
      for (let k = 0; k < 50; k++) await oneRun(agent, k);
      fake.requests.length = 0; // the fake records requests; keep only the library's memory
      gc?.();
      const before = heapUsed();
      let peak = before ?? 0;
      const started = performance.now();
      for (let k = 0; k < M; k++) {
        const { text } = await oneRun(agent, k);
        if (text !== expectedAnswer(k)) assert.equal(text, expectedAnswer(k), `run ${k}`);
        fake.requests.length = 0;
        if (k % 10 === 0) peak = Math.max(peak, heapUsed() ?? 0);
      }
      const seconds = (performance.now() - started) / 1000;
      gc?.();
      const after = heapUsed();
      peak = Math.max(peak, after ?? 0);
      const rate = `${M} sequential runs in ${seconds.toFixed(2)} s → ${
        (M / seconds).toFixed(0)
      } runs/s`;
      if (before === undefined || after === undefined) {
        console.log(`[load] ${runtime}: ${rate}; no heap API on this runtime: heap bound skipped`);
        return;
      }
      const growth = after - before;
      console.log(
        `[load] ${runtime}: ${rate}; heap before ${MB(before)}, after ${MB(after)}, growth ` +
          `${MB(growth)}, peak ${MB(peak)}${gc ? "" : " (no GC available: bound skipped)"}`,
      );
      if (!gc) return; // without a forced GC the numbers include garbage: no bound to check
      assert.ok(
        growth < MAX_GROWTH_BYTES,
        `heap grew by ${MB(growth)} over ${M} runs (bound ${MB(MAX_GROWTH_BYTES)})`,
      );
    } finally {
      await server.close();
    }
  });
});
