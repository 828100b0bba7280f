// The context budget: the token estimator, the compaction (src/_context.ts) as properties, and
// the agent keeping prompts inside a small window against the fake LM Studio's enforced
// `contextLength` (LM Studio's and llama.cpp's overflow answers), on every protocol.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type ChatMessage,
  ContextOverflowError,
  defineTool,
  LMStudioClient,
} from "../mod.ts";
import { countPromptTokens, createFakeLMStudio, envelope, type FakeReply } from "../testing.ts";
import { compact, type HistoryUnit, TokenEstimator, utf8Length } from "../src/_context.ts";
import { createEnvelopeProtocol } from "../src/protocols/envelope.ts";
import { createNativeProtocol } from "../src/protocols/native.ts";
import type { ExecutedCall, ReplyProtocol } from "../src/protocols/_reply_protocol.ts";
import { describeTools } from "../src/tool_schema.ts";

const read = defineTool({
  name: "read",
  description: "Reads a page.",
  parameters: z.object({ page: z.number() }),
  execute: ({ page }) => `page ${page}: ${"lorem ipsum dolor sit amet ".repeat(16)}`,
});
const described = describeTools([read]);

function protocolFor(name: "envelope" | "native"): ReplyProtocol {
  return name === "native"
    ? createNativeProtocol({ tools: described })
    : createEnvelopeProtocol({ model: {}, tools: described, responseFormat: false });
}

/** A run's history: the request, then one tool step per result (as the loop records them). */
function buildRun(protocol: ReplyProtocol, results: readonly string[]) {
  const history: ChatMessage[] = [{ role: "user", content: "Summarize the book." }];
  const units: HistoryUnit[] = [];
  results.forEach((output, i) => {
    const step = i + 1;
    const call: ExecutedCall = {
      call: { id: `c${step}`, name: "read", args: { page: step } },
      callId: `c${step}`,
      outcome: {
        ok: true,
        tool: "read",
        args: { page: step },
        value: output,
        output,
        durationMs: 1,
      },
    };
    const reply = {
      text: "",
      toolCalls: [{
        id: `c${step}`,
        type: "function" as const,
        function: { name: "read", arguments: JSON.stringify({ page: step }) },
      }],
    };
    const turn = protocol.toolTurn(reply, [call]);
    units.push({
      at: history.length,
      count: turn.length,
      step,
      tools: { reply, calls: [call] },
      level: 0,
    });
    history.push(...turn);
  });
  return { history, units, render: protocol.toolTurn.bind(protocol) };
}

describe("TokenEstimator", () => {
  test("counts UTF-8 bytes (ASCII, CJK, emoji) without encoding", () => {
    for (const text of ["hello", "日本語", "👩‍👩‍👧", "é", "a\u{10ffff}b", ""]) {
      assert.equal(utf8Length(text), new TextEncoder().encode(text).length, text);
    }
  });

  test("starts conservative, then calibrates on the server's count", () => {
    const estimator = new TokenEstimator();
    const messages: ChatMessage[] = [{ role: "user", content: "x".repeat(4000) }];
    const bytes = estimator.bytes(messages);
    // 4000 ASCII characters are about 1000 tokens; uncalibrated it counts more, never less.
    assert.ok(estimator.tokens(bytes) > 1000);
    assert.equal(estimator.calibrated, false);
    estimator.calibrate(bytes, 1000);
    assert.equal(estimator.calibrated, true);
    // Calibrated with a 10% margin toward over-counting.
    const calibrated = estimator.tokens(bytes);
    assert.ok(calibrated >= 1000 && calibrated <= 1120, String(calibrated));
  });
});

