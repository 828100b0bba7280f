import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  type AnyTool,
  createToolRegistry,
  defineTool,
  runTool,
  type ToolContext,
  type ToolOutcome,
  type ToolRunOptions,
} from "../src/tools.ts";

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

/** A tool returning whatever `value` gives, to test output rendering. */
function returning(value: () => unknown): AnyTool {
  return defineTool({
    name: "value",
    description: "Returns a fixed value.",
    parameters: z.object({}),
    execute: value,
  });
}

function options(overrides: Partial<ToolRunOptions> = {}): ToolRunOptions {
  return { signal: new AbortController().signal, step: 1, callId: "call_1", ...overrides };
}

async function run(
  tools: AnyTool[],
  name: string,
  args: unknown,
  overrides: Partial<ToolRunOptions> = {},
): Promise<ToolOutcome> {
  return await runTool(createToolRegistry(tools), name, args, options(overrides));
}

function failure(outcome: ToolOutcome): Extract<ToolOutcome, { ok: false }> {
  if (outcome.ok) assert.fail(`expected a failed outcome, got output ${outcome.output}`);
  return outcome;
}

function success(outcome: ToolOutcome): Extract<ToolOutcome, { ok: true }> {
  if (!outcome.ok) assert.fail(`expected success, got ${outcome.kind}: ${outcome.error}`);
  return outcome;
}

const validTool = {
  name: "ok",
  description: "d",
  parameters: z.object({}),
  execute: () => 1,
};

describe("defineTool()", () => {
  test("returns the definition itself, frozen", () => {
    const definition = { ...validTool };
    const tool = defineTool(definition);
    assert.equal(tool, definition);
    assert.ok(Object.isFrozen(tool));
  });

  test("accepts names the protocol can carry", () => {
    for (const name of ["a", "_x", "ns.tool-1", "get_weather", "A".repeat(64)]) {
      assert.equal(defineTool({ ...validTool, name }).name, name);
    }
  });

  test("rejects names the protocol cannot carry with a TypeError naming the field", () => {
    for (const name of ["", "1abc", "has space", "a/b", "ä", "-x", "A".repeat(65), 42, undefined]) {
      assert.throws(
        () => defineTool({ ...validTool, name } as unknown as AnyTool),
        (error: unknown) =>
          error instanceof TypeError && /name must match/.test(error.message) &&
          /protocol cannot carry/.test(error.message),
        `name ${JSON.stringify(name)}`,
      );
    }
  });

  test("the name error shows the rejected value", () => {
    assert.throws(
      () => defineTool({ ...validTool, name: "my tool" }),
      /got "my tool"/,
    );
  });

  test("rejects a missing, blank or non-string description", () => {
    for (const description of [undefined, "", "   \n", 3]) {
      assert.throws(
        () => defineTool({ ...validTool, description } as unknown as AnyTool),
        (error: unknown) =>
          error instanceof TypeError &&
          /"ok": description must be a non-empty string/.test(error.message),
      );
    }
  });

  test("accepts a short description", () => {
    assert.equal(defineTool({ ...validTool, description: "x" }).description, "x");
  });

  test("rejects parameters that are not a zod object schema", () => {
    for (const parameters of [undefined, {}, { a: z.number() }, z.string(), z.array(z.number())]) {
      assert.throws(
        () => defineTool({ ...validTool, parameters } as unknown as AnyTool),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.includes("parameters must be a zod object schema (z.object({...}))"),
      );
    }
  });

  test("accepts strict and loose object schemas", () => {
    defineTool({ ...validTool, parameters: z.strictObject({ a: z.number() }) });
    defineTool({ ...validTool, parameters: z.looseObject({}) });
  });

  test("rejects parameters declaring prototype keys, which runTool strips", () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      const parameters = z.object({ [key]: z.string() });
      assert.throws(
        () => defineTool({ ...validTool, parameters }),
        (error: unknown) =>
          error instanceof TypeError && error.message.includes(`must not declare the key "${key}"`),
      );
    }
  });

  test("rejects an execute that is not a function", () => {
    for (const execute of [undefined, "run", {}]) {
      assert.throws(
        () => defineTool({ ...validTool, execute } as unknown as AnyTool),
        (error: unknown) =>
          error instanceof TypeError && /execute must be a function/.test(error.message),
      );
    }
  });

  test("rejects a definition that is not an object", () => {
    assert.throws(() => defineTool(null as unknown as AnyTool), TypeError);
  });
});

