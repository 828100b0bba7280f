// Bad input: arguments a caller gets wrong (clear TypeError / RangeError naming the field,
// nothing sent), and replies a model gets wrong on purpose or by accident (prototype keys in
// tool arguments, deeply nested or huge JSON, tools that do not exist).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AnyTool,
  defineTool,
  LMStudioClient,
  type LMStudioClientOptions,
  ProtocolError,
} from "../mod.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";

const final = (content: string) => JSON.stringify({ type: "final", content });

function fakeAgent(replies: FakeReply[], options: ConstructorParameters<typeof Agent>[0] = {}) {
  const fake = createFakeLMStudio({ replies });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
  return { fake, agent: new Agent({ client, ...options }) };
}

const echo = defineTool({
  name: "echo",
  description: "Echoes its text.",
  parameters: z.object({ text: z.string() }),
  execute: ({ text }) => text,
});

/** Asserts `fn` throws `cls` with a message matching every pattern. */
function throwsNaming(fn: () => unknown, cls: ErrorConstructor, ...patterns: RegExp[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    for (const p of patterns) assert.match((err as Error).message, p);
    return true;
  });
}

describe("caller input is validated with errors naming the field", () => {
  test("an empty, blank or non-string prompt: TypeError from stream() and run(); nothing sent", async () => {
    const { fake, agent } = fakeAgent([{ content: final("never") }]);
    for (const prompt of ["", "   ", "\n\t", 42, null, undefined, {}, ["hi"]]) {
      const label = JSON.stringify(prompt) ?? String(prompt);
      throwsNaming(() => agent.stream(prompt as string), TypeError, /prompt/);
      await assert.rejects(agent.run(prompt as string), (err: unknown) => {
        assert.ok(err instanceof TypeError, label);
        assert.match((err as Error).message, /prompt must be a non-empty string/);
        return true;
      });
    }
    assert.equal(fake.requests.length, 0);
  });

  test("messages that are not an array: TypeError naming messages", () => {
    const { agent } = fakeAgent([]);
    for (const messages of ["hi", { role: "user" }, 1]) {
      throwsNaming(
        () => agent.stream("hi", { messages: messages as never }),
        TypeError,
        /messages/,
      );
    }
  });

  test("maxSteps ≤ 0 or not an integer: RangeError naming maxSteps and the value", () => {
    for (const maxSteps of [0, -1, 1.5, NaN, Infinity, -Infinity]) {
      throwsNaming(
        () => new Agent({ maxSteps, client: new LMStudioClient({ model: "m" }) }),
        RangeError,
        /maxSteps must be a positive integer/,
        new RegExp(`got ${String(maxSteps)}`),
      );
    }
    throwsNaming(() => new Agent({ maxSteps: "3" as never }), RangeError, /maxSteps/);
    assert.doesNotThrow(() =>
      new Agent({ maxSteps: 1, client: new LMStudioClient({ model: "m" }) })
    );
  });

  test("an invalid baseURL: TypeError naming baseURL and the value", () => {
    for (
      const baseURL of [
        "not a url",
        "localhost:1234/v1",
        "ftp://host/v1",
        "file:///etc/passwd",
        "//x",
      ]
    ) {
      throwsNaming(
        () => new LMStudioClient({ baseURL }),
        TypeError,
        /baseURL/,
      );
    }
    throwsNaming(() => new LMStudioClient({ baseURL: "ws://x/v1" }), TypeError, /baseURL/, /"ws:"/);
  });

  test("bad client limits: RangeError naming the option", () => {
    const cases: [keyof LMStudioClientOptions, unknown][] = [
      ["maxRetries", -1],
      ["maxRetries", 1.5],
      ["timeoutMs", -1],
      ["idleTimeoutMs", NaN],
      ["retryBaseDelayMs", -5],
      ["maxRetryDelayMs", -1],
      ["maxResponseBytes", 0],
      ["maxResponseChars", -10],
    ];
    for (const [name, value] of cases) {
      throwsNaming(
        () => new LMStudioClient({ [name]: value }),
        RangeError,
        new RegExp(`${name} must be`),
      );
    }
  });

  test("duplicate tool names: TypeError naming the duplicate", () => {
    const again = defineTool({ ...echo, description: "Another echo." });
    throwsNaming(
      () => new Agent({ tools: [echo, again], client: new LMStudioClient({ model: "m" }) }),
      TypeError,
      /duplicate tool name "echo"/,
    );
  });

  test("tool names the protocol cannot carry: TypeError naming name (defineTool and Agent)", () => {
    const bad = [
      "",
      "my tool",
      "1abc",
      "a".repeat(65),
      "naïve",
      "a/b",
      "tool\n",
      "x;y",
      "ѕearch",
      "-x",
    ];
    for (const name of bad) {
      const tool = { ...echo, name } as AnyTool;
      throwsNaming(() => defineTool(tool), TypeError, /name must match/);
      throwsNaming(
        () => new Agent({ tools: [tool], client: new LMStudioClient({ model: "m" }) }),
        TypeError,
        /tools\[0\]/,
        /name must match/,
      );
    }
  });

  test("parameters that are not a zod object schema: TypeError naming parameters", () => {
    const bad = [
      z.string(),
      z.array(z.object({ a: z.string() })),
      z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]),
      { type: "string" }, // a JSON Schema is accepted only for an object (issue 18)
      undefined,
      null,
    ];
    for (const parameters of bad) {
      throwsNaming(
        () => defineTool({ ...echo, parameters } as never),
        TypeError,
        /parameters must be a zod object schema/,
      );
    }
  });

  test("chunk size ≤ 0, unknown chunking, negative chunkDelayMs: errors naming the option", () => {
    const client = new LMStudioClient({ model: "m" });
    for (const graphemes of [0, -1, 1.5, NaN]) {
      throwsNaming(
        () => new Agent({ client, chunking: { graphemes } }),
        RangeError,
        /chunking\.graphemes must be a positive integer/,
      );
    }
    throwsNaming(() => new Agent({ client, chunking: "chars" as never }), TypeError, /chunking/);
    throwsNaming(() => new Agent({ client, chunkDelayMs: -1 }), RangeError, /chunkDelayMs/);
    throwsNaming(
      () => new Agent({ client, maxToolResultChars: 0 }),
      RangeError,
      /maxToolResultChars/,
    );
    throwsNaming(() => new Agent({ client, protocol: "xml" as never }), TypeError, /protocol/);
    throwsNaming(() => new Agent({ client, modelCall: "batch" as never }), TypeError, /modelCall/);
  });
});