describe("compact()", () => {
  for (const name of ["envelope", "native"] as const) {
    test(`${name}: nothing changes when the prompt fits`, () => {
      const { history, units, render } = buildRun(protocolFor(name), ["a", "b"]);
      const before = structuredClone(history);
      assert.equal(compact(history, units, render, new TokenEstimator(), 100, 10_000), undefined);
      assert.deepEqual(history, before);
    });

    test(`${name}: clips the largest old result first, then summarizes, then drops, oldest first`, () => {
      const protocol = protocolFor(name);
      const big = "B".repeat(6000);
      const run = buildRun(protocol, ["small result", big, "x".repeat(2000), "latest"]);
      const estimator = new TokenEstimator();
      const total = estimator.tokens(estimator.bytes(run.history, 0));
      // Just too much: clipping the big one is enough.
      const done = compact(run.history, run.units, run.render, estimator, 0, total - 500)!;
      assert.ok(done.after <= total - 500);
      assert.equal(done.removed.length, 1);
      assert.match(
        done.removed[0]!,
        /^step 2: clipped the "read" result from 6000 to \d+ characters$/,
      );
      const text = JSON.stringify(run.history);
      assert.ok(text.includes("small result") && text.includes("latest"));
      assert.match(text, /characters removed to fit the context window/);

      // Much less room: steps are summarized, oldest first, then dropped.
      const tight = buildRun(protocol, [
        "r1 ".repeat(300),
        "r2 ".repeat(300),
        "r3 ".repeat(300),
        "latest",
      ]);
      const t0 = estimator.tokens(estimator.bytes(tight.history, 0));
      const hard = compact(
        tight.history,
        tight.units,
        tight.render,
        estimator,
        0,
        Math.floor(t0 / 4),
      )!;
      assert.ok(
        hard.removed.some((line) => /step 1: replaced the result of read/.test(line)),
        String(hard.removed),
      );
      assert.equal(tight.history[0]!.content, "Summarize the book.");
      assert.ok(JSON.stringify(tight.history.slice(-2)).includes("latest"));
    });
  }

  test("property: the request and the latest step survive; it fits whenever it can; it is deterministic", () => {
    const result = fc.oneof(
      fc.string({ maxLength: 50 }),
      fc.nat(8000).map((n) => "word ".repeat(n / 5)),
      fc.string({ unit: "grapheme", maxLength: 400 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom("envelope" as const, "native" as const),
        fc.array(result, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 50, max: 6000 }),
        fc.nat(2000),
        (name, results, limit, fixedBytes) => {
          const protocol = protocolFor(name);
          const a = buildRun(protocol, results);
          const b = buildRun(protocol, results);
          const estimator = new TokenEstimator();
          const latestStep = a.units.at(-1)!;
          const latestTurn = a.history.slice(latestStep.at);
          const doneA = compact(a.history, a.units, a.render, estimator, fixedBytes, limit);
          const doneB = compact(b.history, b.units, b.render, estimator, fixedBytes, limit);
          // Deterministic.
          assert.deepEqual(a.history, b.history);
          assert.deepEqual(doneA, doneB);
          // The request is untouched and stays first.
          assert.deepEqual(a.history[0], { role: "user", content: "Summarize the book." });
          // The latest step keeps its messages' roles and calls; its result is only clipped
          // (never dropped or summarized), and only when nothing else was left to cut.
          const now = a.history.slice(latestStep.at);
          assert.deepEqual(now.map((m) => m.role), latestTurn.map((m) => m.role));
          assert.deepEqual(now.map((m) => m.tool_calls), latestTurn.map((m) => m.tool_calls));
          assert.ok(!JSON.stringify(now).includes("result removed"));
          const minimal = buildRun(protocol, [results.at(-1)!.slice(0, 200)]);
          const floor = estimator.tokens(estimator.bytes(minimal.history, fixedBytes));
          if (doneA) {
            // It fits whenever even the minimal prompt (request + a 200-character latest
            // result) would.
            if (floor + 40 <= limit) assert.ok(doneA.after <= limit, `${doneA.after} > ${limit}`);
          } else {
            assert.ok(estimator.tokens(estimator.bytes(a.history, fixedBytes)) <= limit);
          }
        },
      ),
      { seed: 0xc0de, numRuns: 300 },
    );
  });
});

// ---- the agent against a fake LM Studio with a small window ------------------------------------

function agentOn(
  replies: readonly FakeReply[] | ((request: unknown, index: number) => FakeReply),
  fakeOptions: Parameters<typeof createFakeLMStudio>[0] = {},
  options: AgentOptions = {},
) {
  const fake = createFakeLMStudio({ replies: replies as never, ...fakeOptions });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "fake-model", maxRetries: 0 });
  const events: AgentEvent[] = [];
  const agent = new Agent({ client, tools: [read], onEvent: (e) => events.push(e), ...options });
  return { fake, client, agent, events };
}

/** Ten tool steps, then an answer: far more than a 1024-token window holds uncompacted. */
const tenSteps = (protocol: "envelope" | "native") => (_: unknown, i: number): FakeReply =>
  i < 10
    ? protocol === "native"
      ? { toolCalls: [{ name: "read", arguments: { page: i + 1 } }] }
      : envelope.toolCall("read", { page: i + 1 })
    : protocol === "native"
    ? { content: "The book is about lorem ipsum." }
    : envelope.final("The book is about lorem ipsum.");

