// Tool calls written as text (issue 17): every fixture in tests/fixtures/text_tool_calls/ is read
// by readTextToolCalls directly, then replayed through a native agent, buffered and live, whole,
// in 1-character deltas and in seeded random deltas: the same decision (the same calls, or the
// same violation and its correction), and the calls go back into history as native tool_calls.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  defineTool,
  LMStudioClient,
  type StreamChunk,
} from "../mod.ts";
import { createFakeLMStudio } from "../testing.ts";
import { readTextToolCalls } from "../src/protocols/_text_tool_calls.ts";
import { describeTools } from "../src/tool_schema.ts";
import { splitReasoning } from "../src/_reasoning.ts";
import { cutText } from "./_kit/reliability_kit.ts";

interface Fixture {
  name: string;
  source: string;
  synthetic: boolean;
  content: string;
  expect:
    | { kind: "calls"; format: string; calls: { name: string; args: unknown }[] }
    | { kind: "invalid"; reason: string }
    | { kind: "none" };
  /** The reply starts as prose, so live mode has shown it before the call appears. */
  liveShowsText?: boolean;
}

const { cases }: { cases: Fixture[] } = JSON.parse(
  readFileSync(new URL("./fixtures/text_tool_calls/cases.json", import.meta.url), "utf8"),
);

function makeTools() {
  const ran: string[] = [];
  const log = (name: string) => (args: unknown) => {
    ran.push(`${name}(${JSON.stringify(args)})`);
    return "ok";
  };
  return {
    ran,
    tools: [
      defineTool({
        name: "get_weather",
        description: "Weather for a city.",
        parameters: z.object({
          city: z.string(),
          days: z.number().int().optional(),
          metric: z.boolean().optional(),
          hours: z.array(z.number().int()).optional(),
          note: z.string().optional(),
        }),
        execute: log("get_weather"),
      }),
      defineTool({
        name: "now",
        description: "The time.",
        parameters: z.object({}),
        execute: log("now"),
      }),
      defineTool({
        name: "list_files",
        description: "Lists a folder.",
        parameters: z.object({ path: z.string() }),
        execute: log("list_files"),
      }),
    ],
  };
}

const described = describeTools(makeTools().tools);

describe("readTextToolCalls(): every fixture", () => {
  test("every fixture names its source", () => {
    for (const c of cases) {
      assert.ok(c.source.length > 8 && typeof c.synthetic === "boolean", c.name);
    }
  });

  for (const c of cases) {
    test(`${c.name}: ${c.expect.kind}`, () => {
      // The protocols hand over the answer after the reasoning splitter.
      const got = readTextToolCalls(splitReasoning(c.content).text, described);
      assert.equal(got.kind, c.expect.kind, JSON.stringify(got));
      if (got.kind === "calls" && c.expect.kind === "calls") {
        assert.equal(got.format, c.expect.format);
        assert.deepEqual(got.calls.map(({ name, args }) => ({ name, args })), c.expect.calls);
        assert.ok(got.calls.every((call) => call.id === "" && call.argsError === undefined));
      }
      if (got.kind === "invalid" && c.expect.kind === "invalid") {
        assert.ok(got.reason.includes(c.expect.reason), got.reason);
      }
    });
  }

  test("nothing is recovered when no tools are registered", () => {
    for (const c of cases) assert.deepEqual(readTextToolCalls(c.content, []), { kind: "none" });
  });

  test("a Qwen3-Coder value that does not fit its type stays text (validation reports it)", () => {
    const got = readTextToolCalls(
      "<tool_call>\n<function=get_weather>\n<parameter=city>\nX\n</parameter>\n" +
        "<parameter=days>\nthree\n</parameter>\n</function>\n</tool_call>",
      described,
    );
    assert.equal(got.kind, "calls");
    assert.deepEqual(got.kind === "calls" && got.calls[0]!.args, { city: "X", days: "three" });
  });

  test('a "__proto__" parameter never becomes a prototype', () => {
    const got = readTextToolCalls(
      '<tool_call>{"name": "now", "arguments": {"__proto__": {"polluted": 1}}}</tool_call>',
      described,
    );
    assert.equal(got.kind, "calls");
    const args = got.kind === "calls" ? got.calls[0]!.args as object : {};
    assert.equal(Object.getPrototypeOf(args), Object.prototype);
    assert.equal((args as { polluted?: number }).polluted, undefined);
  });
});

// ---- through the agent --------------------------------------------------------------------