describe("model input cannot pollute prototypes", () => {
  // Deliberately naive merge code, as a tool might contain: recursive, no key filtering.
  // deno-lint-ignore no-explicit-any
  function naiveMerge(target: any, source: any): any {
    for (const key in source) {
      const value = source[key];
      if (value && typeof value === "object") {
        if (!target[key] || typeof target[key] !== "object") target[key] = {};
        naiveMerge(target[key], value);
      } else {
        target[key] = value;
      }
    }
    // Also what Object.assign-style code does with own keys.
    for (const key of Object.keys(source)) {
      if (typeof source[key] !== "object") target[key] = source[key];
    }
    return target;
  }

  // Written as text: an object literal's `__proto__:` would set a prototype, not make a key.
  const POISON = '{"__proto__":{"pollutedA":"yes"},' +
    '"constructor":{"prototype":{"pollutedB":"yes"}},' +
    '"prototype":{"pollutedC":"yes"},' +
    '"nested":{"deeper":{"__proto__":{"pollutedD":"yes"}},' +
    '"constructor":{"prototype":{"pollutedE":1}}},' +
    '"list":[{"__proto__":{"pollutedF":"yes"}}],' +
    '"ok":1}';

  function clean() {
    const probe = {} as Record<string, unknown>;
    for (
      const k of ["pollutedA", "pollutedB", "pollutedC", "pollutedD", "pollutedE", "pollutedF"]
    ) {
      assert.equal(probe[k], undefined, `Object.prototype.${k} was polluted`);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, k), false);
    }
    assert.equal(Object.getPrototypeOf(probe), Object.prototype);
  }

  for (const protocol of ["envelope", "native"] as const) {
    test(`__proto__ / constructor / prototype keys in ${protocol} tool arguments reach nothing`, async () => {
      // JSON.parse really makes these own keys, so the test means something.
      assert.ok(Object.keys(JSON.parse(POISON)).includes("__proto__"));
      const received: unknown[] = [];
      const merge = defineTool({
        name: "merge",
        description: "Merges settings.",
        parameters: z.object({ ok: z.number() }).loose(),
        execute: (args) => {
          received.push(args);
          const merged = naiveMerge({}, args);
          return `merged ${Object.keys(merged).join(",")}`;
        },
      });
      const call = protocol === "envelope"
        ? { content: `{"type":"tool_call","tool":"merge","arguments":${POISON}}` }
        : { toolCalls: [{ name: "merge", arguments: POISON }] };
      const final2 = protocol === "envelope" ? final("merged") : "merged";
      const { agent } = fakeAgent([call, { content: final2 }], { tools: [merge], protocol });
      const result = await agent.run("merge these");
      assert.equal(result.text, "merged");
      assert.equal(received.length, 1);
      const args = received[0] as Record<string, unknown>;
      for (const key of ["__proto__", "constructor", "prototype"]) {
        assert.ok(!Object.prototype.hasOwnProperty.call(args, key), `${key} reached the tool`);
      }
      assert.equal(Object.getPrototypeOf(args), Object.prototype);
      assert.deepEqual(Object.keys(args).sort(), ["list", "nested", "ok"]);
      clean();
    });
  }

  test("a prototype-named tool reaches no built-in method", async () => {
    const execute = () => "never";
    const spy = defineTool({ name: "spy", description: "Spy.", parameters: z.object({}), execute });
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const events: AgentEvent[] = [];
      const { agent } = fakeAgent([
        { content: JSON.stringify({ type: "tool_call", tool: name, arguments: {} }) },
        { content: final("done") },
      ], { tools: [spy], onEvent: (e) => events.push(e) });
      const result = await agent.run("go");
      assert.equal(result.text, "done");
      const err = events.find((e) => e.type === "tool_error");
      assert.ok(err && err.type === "tool_error" && err.kind === "unknown_tool", name);
    }
    clean();
  });
});

