// Issue 15: the API as a new user meets it. One describe per numbered item of the issue:
// zod versions, a passive `stream.result`, the display transcript, strict `execute` typing,
// option validation, and what reaches the model from odd tool behaviour.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import * as zm from "zod/mini";
import * as z3 from "zod/v3";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type AnyTool,
  defineTool,
  LMStudioClient,
  type StreamChunk,
  type Tool,
} from "../mod.ts";
// Until mod.ts re-exports it (see the issue 15 report).
import type { TranscriptEntry } from "../src/agent_types.ts";
import { createScriptedModel, envelope, native, type ScriptedReply } from "../testing.ts";
import { createToolRegistry, runTool, type ToolOutcome } from "../src/tools.ts";
import { checkClientOptionKeys } from "../src/_options.ts";

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

function agentOn(replies: readonly ScriptedReply[], options: Omit<AgentOptions, "client"> = {}) {
  const model = createScriptedModel(replies);
  const events: AgentEvent[] = [];
  const agent = new Agent({ client: model, onEvent: (e) => events.push(e), ...options });
  return { model, agent, events };
}

async function collect(stream: AsyncIterable<StreamChunk>): Promise<StreamChunk[]> {
  const out: StreamChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

// ---- 1. zod versions --------------------------------------------------------------------------

describe("1. zod: zod 4 classic accepted, zod 3 and zod/mini named", () => {
  const base = { name: "t", description: "d", execute: () => 1 };

  test("a zod 4 classic object schema is accepted", () => {
    assert.equal(defineTool({ ...base, parameters: z.object({ a: z.string() }) }).name, "t");
  });

  test("a zod 3 schema is rejected at run time with a message naming zod 3 and what is needed", () => {
    const parameters = z3.object({ a: z3.string() });
    assert.throws(
      // @ts-expect-error: zod 3 schemas have no `_zod`, so they do not type-check either
      () => defineTool({ ...base, parameters }),
      (err: unknown) =>
        err instanceof TypeError && /got a zod 3 schema \(ZodObject/.test(err.message) &&
        /zod 4/.test(err.message) && /"zod\/v4"/.test(err.message),
    );
  });

  test("a zod/mini schema is rejected at run time with a message naming zod/mini", () => {
    const parameters = zm.object({ a: zm.string() });
    assert.throws(
      // @ts-expect-error: zod/mini schemas lack the classic methods, so they do not type-check
      () => defineTool({ ...base, parameters }),
      (err: unknown) =>
        err instanceof TypeError &&
        /got a zod\/mini schema \(ZodMiniObject, zod 4\.\d+\.\d+\)/.test(err.message) &&
        /not "zod\/mini"/.test(err.message),
    );
  });

  test("a zod 4 schema that is not an object names its type", () => {
    assert.throws(
      () => defineTool({ ...base, parameters: z.string() as never }),
      /got a zod 4\.\d+\.\d+ string schema \(ZodString\)/,
    );
  });

  test("the registry (tools written as plain objects) gives the same message", () => {
    assert.throws(
      () =>
        new Agent({
          client: createScriptedModel([]),
          tools: [{ ...base, parameters: zm.object({}) } as never],
        }),
      /tools\[0\] "t": .*zod\/mini/,
    );
  });
});

// ---- 2. stream.result is passive ------------------------------------------------------------

describe("2. stream.result is passive", () => {
  const TEXT = "one two three four";

  test("reading result, then iterating: the iteration gets every chunk live", async () => {
    const { agent, model } = agentOn([envelope.final(TEXT)]);
    const s = agent.stream("q");
    const r = s.result;
    const chunks = await collect(s);
    assert.equal(chunks.map((c) => c.text).join(""), TEXT);
    assert.ok(chunks.length > 1, "sliced by word");
    assert.equal(chunks.filter((c) => c.isFinal).length, 1);
    assert.equal((await r).text, TEXT);
    assert.equal(model.calls.length, 1);
  });

  test("Promise.all([s.result, consume(s)]) and the reverse order both work", async () => {
    for (const order of ["result first", "consume first"]) {
      const { agent, model } = agentOn([envelope.final(TEXT)]);
      const s = agent.stream("q");
      const [result, chunks] = order === "result first"
        ? await Promise.all([s.result, collect(s)])
        : await Promise.all([collect(s), s.result]).then(([c, r]) => [r, c] as const);
      assert.equal(result.text, TEXT, order);
      assert.equal(chunks.map((c) => c.text).join(""), TEXT, order);
      assert.equal(model.calls.length, 1, order);
    }
  });

  test("awaiting result first, then iterating: the answer is replayed, the model called once", async () => {
    const { agent, model } = agentOn([envelope.final(TEXT)]);
    const s = agent.stream("q");
    const result = await s.result;
    const chunks = await collect(s);
    assert.equal(chunks.map((c) => c.text).join(""), result.text);
    assert.deepEqual(chunks.map((c) => c.text), ["one ", "two ", "three ", "four"]);
    assert.ok(chunks.every((c) => c.step === 1));
    assert.equal(model.calls.length, 1);
  });

  test("reading only result runs the agent", async () => {
    const { agent, model } = agentOn([
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.final("3"),
    ], {
      tools: [add],
    });
    const result = await agent.stream("q").result;
    assert.equal(result.text, "3");
    assert.equal(result.steps, 2);
    assert.equal(model.calls.length, 2);
  });

  test("a failed run: result rejects, and a late iteration throws the same error", async () => {
    const boom = new Error("server down");
    const { agent } = agentOn([boom]);
    const s = agent.stream("q");
    const err = await s.result.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Error);
    await assert.rejects(collect(s), (e: unknown) => e === err);
  });

  test("a second iteration is still refused", async () => {
    const { agent } = agentOn([envelope.final(TEXT)]);
    const s = agent.stream("q");
    await collect(s);
    assert.throws(() => s[Symbol.asyncIterator](), /can only be iterated once/);
  });
});

// ---- 3. the display transcript ---------------------------------------------------------------

describe("3. result.transcript: what a chat UI shows", () => {
  test("envelope protocol: user, tool call, tool result, tool error, answer; no JSON, no synthetic turns", async () => {
    const { agent } = agentOn([
      envelope.toolCall("add", { a: 2, b: 3 }),
      { content: "not json at all" }, // a protocol violation: corrected, never shown
      envelope.toolCall("add", { a: "x", b: 1 }),
      envelope.final("It is 5."),
    ], { tools: [add] });
    const result = await agent.run("What is 2 + 3?");
    const t: TranscriptEntry[] = result.transcript;
    assert.deepEqual(t.map((e) => e.type), [
      "user",
      "tool_call",
      "tool_result",
      "tool_call",
      "tool_error",
      "assistant",
    ]);
    assert.deepEqual(t[0], { type: "user", text: "What is 2 + 3?" });
    assert.deepEqual(t[1], {
      type: "tool_call",
      step: 1,
      tool: "add",
      callId: "s00001c00",
      arguments: { a: 2, b: 3 },
    });
    assert.deepEqual(t[2], {
      type: "tool_result",
      step: 1,
      tool: "add",
      callId: "s00001c00",
      output: "5",
    });
    assert.equal(t[4]!.type === "tool_error" && t[4]!.kind, "invalid_arguments");
    assert.deepEqual(t[5], { type: "assistant", step: 3, text: "It is 5." });
    // `messages` stays the exact protocol history (envelopes, the correction, results as user turns).
    assert.ok(result.messages.length > t.length);
    assert.ok(result.messages.some((m) => m.role === "assistant" && m.content?.startsWith("{")));
    for (const e of t) {
      if (e.type === "user" || e.type === "assistant") assert.ok(!e.text.includes('"type"'));
    }
  });

  test("native protocol and the max-steps fallback", async () => {
    const { agent } = agentOn([
      native.toolCalls([{ name: "add", arguments: { a: 1, b: 1 } }]),
      native.final("Two."),
    ], { tools: [add], protocol: "native", maxSteps: 1 });
    const result = await agent.run("1 + 1?");
    assert.equal(result.stopReason, "max_steps");
    assert.deepEqual(result.transcript.map((e) => e.type), [
      "user",
      "tool_call",
      "tool_result",
      "assistant",
    ]);
    assert.deepEqual(result.transcript.at(-1), { type: "assistant", step: 2, text: "Two." });
  });

  test("agent.stream() gives the same transcript in its result", async () => {
    const { agent } = agentOn([envelope.final("Hi")]);
    const s = agent.stream("Hello");
    await collect(s);
    assert.deepEqual((await s.result).transcript, [
      { type: "user", text: "Hello" },
      { type: "assistant", step: 1, text: "Hi" },
    ]);
  });
});

// ---- 4. strict execute typing ------------------------------------------------------------------

describe("4. Tool.execute is checked strictly (property syntax)", () => {
  // The checks are the @ts-expect-error lines: `deno check tests/` (and the consumer project
  // under tsc) fail if either mistake compiles again.
  test("an execute expecting more than parameters gives is a type error", async () => {
    const parameters = z.object({ a: z.number() });
    const wrong: Tool<typeof parameters, string> = {
      name: "wrong",
      description: "d",
      parameters,
      // @ts-expect-error: `b` is not in the schema (method syntax would accept this)
      execute: (args: { a: number; b: string }) => args.b.toUpperCase(),
    };
    const viaDefine = defineTool({
      name: "wrong2",
      description: "d",
      parameters,
      // @ts-expect-error: the same mistake through defineTool
      execute: (args: { a: number; b: string }) => args.b.toUpperCase(),
    });
    // What the types now prevent: the call crashes inside the tool.
    for (const tool of [wrong, viaDefine]) {
      const outcome = await runTool(createToolRegistry([tool as AnyTool]), tool.name, { a: 1 }, {
        signal: new AbortController().signal,
        step: 1,
        callId: "c",
      });
      assert.equal(outcome.ok, false);
    }
    // The right shape compiles and is assignable to AnyTool.
    const right: AnyTool = defineTool({
      name: "ok",
      description: "d",
      parameters,
      execute: ({ a }) => a,
    });
    assert.equal(right.name, "ok");
  });
});

// ---- 5. option validation ----------------------------------------------------------------------

describe("5. options: named, quoted, choices listed; unknown keys and contradictions rejected", () => {
  const client = createScriptedModel([]);
  const rejects = (
    options: unknown,
    type: typeof TypeError | typeof RangeError,
    ...patterns: RegExp[]
  ) =>
    assert.throws(
      () => new Agent({ client, ...(options as AgentOptions) }),
      (err: unknown) => {
        assert.ok(err instanceof type, `${String(err)} should be a ${type.name}`);
        for (const p of patterns) assert.match((err as Error).message, p);
        return true;
      },
    );

  test("tools that is not an array", () => {
    rejects({ tools: add }, TypeError, /tools must be an array of tools/, /got an object/);
  });

  test("unknown keys, with a did-you-mean when one is close", () => {
    rejects(
      { maxstep: 3 },
      TypeError,
      /unknown option "maxstep" \(did you mean "maxSteps"\?\)/,
      /valid options: client, tools/,
    );
    rejects({ baseUrl: "http://x/v1" }, TypeError, /unknown option "baseUrl"; valid options/);
    rejects({ instruction: "x" }, TypeError, /did you mean "instructions"/);
    rejects({ chunkDelay: 5 }, TypeError, /did you mean "chunkDelayMs"/);
  });

  test("every AgentOptions key is accepted (the list follows the interface)", () => {
    assert.doesNotThrow(() =>
      new Agent({
        client,
        tools: [],
        instructions: "",
        maxSteps: 2,
        modelCall: "stream",
        protocol: "envelope",
        responseFormat: true,
        reasoning: "low",
        params: {},
        chunking: "word",
        chunkDelayMs: 0,
        delay: () => Promise.resolve(),
        live: false,
        maxToolResultChars: 10,
        contextLength: 100,
        contextBudget: true,
        onEvent: () => {},
      })
    );
  });

  test('values are quoted (a string "3" reads differently from 3)', () => {
    rejects({ maxSteps: "3" }, RangeError, /maxSteps must be a positive integer, got "3"/);
    rejects({ maxSteps: 0 }, RangeError, /got 0$/);
    rejects(
      { contextLength: 1.5 },
      RangeError,
      /contextLength must be a positive integer \(tokens\), got 1\.5/,
    );
  });

  test("choices are listed and the value quoted", () => {
    rejects({ protocol: "json" }, TypeError, /protocol must be "envelope" or "native", got "json"/);
    rejects(
      { modelCall: "fetch" },
      TypeError,
      /modelCall must be "stream" or "generate", got "fetch"/,
    );
    rejects(
      { reasoning: "max" },
      TypeError,
      /reasoning must be "off", "low", "medium" or "high", got "max"/,
    );
  });

  test("booleans, functions and objects of the wrong type", () => {
    rejects({ live: "yes" }, TypeError, /live must be true or false, got "yes"/);
    rejects({ responseFormat: 1 }, TypeError, /responseFormat must be true or false, got 1/);
    rejects({ onEvent: "log" }, TypeError, /onEvent must be a function, got "log"/);
    rejects({ params: 0.2 }, TypeError, /params must be an object/);
    rejects(
      { chunkDelayMs: "5" },
      TypeError,
      /chunkDelayMs must be a finite number ≥ 0 \(milliseconds\), got "5"/,
    );
  });

  test("contradictory combinations", () => {
    rejects(
      { live: true, modelCall: "generate" },
      TypeError,
      /live: true needs modelCall "stream"/,
    );
    rejects(
      { responseFormat: true, protocol: "native" },
      TypeError,
      /responseFormat applies to protocol "envelope" only/,
    );
    const agent = new Agent({ client, modelCall: "generate" });
    assert.throws(
      () => agent.stream("q", { live: true }),
      /live: true needs the agent's modelCall/,
    );
  });

  test("run options: unknown keys rejected", () => {
    const agent = new Agent({ client });
    assert.throws(
      () => agent.stream("q", { message: [] } as never),
      /unknown option "message" \(did you mean "messages"\?\)/,
    );
    assert.throws(
      () => agent.stream("q", { signal: null, live: 1 } as never),
      /live must be true or false, got 1/,
    );
  });

  test("LMStudioClient options: the shared helper names the unknown key", () => {
    assert.throws(
      () => checkClientOptionKeys({ baseUrl: "http://x/v1" }),
      /Cannot create LMStudioClient: unknown option "baseUrl" \(did you mean "baseURL"\?\)/,
    );
    assert.throws(() => checkClientOptionKeys({ modle: "m" }), /did you mean "model"/);
    assert.throws(() => checkClientOptionKeys("m"), /options must be an object, got "m"/);
    assert.doesNotThrow(() =>
      checkClientOptionKeys({ baseURL: "http://x/v1", model: "m", apiKey: "k" })
    );
    assert.doesNotThrow(() => new LMStudioClient({ model: "m" }));
  });
});

// ---- 6. tool outcomes ---------------------------------------------------------------------------

describe("6. what reaches the model from odd tool behaviour", () => {
  async function outcomeOf(execute: () => unknown): Promise<ToolOutcome> {
    const tool = defineTool({ name: "odd", description: "d", parameters: z.object({}), execute });
    return await runTool(createToolRegistry([tool]), "odd", {}, {
      signal: new AbortController().signal,
      step: 1,
      callId: "c",
    });
  }
  const errorOf = async (execute: () => unknown) => {
    const o = await outcomeOf(execute);
    assert.ok(!o.ok, "expected a tool error");
    return o.error;
  };
  const outputOf = async (execute: () => unknown) => {
    const o = await outcomeOf(execute);
    assert.ok(o.ok, o.ok ? "" : o.error);
    return o.output;
  };

  test("non-Error throws are described as data", async () => {
    assert.equal(
      await errorOf(() => {
        throw { code: 42 };
      }),
      'The tool failed with {"code":42}',
    );
    assert.equal(
      await errorOf(() => {
        throw undefined;
      }),
      "The tool failed without an error message (it threw undefined).",
    );
    assert.equal(
      await errorOf(() => {
        throw "disk full";
      }),
      "disk full",
    );
    assert.equal(
      await errorOf(() => {
        throw 7;
      }),
      "The tool failed with 7",
    );
    assert.equal(await errorOf(() => Promise.reject(null)), "The tool failed with null");
    assert.equal(
      await errorOf(() => {
        throw new RangeError("bad");
      }),
      "RangeError: bad",
    );
  });

  test("Map and Set as their entries, at any depth", async () => {
    assert.equal(await outputOf(() => new Map([["a", 1], ["b", 2]])), '[["a",1],["b",2]]');
    assert.equal(await outputOf(() => new Set([1, 2])), "[1,2]");
    assert.equal(
      await outputOf(() => ({ m: new Map([[1, new Set(["x"])]]), n: 1n })),
      '{"m":[[1,["x"]]],"n":"1"}',
    );
    const self = new Map<string, unknown>();
    self.set("me", self);
    assert.equal(await outputOf(() => self), '[["me","[Circular]"]]');
  });

  test("functions and symbols are tool errors, never source code", async () => {
    const secret = () => "SOURCE_TEXT";
    const e = await errorOf(() => secret);
    assert.equal(e, "The tool returned a function instead of a result.");
    assert.equal(
      await errorOf(() => Symbol("s")),
      "The tool returned a symbol instead of a result.",
    );
    assert.equal(
      await errorOf(() => Promise.resolve(class A {})),
      "The tool returned a function instead of a result.",
    );
  });

  test('undefined is an explicit "(no result)"', async () => {
    assert.equal(await outputOf(() => undefined), "(no result)");
    assert.equal(await outputOf(async () => {}), "(no result)");
  });
});
