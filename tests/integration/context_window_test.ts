// The context budget against a real llama.cpp server with a small window:
// `npm run test:integration` starts a second llama-server with `-c 768` (512 tokens a slot)
// and runs this file against it with PEER_CONTEXT=512. modelInfo() must report the loaded
// window; a ten-step tool run must end with an answer or the max-steps fallback, never an
// overflow; a prompt that cannot fit must be a ContextOverflowError with the numbers. The
// server's own `timings` (prompt_n: tokens evaluated, cache_n: reused from the KV cache) show
// what compaction costs the prompt cache; the ratios are printed for the record.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  ContextOverflowError,
  defineTool,
  LMStudioClient,
  ProtocolError,
} from "../../mod.ts";
import { BASE_URL, env, skipWithoutServer, SLOW } from "./_kit.ts";
import { buildResponseFormat } from "../../src/protocols/_response_format.ts";
import { describeTools } from "../../src/tool_schema.ts";

const WINDOW = Number(env("PEER_CONTEXT") ?? 0);

/** Two tools whose results are about 400 characters, as in the report that filed this. */
const search = defineTool({
  name: "search",
  description: "Search the notes for a query and return the matching passage.",
  parameters: z.object({ query: z.string() }),
  execute: ({ query }) =>
    `Passage for ${query.slice(0, 20)}: ${"the tiny model writes gibberish words. ".repeat(10)}`,
});
const page = defineTool({
  name: "page",
  description: "Return one page of the book.",
  parameters: z.object({ number: z.number() }),
  execute: ({ number }) =>
    `Page ${number}: ${"lorem ipsum dolor sit amet, consectetur. ".repeat(9)}`,
});

interface Timings {
  prompt_n: number;
  cache_n: number;
}

/**
 * The real fetch, keeping each chat reply's `timings` (in the last SSE chunk) and the HTTP
 * status of every chat request. The body is read as it passes to the client: the client
 * aborts its request once the stream is done, so a second reader (a tee) would be cut off.
 */
function timingFetch(timings: Timings[], statuses: number[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith("/chat/completions")) return response;
    statuses.push(response.status);
    if (!response.body) return response;
    const decoder = new TextDecoder();
    let text = "";
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          text += decoder.decode(chunk, { stream: true });
          const found = text.match(/"timings":(\{[^}]*\})/);
          if (found) {
            timings.push(JSON.parse(found[1]!) as Timings);
            text = "";
          }
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, response);
  }) as typeof fetch;
}

/**
 * The envelope grammar with only the tool-call branches of `tools`: every reply (the
 * max-steps fallback's too, as `extra` overrides the agent's own format) is a tool call, so a
 * run takes all its steps and the history grows far past the window, deterministically.
 */
function callsOnly(tools: Parameters<typeof describeTools>[0]) {
  const format = buildResponseFormat(describeTools(tools));
  if (format.type !== "json_schema") throw new Error("expected a json_schema format");
  const schema = format.json_schema.schema as { anyOf: unknown[] };
  return {
    ...format,
    json_schema: { ...format.json_schema, schema: { anyOf: schema.anyOf.slice(1) } },
  };
}