describe("deeply nested or huge model output is rejected quickly with a typed error", () => {
  const DEPTH = 200_000;
  const deepArgs = '{"a":'.repeat(DEPTH) + "1" + "}".repeat(DEPTH);
  // Large deltas: the point is the parser, not the fake's per-token framing.
  const asDeltas = (text: string) => {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += 65_536) out.push(text.slice(i, i + 65_536));
    return out;
  };

  const bombs: [string, string][] = [
    [
      "nested 200k deep inside arguments",
      `{"type":"tool_call","tool":"echo","arguments":{"x":${deepArgs}}}`,
    ],
    ["a bare 1M-bracket array", "[".repeat(1_000_000)],
    [
      "nested 100k deep inside final content's neighbour",
      `{"type":"final","content":"x","y":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
    ],
    ["a 1.5M-character reply", final("z".repeat(1_500_000))],
  ];

  for (const [name, reply] of bombs) {
    test(`envelope: ${name} → ProtocolError after the one retry`, async () => {
      const ran: unknown[] = [];
      const tool = defineTool({ ...echo, execute: (a) => (ran.push(a), "x") });
      const events: AgentEvent[] = [];
      const { fake, agent } = fakeAgent(
        [{ deltas: asDeltas(reply) }, { deltas: asDeltas(reply) }, { content: final("never") }],
        { tools: [tool], onEvent: (e) => e.type !== "model_delta" && events.push(e) },
      );
      const started = performance.now();
      const err = await agent.run("go").then(() => undefined, (e: unknown) => e);
      const ms = performance.now() - started;
      assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
      assert.equal(err.step, 1);
      assert.equal(err.rawText.length, reply.length, "the raw reply is kept for debugging");
      assert.match(err.reason, /nested deeper than 64|too long|not valid JSON|incomplete/i);
      assert.equal(events.filter((e) => e.type === "protocol_retry").length, 1);
      assert.equal(fake.chatRequests.length, 2);
      assert.deepEqual(ran, [], "no tool ran");
      assert.ok(ms < 5_000, `took ${ms.toFixed(0)} ms`);
    });
  }

  const nativeBombs: [string, string, RegExp][] = [
    [
      "nested 100k deep",
      '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000),
      /nested deeper than 64/,
    ],
    ["1.2M characters long", JSON.stringify("w".repeat(1_200_000)), /too long/],
  ];
  for (const [name, inner, reason] of nativeBombs) {
    test(`native: arguments ${name} never reach the tool; the model is told`, async () => {
      const ran: unknown[] = [];
      const tool = defineTool({
        name: "echo",
        description: "Echoes.",
        parameters: z.object({ x: z.unknown() }).loose(),
        execute: (a) => (ran.push(a), "x"),
      });
      const events: AgentEvent[] = [];
      const { agent } = fakeAgent(
        [{ toolCalls: [{ name: "echo", arguments: `{"x":${inner}}` }] }, { content: "done" }],
        { tools: [tool], protocol: "native", onEvent: (e) => events.push(e) },
      );
      const started = performance.now();
      const result = await agent.run("go");
      assert.equal(result.text, "done");
      assert.deepEqual(ran, [], "the arguments did not reach user code");
      const err = events.find((e) => e.type === "tool_error");
      assert.ok(err && err.type === "tool_error" && err.kind === "invalid_arguments");
      assert.match(err.error, reason);
      // Events stay serialisable (a 100k-deep object in one would overflow JSON.stringify).
      assert.doesNotThrow(() => JSON.stringify(events));
      assert.ok(performance.now() - started < 5_000);
    });
  }
});

describe("a tool the model invents never reaches user code", () => {
  for (const protocol of ["envelope", "native"] as const) {
    test(`${protocol}: unknown names are tool_errors listing the real tools; no execute runs`, async () => {
      const calls: string[] = [];
      const tools = ["add", "search"].map((name) =>
        defineTool({
          name,
          description: `The ${name} tool.`,
          parameters: z.object({}).loose(),
          execute: () => {
            calls.push(name);
            return "ran";
          },
        })
      );
      const invented = ["rm_rf", "Add", "add ", "search.v2", "ѕearch", "", "ADD"];
      const replies: FakeReply[] = invented.map((name) =>
        protocol === "envelope"
          ? { content: JSON.stringify({ type: "tool_call", tool: name, arguments: {} }) }
          : { toolCalls: [{ name, arguments: "{}" }] }
      );
      replies.push({ content: protocol === "envelope" ? final("gave up") : "gave up" });
      const events: AgentEvent[] = [];
      const { agent } = fakeAgent(replies, {
        tools,
        protocol,
        maxSteps: invented.length + 1,
        onEvent: (e) => events.push(e),
      });
      const result = await agent.run("go");
      assert.equal(result.text, "gave up");
      assert.deepEqual(calls, [], "no real tool ran");
      const errors = events.filter((e) => e.type === "tool_error");
      assert.equal(errors.length, invented.length);
      for (const e of errors) {
        assert.ok(e.type === "tool_error" && e.kind === "unknown_tool");
        assert.match(e.error, /add, search/);
      }
    });
  }
});