describe("createToolRegistry()", () => {
  test("maps each tool's name to the tool", () => {
    const echo = defineTool({
      name: "echo",
      description: "Echoes.",
      parameters: z.object({ text: z.string() }),
      execute: ({ text }) => text,
    });
    const registry = createToolRegistry([add, echo]);
    assert.deepEqual([...registry.keys()], ["add", "echo"]);
    assert.equal(registry.get("add"), add);
    assert.equal(registry.get("echo"), echo);
  });

  test("accepts tools written as plain objects", () => {
    const plain: AnyTool = { ...validTool, name: "plain" };
    assert.equal(createToolRegistry([plain]).get("plain"), plain);
  });

  test("accepts an empty list", () => {
    assert.equal(createToolRegistry([]).size, 0);
  });

  test("rejects duplicate names", () => {
    assert.throws(
      () => createToolRegistry([add, { ...add }]),
      (error: unknown) =>
        error instanceof TypeError && error.message.includes('duplicate tool name "add"'),
    );
  });

  test("rejects non-tool entries, naming their index", () => {
    for (const entry of [null, 3, "add", {}]) {
      assert.throws(
        () => createToolRegistry([add, entry] as unknown as AnyTool[]),
        (error: unknown) => error instanceof TypeError && error.message.includes("tools[1]"),
      );
    }
  });

  test("validates plain-object tools like defineTool does", () => {
    assert.throws(
      () => createToolRegistry([{ ...validTool, name: "bad name" }]),
      /tools\[0\]: name must match/,
    );
    assert.throws(
      () => createToolRegistry([{ ...validTool, parameters: z.string() } as unknown as AnyTool]),
      /tools\[0\] "ok": parameters must be a zod object schema/,
    );
    assert.throws(
      () => createToolRegistry([{ ...validTool, description: " " }]),
      /tools\[0\] "ok": description/,
    );
    assert.throws(
      () => createToolRegistry([{ ...validTool, execute: 1 } as unknown as AnyTool]),
      /tools\[0\] "ok": execute must be a function/,
    );
  });

  test("rejects a non-array", () => {
    assert.throws(
      () => createToolRegistry(add as unknown as AnyTool[]),
      /tools must be an array/,
    );
  });
});