interface Run {
  calls: string[];
  retries: string[];
  text?: string;
  chunks: string;
  error?: string;
  history?: unknown[];
}

async function runAgent(deltas: readonly string[], live: boolean, extra: AgentOptions = {}) {
  const { tools, ran } = makeTools();
  // The written reply, then (after a tool step or a correction) a plain final answer.
  const fake = createFakeLMStudio({ replies: [{ deltas }, { deltas: ["All ", "done."] }] });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
  const events: AgentEvent[] = [];
  const agent = new Agent({
    client,
    tools,
    protocol: "native",
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const chunks: StreamChunk[] = [];
  const stream = agent.stream("q", { live });
  const out: Run = { calls: ran, retries: [], chunks: "" };
  try {
    for await (const chunk of stream) chunks.push(chunk);
    const result = await stream.result;
    out.text = result.text;
    out.history = result.messages;
  } catch (err) {
    out.error = (err as Error).name;
  }
  out.chunks = chunks.map((c) => c.text).join("");
  out.retries = events.flatMap((e) => e.type === "protocol_retry" ? [e.reason] : []);
  return { out, fake };
}

function splits(content: string): string[][] {
  const random = fc.sample(fc.array(fc.nat(content.length), { maxLength: 12 }), {
    seed: content.length,
    numRuns: 2,
  });
  return [
    [content],
    [...content],
    ...random.map((cuts) => cutText(content, cuts).filter((d) => d !== "")),
  ];
}

describe("text tool calls through a native agent: buffered and live, any split", () => {
  for (const c of cases) {
    test(`${c.name}`, async () => {
      for (const deltas of splits(c.content)) {
        for (const live of [false, true]) {
          const label = `live ${live}, ${deltas.length} deltas`;
          const { out } = await runAgent(deltas, live);
          if (c.expect.kind === "calls") {
            assert.deepEqual(
              out.calls,
              c.expect.calls.map((k) => `${k.name}(${JSON.stringify(k.args)})`),
              label,
            );
            assert.equal(out.text, "All done.", label);
            assert.equal(out.chunks, "All done.", label);
            assert.deepEqual(out.retries, [], label);
          } else if (c.expect.kind === "invalid") {
            assert.deepEqual(out.calls, [], label);
            if (live && c.liveShowsText) {
              // The prose went out live before the call appeared: it cannot be taken back.
              assert.equal(out.error, "LiveStreamError", label);
              continue;
            }
            assert.equal(out.retries.length, 1, label);
            assert.ok(out.retries[0]!.includes(c.expect.reason), out.retries[0]);
            assert.equal(out.text, "All done.", label);
          } else {
            assert.deepEqual(out.calls, [], label);
            assert.equal(out.text, c.content, label);
            assert.equal(out.chunks, c.content, label);
          }
        }
      }
    });
  }

  test("recovered calls go back as native tool_calls with role tool results, no markup", async () => {
    const c = cases.find((k) => k.name === "hermes_after_reasoning_two_blocks")!;
    const { out, fake } = await runAgent([c.content], false);
    const second = fake.chatRequests[1]!.body!.messages;
    const assistant = second.find((m) => m.role === "assistant")!;
    assert.equal(assistant.content, null);
    assert.deepEqual(
      assistant.tool_calls?.map((t) => [t.function.name, JSON.parse(t.function.arguments)]),
      [["get_weather", { city: "Paris" }], ["now", {}]],
    );
    const results = second.filter((m) => m.role === "tool");
    const ids = assistant.tool_calls!.map((t) => t.id);
    assert.deepEqual(results.map((m) => m.tool_call_id), ids);
    // Mistral's chat templates raise on any other id ("alphanumeric strings with length 9").
    for (const id of ids) assert.match(id, /^[A-Za-z0-9]{9}$/);
    assert.equal(new Set(ids).size, ids.length, "one id per call");
    assert.ok(!JSON.stringify(out.history).includes("<think>"), "reasoning is not sent back");
    assert.ok(!JSON.stringify(out.history).includes("<tool_call>"));
  });

  test("envelope mode: an unmistakable written call is a call too", async () => {
    const { tools, ran } = makeTools();
    const fake = createFakeLMStudio({
      replies: [
        { content: '[TOOL_REQUEST]{"name": "now", "arguments": {}}[END_TOOL_REQUEST]' },
        { content: '{"type":"final","content":"It is noon."}' },
      ],
    });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
    const result = await new Agent({ client, tools }).run("time?");
    assert.deepEqual(ran, ["now({})"]);
    assert.equal(result.text, "It is noon.");
  });
});