function makeAgent(options: AgentOptions = {}) {
  const timings: Timings[] = [];
  const statuses: number[] = [];
  const events: AgentEvent[] = [];
  const client = new LMStudioClient({ fetch: timingFetch(timings, statuses) });
  const agent = new Agent({
    client,
    tools: [search, page],
    maxSteps: 10,
    params: { temperature: 0, max_tokens: 96 },
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { client, agent, timings, statuses, events };
}

/**
 * Tokens evaluated over the run ÷ the final prompt (evaluated + reused at the last call). The
 * first call's reused tokens count as evaluated: they were cached by an earlier test's run (the
 * same system prompt), and a cold start would have evaluated them. Append-only history: 1.00.
 */
function cacheRatio(timings: readonly Timings[]): number {
  const evaluated = timings[0]!.cache_n + timings.reduce((n, t) => n + t.prompt_n, 0);
  const last = timings.at(-1)!;
  return evaluated / (last.prompt_n + last.cache_n);
}

if (!BASE_URL) {
  skipWithoutServer("context window");
} else if (!WINDOW) {
  test("context window: skipped (PEER_CONTEXT is not set; the small-window pass sets it)", {
    skip: "runs in the small-window pass of npm run test:integration",
  }, () => {});
} else {
  describe(`a real llama.cpp server with a ${WINDOW}-token window`, () => {
    test("modelInfo() reports the loaded window", async () => {
      const info = await new LMStudioClient().modelInfo();
      assert.equal(info.contextLength, WINDOW);
      assert.equal(info.source, "llama.cpp");
    });

    test(
      "a ten-step tool run ends with the max-steps fallback, never an overflow",
      SLOW,
      async () => {
        const { agent, timings, statuses, events } = makeAgent({
          params: { temperature: 0, max_tokens: 96, extra: { response_format: callsOnly([page]) } },
        });
        const result = await agent.run("Read the first ten pages and summarize them.");
        assert.equal(result.stopReason, "max_steps");
        assert.ok(statuses.every((s) => s === 200), `statuses ${statuses}`);
        const calls = events.filter((e) => e.type === "tool_call").length;
        assert.ok(calls >= 10, `${calls} tool calls`);
        const compactions = events.filter((e) => e.type === "context_compacted");
        assert.ok(compactions.length >= 1);
        for (const t of timings) assert.ok(t.prompt_n + t.cache_n <= WINDOW, JSON.stringify(t));
        console.log(
          `timings (evaluated+reused): ${
            timings.map((t) => `${t.prompt_n}+${t.cache_n}`).join(" ")
          }`,
        );
        console.log(
          `context window ${WINDOW}: 10-step run, ${compactions.length} compactions, ` +
            `${timings.length} calls, prompt tokens evaluated ÷ final prompt = ${
              cacheRatio(timings).toFixed(2)
            }`,
        );
      },
    );

    for (const seed of [1, 2, 3]) {
      test(
        `envelope (json_schema), sampled with seed ${seed}: an answer or the fallback, never an overflow`,
        SLOW,
        async () => {
          const { agent, statuses, events, timings } = makeAgent({
            params: { temperature: 0.8, max_tokens: 96, seed },
          });
          try {
            const result = await agent.run("Find what the notes say about the tiny model.");
            assert.ok(result.stopReason === "final" || result.stopReason === "max_steps");
          } catch (err) {
            // A reply cut at max_tokens twice in one step is the documented ProtocolError;
            // anything else (an overflow above all) is a failure.
            assert.ok(err instanceof ProtocolError, String(err));
          }
          assert.ok(statuses.every((s) => s === 200), `statuses ${statuses}`);
          for (const t of timings) assert.ok(t.prompt_n + t.cache_n <= WINDOW, JSON.stringify(t));
          const compactions = events.filter((e) => e.type === "context_compacted").length;
          console.log(
            `context window ${WINDOW}: envelope run (seed ${seed}), ${timings.length} calls, ` +
              `${compactions} compactions, evaluated ÷ final prompt = ${
                timings.length ? cacheRatio(timings).toFixed(2) : "-"
              }`,
          );
        },
      );
    }

    test(
      "without compaction the history is append-only: the prompt cache is reused fully",
      SLOW,
      async () => {
        // Three steps that fit: no compaction, so each prompt extends the one before.
        const ok = defineTool({
          name: "ok",
          description: "Say ok.",
          parameters: z.object({}),
          execute: () => "ok",
        });
        const { agent, timings, events } = makeAgent({
          tools: [ok],
          maxSteps: 2,
          params: { temperature: 0, max_tokens: 48, extra: { response_format: callsOnly([ok]) } },
        });
        const result = await agent.run("Call ok twice.");
        assert.equal(result.stopReason, "max_steps");
        assert.ok(!events.some((e) => e.type === "context_compacted"));
        const ratio = cacheRatio(timings);
        console.log(
          `context window ${WINDOW}: no compaction, evaluated ÷ final prompt = ${ratio.toFixed(2)}`,
        );
        assert.ok(ratio <= 1.05, `ratio ${ratio}`);
      },
    );

    test("a prompt that cannot fit: ContextOverflowError with contextLength", SLOW, async () => {
      const { agent, statuses } = makeAgent({
        instructions: "Always be careful and precise. ".repeat(200),
      });
      const err = await agent.run("Hi").catch((e) => e);
      assert.ok(err instanceof ContextOverflowError, String(err));
      assert.equal(err.contextLength, WINDOW);
      assert.ok(err.promptTokens! > WINDOW, String(err.promptTokens));
      assert.match(err.message, /contextLength/);
      // Decided before sending, or on the server's one refusal.
      assert.ok(statuses.length <= 1, `statuses ${statuses}`);
    });

    test(
      "with the budget off the server's refusal is a typed ContextOverflowError",
      SLOW,
      async () => {
        const { agent, statuses } = makeAgent({
          contextBudget: false,
          instructions: "Always be careful and precise. ".repeat(200),
        });
        const err = await agent.run("Hi").catch((e) => e);
        assert.ok(err instanceof ContextOverflowError, String(err));
        assert.equal(err.contextLength, WINDOW);
        assert.deepEqual(statuses, [400]);
      },
    );
  });
}