describe("runTool()", () => {
  test("validates, executes and renders a successful call", async () => {
    const outcome = success(await run([add], "add", { a: 2, b: 3 }));
    assert.equal(outcome.tool, "add");
    assert.deepEqual(outcome.args, { a: 2, b: 3 });
    assert.equal(outcome.value, 5);
    assert.equal(outcome.output, "5");
    assert.equal(typeof outcome.durationMs, "number");
    assert.ok(outcome.durationMs >= 0);
  });

  test("passes signal, step and callId to execute", async () => {
    const seen: ToolContext[] = [];
    const tool = defineTool({
      name: "ctx",
      description: "Records its context.",
      parameters: z.object({}),
      execute: (_args, context) => {
        seen.push(context);
      },
    });
    const controller = new AbortController();
    await run([tool], "ctx", {}, { signal: controller.signal, step: 7, callId: "call_x" });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.signal, controller.signal);
    assert.equal(seen[0]!.step, 7);
    assert.equal(seen[0]!.callId, "call_x");
  });

  test("gives execute the parsed data: defaults applied, unknown keys stripped", async () => {
    let received: unknown;
    const tool = defineTool({
      name: "greet",
      description: "Greets.",
      parameters: z.object({ name: z.string(), greeting: z.string().default("Hello") }),
      execute: (args) => {
        received = args;
        return `${args.greeting}, ${args.name}`;
      },
    });
    const outcome = success(await run([tool], "greet", { name: "Ada", extra: true }));
    assert.deepEqual(received, { name: "Ada", greeting: "Hello" });
    assert.deepEqual(outcome.args, { name: "Ada", greeting: "Hello" });
    assert.equal(outcome.output, "Hello, Ada");
  });

  test("awaits async tools", async () => {
    const tool = defineTool({
      name: "later",
      description: "Resolves later.",
      parameters: z.object({}),
      execute: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return { done: true };
      },
    });
    assert.equal(success(await run([tool], "later", {})).output, '{"done":true}');
  });

  test("unknown tool: an unknown_tool outcome listing the available tools", async () => {
    let called = false;
    const echo = defineTool({
      name: "echo",
      description: "Echoes.",
      parameters: z.object({}),
      execute: () => {
        called = true;
      },
    });
    const outcome = failure(await run([add, echo], "multiply", { a: 1 }));
    assert.equal(outcome.kind, "unknown_tool");
    assert.equal(outcome.tool, "multiply");
    assert.deepEqual(outcome.args, { a: 1 });
    assert.match(outcome.error, /Unknown tool "multiply"\. Available tools: add, echo\./);
    assert.equal(called, false);
  });

  test("unknown tool with no tools at all says so", async () => {
    const outcome = failure(await run([], "add", {}));
    assert.equal(outcome.kind, "unknown_tool");
    assert.match(outcome.error, /No tools are available/);
  });

  test("bad arguments: invalid_arguments with zod's prettified message, tool not run", async () => {
    let called = false;
    const tool = defineTool({
      name: "add",
      description: "Adds.",
      parameters: z.object({ a: z.number(), b: z.number() }),
      execute: ({ a, b }) => {
        called = true;
        return a + b;
      },
    });
    const outcome = failure(await run([tool], "add", { a: "2" }));
    assert.equal(outcome.kind, "invalid_arguments");
    const expected = tool.parameters.safeParse({ a: "2" });
    assert.ok(!expected.success);
    assert.equal(outcome.error, z.prettifyError(expected.error));
    assert.match(outcome.error, /expected number, received string[\s\S]*→ at a/);
    assert.match(outcome.error, /→ at b/);
    assert.ok(outcome.cause instanceof z.ZodError);
    assert.deepEqual(outcome.args, { a: "2" });
    assert.equal(called, false);
  });

  test("arguments that are not an object are invalid_arguments", async () => {
    for (const args of [null, "a=1", [1, 2], 3]) {
      assert.equal(failure(await run([add], "add", args)).kind, "invalid_arguments");
    }
  });

  test("a tool that throws: execution_error with its message and the thrown value as cause", async () => {
    const boom = new Error("disk full");
    const tool = defineTool({
      name: "save",
      description: "Saves.",
      parameters: z.object({ path: z.string() }),
      execute: () => {
        throw boom;
      },
    });
    const outcome = failure(await run([tool], "save", { path: "/tmp/x" }));
    assert.equal(outcome.kind, "execution_error");
    assert.equal(outcome.error, "disk full");
    assert.equal(outcome.cause, boom);
    assert.deepEqual(outcome.args, { path: "/tmp/x" });
  });

  test("a tool that rejects, or throws a non-Error, is an execution_error too", async () => {
    const rejects = defineTool({
      name: "rejects",
      description: "Rejects.",
      parameters: z.object({}),
      execute: () => Promise.reject(new TypeError("x is not a function")),
    });
    const throwsString = defineTool({
      name: "throws_string",
      description: "Throws a string.",
      parameters: z.object({}),
      execute: () => {
        throw "plain string";
      },
    });
    const a = failure(await run([rejects, throwsString], "rejects", {}));
    assert.equal(a.kind, "execution_error");
    assert.equal(a.error, "TypeError: x is not a function");
    const b = failure(await run([rejects, throwsString], "throws_string", {}));
    assert.equal(b.kind, "execution_error");
    assert.equal(b.error, "plain string");
  });

  test("a refinement that throws is reported, not thrown", async () => {
    const tool = defineTool({
      name: "refined",
      description: "Has a throwing refinement.",
      parameters: z.object({ a: z.number() }).refine(() => {
        throw new Error("refinement bug");
      }),
      execute: () => 1,
    });
    const outcome = failure(await run([tool], "refined", { a: 1 }));
    assert.equal(outcome.kind, "execution_error");
    assert.match(outcome.error, /refinement bug/);
  });

  test("async refinements work", async () => {
    const tool = defineTool({
      name: "checked",
      description: "Async check.",
      parameters: z.object({ a: z.number() }).refine(async ({ a }) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return a > 0;
      }, "a must be positive"),
      execute: ({ a }) => a,
    });
    assert.equal(success(await run([tool], "checked", { a: 1 })).output, "1");
    assert.match(failure(await run([tool], "checked", { a: -1 })).error, /a must be positive/);
  });

  describe("output", () => {
    test("strings as-is", async () => {
      const outcome = success(await run([returning(() => 'line 1\n"quoted"')], "value", {}));
      assert.equal(outcome.output, 'line 1\n"quoted"');
    });

    test("other values as JSON", async () => {
      const cases: [unknown, string][] = [
        [{ a: [1, "x"], b: null }, '{"a":[1,"x"],"b":null}'],
        [[1, 2], "[1,2]"],
        [42, "42"],
        [true, "true"],
        [null, "null"],
        [new Date(0), '"1970-01-01T00:00:00.000Z"'],
      ];
      for (const [value, expected] of cases) {
        const outcome = success(await run([returning(() => value)], "value", {}));
        assert.equal(outcome.output, expected);
        assert.equal(outcome.value, value);
      }
    });

    test('undefined as "(no result)"', async () => {
      assert.equal(
        success(await run([returning(() => undefined)], "value", {})).output,
        "(no result)",
      );
    });

    test("BigInt and circular values never throw", async () => {
      assert.equal(success(await run([returning(() => 12n)], "value", {})).output, "12");
      assert.equal(
        success(await run([returning(() => ({ big: 2n ** 70n }))], "value", {})).output,
        '{"big":"1180591620717411303424"}',
      );
      const circular: Record<string, unknown> = { name: "loop" };
      circular.self = circular;
      assert.equal(
        success(await run([returning(() => circular)], "value", {})).output,
        '{"name":"loop","self":"[Circular]"}',
      );
      // A shared (not circular) reference is serialized twice, not marked.
      const shared = { n: 1 };
      const withCycleAndShared: Record<string, unknown> = { a: shared, b: shared, big: 1n };
      assert.equal(
        success(await run([returning(() => withCycleAndShared)], "value", {})).output,
        '{"a":{"n":1},"b":{"n":1},"big":"1"}',
      );
    });

    test("values JSON cannot express fall back to String(); functions and symbols are tool errors", async () => {
      // Issue 15: a function is no longer sent as its source code, nor a symbol as "Symbol(s)".
      const fn = function namedFunction() {};
      const fnOutcome = failure(await run([returning(() => fn)], "value", {}));
      assert.equal(fnOutcome.kind, "execution_error");
      assert.equal(fnOutcome.error, "The tool returned a function instead of a result.");
      assert.ok(!fnOutcome.error.includes("namedFunction"));
      const symOutcome = failure(await run([returning(() => Symbol("s"))], "value", {}));
      assert.equal(symOutcome.error, "The tool returned a symbol instead of a result.");
      const throwingToJSON = {
        toJSON: () => {
          throw new Error("no");
        },
      };
      assert.equal(
        success(await run([returning(() => throwingToJSON)], "value", {})).output,
        "[object Object]",
      );
      const bare = Object.assign(Object.create(null), {
        toJSON: () => {
          throw new Error("no");
        },
      });
      assert.equal(
        success(await run([returning(() => bare)], "value", {})).output,
        "[object Object]",
      );
    });

    test("output longer than maxResultChars is cut with a note", async () => {
      const tool = returning(() => "x".repeat(30));
      assert.equal(
        success(await run([tool], "value", {}, { maxResultChars: 10 })).output,
        `${"x".repeat(10)}\n…[truncated 20 more characters]`,
      );
      assert.equal(
        success(await run([tool], "value", {}, { maxResultChars: 30 })).output,
        "x".repeat(30),
      );
      assert.equal(
        success(await run([tool], "value", {}, { maxResultChars: Infinity })).output,
        "x".repeat(30),
      );
    });

    test("the default limit is 20_000 characters", async () => {
      const outcome = success(await run([returning(() => "y".repeat(25_000))], "value", {}));
      assert.equal(outcome.output, `${"y".repeat(20_000)}\n…[truncated 5000 more characters]`);
      const exact = success(await run([returning(() => "y".repeat(20_000))], "value", {}));
      assert.equal(exact.output.length, 20_000);
    });

    test("truncation does not split a surrogate pair", async () => {
      const outcome = success(
        await run([returning(() => "ab😀cd")], "value", {}, { maxResultChars: 3 }),
      );
      assert.equal(outcome.output, "ab\n…[truncated 4 more characters]");
    });

    test("JSON output is truncated too", async () => {
      const outcome = success(
        await run([returning(() => ({ list: [1, 2, 3, 4, 5] }))], "value", {}, {
          maxResultChars: 8,
        }),
      );
      assert.equal(outcome.output, '{"list":\n…[truncated 12 more characters]');
    });

    test("rejects an invalid maxResultChars with a RangeError", async () => {
      for (const maxResultChars of [0, -1, 1.5, NaN]) {
        await assert.rejects(run([add], "add", { a: 1, b: 2 }, { maxResultChars }), RangeError);
      }
    });
  });

  describe("aborts", () => {
    test("an already aborted signal rejects with its reason, unchanged, before running", async () => {
      let called = false;
      const tool = defineTool({
        name: "t",
        description: "d",
        parameters: z.object({}),
        execute: () => {
          called = true;
        },
      });
      const reason = { custom: "reason" };
      const controller = new AbortController();
      controller.abort(reason);
      await assert.rejects(
        run([tool], "t", {}, { signal: controller.signal }),
        (error: unknown) => error === reason,
      );
      assert.equal(called, false);
    });

    test("an aborted signal wins over an unknown tool", async () => {
      const controller = new AbortController();
      const reason = new Error("stop");
      controller.abort(reason);
      await assert.rejects(
        run([add], "nope", {}, { signal: controller.signal }),
        (error: unknown) => error === reason,
      );
    });

    test("a tool that rejects because of the abort: the signal's reason, not the tool's error", async () => {
      const controller = new AbortController();
      const reason = new DOMException("user cancelled", "AbortError");
      const tool = defineTool({
        name: "slow",
        description: "Waits for abort.",
        parameters: z.object({}),
        execute: (_args, { signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener("abort", () => reject(new Error("tool saw abort")));
          }),
      });
      const pending = run([tool], "slow", {}, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 5);
      await assert.rejects(pending, (error: unknown) => error === reason);
    });

    test("a tool that ignores the signal does not hold up the abort", async () => {
      const controller = new AbortController();
      const reason = new Error("cancelled");
      const tool = defineTool({
        name: "hang",
        description: "Never settles.",
        parameters: z.object({}),
        execute: () => new Promise(() => {}),
      });
      const pending = run([tool], "hang", {}, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 5);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stillPending = new Promise((resolve) => {
        timer = setTimeout(resolve, 2_000, "still pending");
      });
      try {
        await assert.rejects(
          Promise.race([pending, stillPending]),
          (error: unknown) => error === reason,
        );
      } finally {
        clearTimeout(timer);
      }
    });

    test("an abort during a call that then succeeds still rejects", async () => {
      const controller = new AbortController();
      const reason = new Error("aborted mid-call");
      const tool = defineTool({
        name: "finish",
        description: "Aborts the run, then returns.",
        parameters: z.object({}),
        execute: () => {
          controller.abort(reason);
          return "done";
        },
      });
      await assert.rejects(
        run([tool], "finish", {}, { signal: controller.signal }),
        (error: unknown) => error === reason,
      );
    });

    test("an abort that lands after the tool returned, before runTool resumes, still rejects", async () => {
      const controller = new AbortController();
      const reason = new Error("aborted just after");
      const tool = defineTool({
        name: "late",
        description: "Returns, then the run is aborted two microtasks later.",
        parameters: z.object({}),
        execute: () => {
          queueMicrotask(() => queueMicrotask(() => controller.abort(reason)));
          return "done";
        },
      });
      await assert.rejects(
        run([tool], "late", {}, { signal: controller.signal }),
        (error: unknown) => error === reason,
      );
    });

    test("an abort while the tool throws rethrows the reason, not an execution_error", async () => {
      const controller = new AbortController();
      const reason = new Error("aborted");
      const tool = defineTool({
        name: "fails",
        description: "Aborts, then throws.",
        parameters: z.object({}),
        execute: () => {
          controller.abort(reason);
          throw new Error("tool error");
        },
      });
      await assert.rejects(
        run([tool], "fails", {}, { signal: controller.signal }),
        (error: unknown) => error === reason,
      );
    });
  });

  describe("prototype pollution", () => {
    // The classic vulnerable merge: walks own enumerable keys, recursing into objects.
    function naiveMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
      for (const key in source) {
        const value = source[key];
        if (value !== null && typeof value === "object") {
          if (target[key] === undefined || target[key] === null) target[key] = {};
          naiveMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
        } else {
          target[key] = value;
        }
      }
    }

    const ownNames = () => Reflect.ownKeys(Object.prototype).map(String).sort();

    const attack = JSON.parse(`{
      "__proto__": { "polluted": "via __proto__", "admin": true },
      "constructor": { "prototype": { "polluted": "via constructor.prototype" } },
      "prototype": { "polluted": "via prototype" },
      "nested": {
        "__proto__": { "polluted": "via nested __proto__" },
        "constructor": { "prototype": { "polluted": "via nested constructor" } },
        "list": [{ "__proto__": { "polluted": "via array item" } }]
      },
      "admin": false
    }`);

    test("JSON.parse really produced the dangerous own keys (the test is meaningful)", () => {
      assert.ok(Object.hasOwn(attack, "__proto__"));
      assert.ok(Object.hasOwn(attack.nested, "__proto__"));
      assert.ok(Object.hasOwn(attack.nested.list[0], "__proto__"));
    });

    test("a loose schema plus naive merge code cannot reach Object.prototype", async () => {
      const before = ownNames();
      let received: Record<string, unknown> | undefined;
      const tool = defineTool({
        name: "merge",
        description: "Merges its arguments into a settings object.",
        parameters: z.looseObject({ nested: z.unknown() }),
        execute: (args) => {
          received = args;
          const settings: Record<string, unknown> = {};
          naiveMerge(settings, args);
          return settings;
        },
      });
      try {
        const outcome = success(await run([tool], "merge", attack));
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(({} as Record<string, unknown>).admin, undefined);
        assert.deepEqual(ownNames(), before);
        assert.ok(received);
        assert.equal(Object.getPrototypeOf(received), Object.prototype);
        for (const key of ["__proto__", "constructor", "prototype"]) {
          assert.ok(!Object.hasOwn(received, key), `top-level ${key}`);
          assert.ok(!Object.hasOwn(received.nested as object, key), `nested ${key}`);
        }
        const item = (received.nested as { list: object[] }).list[0]!;
        assert.ok(!Object.hasOwn(item, "__proto__"));
        assert.equal(Object.getPrototypeOf(item), Object.prototype);
        assert.deepEqual(outcome.args, { nested: { list: [{}] }, admin: false });
      } finally {
        // Keep a failure here from cascading into every other test.
        for (const key of ["polluted", "admin"]) {
          delete (Object.prototype as Record<string, unknown>)[key];
        }
      }
    });

    test("passthrough schemas are protected the same way", async () => {
      let received: Record<string, unknown> | undefined;
      const tool = defineTool({
        name: "pass",
        description: "Passes everything through.",
        parameters: z.object({}).passthrough(),
        execute: (args) => {
          received = args;
        },
      });
      try {
        success(await run([tool], "pass", attack));
        assert.ok(received);
        assert.equal(Object.getPrototypeOf(received), Object.prototype);
        assert.deepEqual(Object.keys(received).sort(), ["admin", "nested"]);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      } finally {
        delete (Object.prototype as Record<string, unknown>).polluted;
      }
    });

    test("a __proto__ key cannot supply a declared field through the prototype", async () => {
      let received: { admin: boolean } | undefined;
      const tool = defineTool({
        name: "strict",
        description: "Has a defaulted flag.",
        parameters: z.object({ admin: z.boolean().default(false) }),
        execute: (args) => {
          received = args;
        },
      });
      success(await run([tool], "strict", JSON.parse('{"__proto__":{"admin":true}}')));
      assert.deepEqual(received, { admin: false });
    });

    test("the caller's arguments object is not modified", async () => {
      const args = JSON.parse('{"__proto__":{"x":1},"a":1,"b":2}');
      success(await run([add], "add", args));
      assert.ok(Object.hasOwn(args, "__proto__"));
    });

    test("circular and very deep hand-built arguments are copied without recursion", async () => {
      let deep: Record<string, unknown> = {};
      const root = deep;
      for (let i = 0; i < 100_000; i++) {
        const next: Record<string, unknown> = {};
        deep.child = next;
        deep = next;
      }
      const circular: Record<string, unknown> = { a: 1 };
      circular.self = circular;
      let received: Record<string, unknown> | undefined;
      const tool = defineTool({
        name: "any",
        description: "Takes anything.",
        parameters: z.object({ deep: z.unknown(), circular: z.unknown() }),
        execute: (args) => {
          received = args as Record<string, unknown>;
        },
      });
      success(await run([tool], "any", { deep: root, circular }));
      const copy = received!.circular as Record<string, unknown>;
      assert.notEqual(copy, circular);
      assert.equal(copy.self, copy);
    });
  });
});