describe("the agent keeps every prompt inside the loaded window", () => {
  for (const protocol of ["envelope", "native"] as const) {
    for (const [overflow, window] of [["lmstudio", 1024], ["llamacpp", 2048]] as const) {
      test(`${protocol} (${overflow}): ten steps in a ${window}-token window end with the answer`, async () => {
        const { fake, agent, events } = agentOn(tenSteps(protocol), {
          contextLength: window,
          overflow,
        }, { protocol, maxSteps: 12 });
        const result = await agent.run("Summarize the book.");
        assert.equal(result.text, "The book is about lorem ipsum.");
        assert.equal(result.stopReason, "final");
        assert.equal(fake.chatRequests.length, 11, "no request was refused");
        for (const request of fake.chatRequests) {
          assert.ok(countPromptTokens(request.body!) <= window, "inside the window");
        }
        const compactions = events.filter((e) => e.type === "context_compacted");
        assert.ok(compactions.length >= 1);
        // Rarely, where the window leaves room for it: it compacts to well below the limit, so
        // most steps need none. (In 1024 tokens one step barely fits beside the system prompt.)
        if (window === 2048) {
          assert.ok(compactions.length <= 4, `${compactions.length} compactions`);
        }
        for (const e of compactions) {
          assert.ok(e.type === "context_compacted");
          assert.equal(e.contextLength, window);
          assert.ok(e.after < e.before && e.removed.length > 0);
        }
        // The request and the system prompt were never touched.
        for (const request of fake.chatRequests) {
          const messages = request.body!.messages;
          assert.equal(messages[0]!.role, "system");
          assert.equal(messages[0]!.content, agent.systemPrompt);
          assert.deepEqual(messages[1], { role: "user", content: "Summarize the book." });
        }
      });
    }
  }

  test("the window comes from the server: loading the model with a larger one needs no compaction", async () => {
    const { client, agent, events } = agentOn(tenSteps("envelope"), { contextLength: 1024 }, {
      maxSteps: 12,
    });
    const info = await client.modelInfo();
    assert.equal(info.contextLength, 1024);
    await client.unloadModel(info.instanceId!);
    await client.loadModel("fake-model", { contextLength: 65_536 });
    assert.equal((await client.modelInfo(undefined, { refresh: true })).contextLength, 65_536);
    assert.equal((await agent.run("Summarize the book.")).stopReason, "final");
    assert.ok(!events.some((e) => e.type === "context_compacted"));
  });

  test("contextLength set by hand wins over the server; contextBudget: false turns it off", async () => {
    const hand = agentOn(tenSteps("envelope"), {}, { contextLength: 1024, maxSteps: 12 });
    await hand.agent.run("Summarize the book.");
    assert.ok(hand.events.some((e) => e.type === "context_compacted"));

    const off = agentOn(tenSteps("envelope"), { contextLength: 1024 }, {
      contextBudget: false,
      maxSteps: 12,
    });
    const err = await off.agent.run("Summarize the book.").catch((e) => e);
    assert.ok(err instanceof ContextOverflowError, String(err));
    assert.equal(err.contextLength, 1024);
    assert.ok(!off.events.some((e) => e.type === "context_compacted"));
  });

  for (const overflow of ["lmstudio", "llamacpp"] as const) {
    test(`window unknown (${overflow}): the server's overflow tells it; compacted, retried, answered`, async () => {
      // No native model API: the agent cannot know the window until the server refuses.
      const { fake, agent, events } = agentOn(tenSteps("envelope"), {
        contextLength: 1024,
        nativeApi: false,
        overflow,
      }, { maxSteps: 12 });
      const result = await agent.run("Summarize the book.");
      assert.equal(result.text, "The book is about lorem ipsum.");
      const refused = fake.chatRequests.filter((r) => countPromptTokens(r.body!) > 1024);
      assert.equal(refused.length, 1, "refused once; from then on the window is known");
      assert.equal(fake.chatRequests.length, 12, "ten steps, the answer, one retried call");
      const compactions = events.filter((e) => e.type === "context_compacted");
      assert.ok(compactions.length >= 1);
      assert.ok(
        compactions.every((e) => e.type === "context_compacted" && e.contextLength === 1024),
      );
    });
  }

  test("a prompt that cannot fit at all: ContextOverflowError with the numbers and a hint", async () => {
    const huge = "You are a careful assistant. ".repeat(400); // ~3000 tokens of instructions
    const { fake, agent } = agentOn([envelope.final("never")], { contextLength: 512 }, {
      instructions: huge,
    });
    const err = await agent.run("hi").catch((e) => e);
    assert.ok(err instanceof ContextOverflowError, String(err));
    assert.equal(err.contextLength, 512);
    assert.ok(err.promptTokens! > 512);
    assert.match(err.message, /loadModel\(model, \{ contextLength/);
    assert.match(err.message, /max_tokens/);
    // Certain before sending (even the most optimistic count is over), or refused by the server.
    assert.ok(fake.chatRequests.length <= 1);
  });
});
