import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import {
  type Envelope,
  EnvelopeSchema,
  parseEnvelope,
  type ParseOptions,
  type ParseResult,
} from "../src/protocols/_envelope_parser.ts";
import * as prompt from "../src/protocols/_envelope_prompt.ts";
import { buildResponseFormat as buildFormat } from "../src/protocols/_response_format.ts";
import { MAX_STEPS_FALLBACK_TEXT } from "../src/agent_types.ts";
import { type AnyTool, defineTool, type ToolOutcome } from "../src/tools.ts";
import { describeTools, ToolSchemaError } from "../src/tool_schema.ts";

// The protocol's builders take described tools (schemas derived once per agent).
const buildSystemPrompt = (tools: readonly AnyTool[], instructions?: string) =>
  prompt.buildSystemPrompt(describeTools(tools), instructions);
const buildResponseFormat = (tools: readonly AnyTool[], options?: { finalOnly?: boolean }) =>
  buildFormat(describeTools(tools), options);
const correctionMessage = (reason: string, tools: readonly AnyTool[]) =>
  prompt.correctionMessage(reason, describeTools(tools));
const { maxStepsMessage, toolResultMessage } = prompt;

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({
    a: z.number().describe("first addend"),
    b: z.number(),
  }),
  execute: ({ a, b }) => a + b,
});

const search = defineTool({
  name: "web.search",
  description: "Searches the web for a query.",
  parameters: z.object({
    query: z.string(),
    limit: z.number().int().default(5),
  }),
  execute: ({ query }) => [query],
});

const FINAL = '{"type":"final","content":"42"}';
const CALL = '{"type":"tool_call","tool":"add","arguments":{"a":2,"b":3}}';

function accepted(raw: string, options?: ParseOptions): Extract<ParseResult, { ok: true }> {
  const result = parseEnvelope(raw, options);
  if (!result.ok) assert.fail(`expected ${JSON.stringify(raw)} to parse, got: ${result.reason}`);
  return result;
}

function rejected(raw: string, options?: ParseOptions): Extract<ParseResult, { ok: false }> {
  const result = parseEnvelope(raw, options);
  if (result.ok) assert.fail(`expected ${JSON.stringify(raw)} to be rejected`);
  return result;
}

const final = (content: string): Envelope => ({ type: "final", content });

describe("EnvelopeSchema", () => {
  test("accepts both shapes and drops unknown fields", () => {
    assert.deepEqual(
      EnvelopeSchema.parse({ type: "final", content: "hi", mood: "happy" }),
      final("hi"),
    );
    assert.deepEqual(
      EnvelopeSchema.parse({ type: "tool_call", tool: "add", arguments: { a: 1 } }),
      { type: "tool_call", tool: "add", arguments: { a: 1 } },
    );
  });

  test("a tool_call without arguments gets a fresh {} each time", () => {
    const first = EnvelopeSchema.parse({ type: "tool_call", tool: "now" });
    const second = EnvelopeSchema.parse({ type: "tool_call", tool: "now" });
    assert.deepEqual(first, { type: "tool_call", tool: "now", arguments: {} });
    assert.ok(first.type === "tool_call" && second.type === "tool_call");
    assert.notEqual(first.arguments, second.arguments);
  });

  test("rejects wrong shapes", () => {
    for (
      const value of [
        {},
        { type: "final" },
        { type: "final", content: 1 },
        { type: "tool_call" },
        { type: "tool_call", tool: "x", arguments: [] },
        { type: "tool_call", tool: "x", arguments: null },
        { type: "answer", content: "x" },
      ]
    ) {
      assert.equal(EnvelopeSchema.safeParse(value).success, false, JSON.stringify(value));
    }
  });
});

describe("parseEnvelope() accepts", () => {
  test("a bare final envelope", () => {
    const result = accepted(FINAL);
    assert.deepEqual(result.envelope, final("42"));
    assert.equal(result.reasoning, "");
  });

  test("a tool call with arguments", () => {
    assert.deepEqual(accepted(CALL).envelope, {
      type: "tool_call",
      tool: "add",
      arguments: { a: 2, b: 3 },
    });
  });

  test("a tool call without arguments, meaning {}", () => {
    assert.deepEqual(accepted('{"type":"tool_call","tool":"now"}').envelope, {
      type: "tool_call",
      tool: "now",
      arguments: {},
    });
  });

  test("surrounding whitespace, including CRLF and a BOM", () => {
    assert.deepEqual(accepted(`\uFEFF \r\n\t${FINAL}\r\n  `).envelope, final("42"));
  });

  test("pretty-printed JSON", () => {
    assert.deepEqual(
      accepted(JSON.stringify(JSON.parse(CALL), null, 2)).envelope.type,
      "tool_call",
    );
  });

  test("unknown extra fields, which are dropped", () => {
    assert.deepEqual(
      accepted('{"type":"final","content":"x","confidence":0.9}').envelope,
      final("x"),
    );
  });

  test("a think block before the JSON; its text becomes reasoning", () => {
    const result = accepted(`<think>\nThe user wants 42.\n</think>\n\n${FINAL}`);
    assert.deepEqual(result.envelope, final("42"));
    assert.equal(result.reasoning, "The user wants 42.");
  });

  test("several think blocks before and after, joined with newlines; empty ones skipped", () => {
    const raw =
      `<think>one</think> <think></think>\n<think> two </think>${CALL}\n<think>three</think>  `;
    const result = accepted(raw);
    assert.equal(result.envelope.type, "tool_call");
    assert.equal(result.reasoning, "one\ntwo\nthree");
  });

  test("a ```json fence", () => {
    assert.deepEqual(accepted("```json\n" + FINAL + "\n```").envelope, final("42"));
  });

  test("a bare ``` fence", () => {
    assert.deepEqual(accepted("```\n" + FINAL + "\n```").envelope, final("42"));
  });

  test("a fence with surrounding whitespace, think blocks and an uppercase JSON tag", () => {
    const result = accepted("<think>r</think>\n\n  ```JSON\r\n" + CALL + "\r\n```  \n");
    assert.equal(result.envelope.type, "tool_call");
    assert.equal(result.reasoning, "r");
  });

  test("think tags, fences and braces inside JSON strings are content, not syntax", () => {
    const content = '<think>not reasoning</think> ```json {"x": [1, 2]} ``` } ] \\ "';
    const raw = JSON.stringify({ type: "final", content });
    assert.deepEqual(accepted(raw).envelope, final(content));
    assert.deepEqual(accepted("```json\n" + raw + "\n```").envelope, final(content));
    assert.deepEqual(accepted(`<think>a</think>${raw}<think>b</think>`).envelope, final(content));
    assert.deepEqual(
      accepted(JSON.stringify({ type: "final", content: "<think>" })).envelope,
      final("<think>"),
    );
  });

  test("nesting exactly at maxDepth", () => {
    // envelope (1) → arguments (2) → x (3)
    const raw = '{"type":"tool_call","tool":"t","arguments":{"x":[1]}}';
    assert.equal(accepted(raw, { maxDepth: 3 }).envelope.type, "tool_call");
    rejected(raw, { maxDepth: 2 });
  });

  test("brackets inside strings do not count towards depth", () => {
    const content = "[".repeat(10_000) + "{".repeat(10_000);
    assert.deepEqual(accepted(JSON.stringify({ type: "final", content })).envelope, final(content));
  });

  test("a reply of exactly maxLength characters", () => {
    assert.equal(accepted(FINAL, { maxLength: FINAL.length }).envelope.type, "final");
  });

  test("property: any final content round-trips, bare, fenced and after a think block", () => {
    const tricky = fc.constantFrom(
      "<think>",
      "</think>",
      "```",
      "```json\n",
      "{",
      "}",
      "[",
      "]",
      '"',
      "\\",
      "\n",
      "\u2028",
      "\uFEFF",
      "\ud800",
      "__proto__",
    );
    const content = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.string({ unit: "grapheme" }),
      fc.array(fc.oneof(tricky, fc.string({ maxLength: 3 }))).map((parts) => parts.join("")),
    );
    fc.assert(
      fc.property(content, (s) => {
        const json = JSON.stringify({ type: "final", content: s });
        for (
          const raw of [json, "```json\n" + json + "\n```", `<think>hmm</think>\n${json}`]
        ) {
          const result = parseEnvelope(raw);
          if (!result.ok) throw new Error(`rejected ${JSON.stringify(raw)}: ${result.reason}`);
          assert.equal(result.envelope.type, "final");
          assert.equal((result.envelope as { content: string }).content, s);
        }
      }),
      { seed: 20240611, numRuns: 500 },
    );
  });
});

describe("parseEnvelope() rejects", () => {
  test("an empty reply", () => {
    for (const raw of ["", "   \n\t "]) {
      assert.match(
        rejected(raw).reason,
        /^The reply was empty\. Reply with exactly one JSON object/,
      );
    }
  });

  test("a reply with only reasoning, keeping the reasoning", () => {
    const result = rejected("<think>I am thinking</think>\n");
    assert.match(result.reason, /only reasoning .* no JSON object/);
    assert.equal(result.reasoning, "I am thinking");
  });

  test("an unclosed <think> before the JSON", () => {
    const result = rejected(`<think>still thinking ${FINAL}`);
    assert.match(result.reason, /unclosed <think> block: close it with <\/think>/);
    assert.equal(result.reasoning, `still thinking ${FINAL}`);
  });

  test("an unclosed <think> after the JSON", () => {
    assert.match(rejected(`${FINAL}\n<think>more`).reason, /unclosed <think>/);
  });

  test("text that is not JSON, quoting the parser and an excerpt", () => {
    const result = rejected("{type: final, content: 42}");
    assert.match(
      result.reason,
      /^The reply is not valid JSON \(.+\): "\{type: final, content: 42\}"/,
    );
  });

  test("plain prose, with a short excerpt", () => {
    const prose = "The answer is forty-two, as everybody knows. ".repeat(10);
    const result = rejected(prose);
    assert.match(result.reason, /^The reply is not valid JSON \(.+\): "The answer is forty-two/);
    assert.match(result.reason, /…"/);
    assert.ok(result.reason.length < 400, result.reason);
  });

  test("a truncated object, saying it is incomplete", () => {
    const result = rejected('{"type":"final","content":"The answer is');
    assert.match(
      result.reason,
      /The JSON object is incomplete: the reply ended before its closing brace/,
    );
  });

  test("JSON that is not an object, naming what it is", () => {
    const cases: [string, RegExp][] = [
      ["[1, 2]", /must be a JSON object, got an array/],
      [`[${FINAL}]`, /must be a JSON object, got an array/],
      ['"just a string"', /must be a JSON object, got a string/],
      ["42", /must be a JSON object, got a number/],
      ["true", /must be a JSON object, got a boolean/],
      ["null", /must be a JSON object, got null/],
      ["```json\n[1]\n```", /must be a JSON object, got an array/],
    ];
    for (const [raw, reason] of cases) assert.match(rejected(raw).reason, reason, raw);
  });

  test('a missing "type", listing the allowed values', () => {
    assert.match(
      rejected('{"content":"hi"}').reason,
      /no "type" field; "type" must be "tool_call" or "final"/,
    );
  });

  test('an unknown "type", listing the allowed values', () => {
    const reason = rejected('{"type":"answer","content":"hi"}').reason;
    assert.match(reason, /Unknown "type" "answer"; "type" must be "tool_call" or "final"/);
    assert.match(rejected('{"type":7}').reason, /Unknown "type" 7/);
  });

  test('a final without string "content"', () => {
    assert.match(
      rejected('{"type":"final"}').reason,
      /"final" reply needs "content" as a string, got nothing \(it is missing\)/,
    );
    assert.match(
      rejected('{"type":"final","content":{"text":"hi"}}').reason,
      /"final" reply needs "content" as a string, got object/,
    );
    assert.match(
      rejected('{"type":"final","content":null}').reason,
      /"content" as a string, got null/,
    );
  });

  test('a tool_call without a string "tool"', () => {
    assert.match(
      rejected('{"type":"tool_call","arguments":{}}').reason,
      /"tool_call" reply needs "tool" as a string naming the tool, got nothing/,
    );
    assert.match(
      rejected('{"type":"tool_call","tool":["add"]}').reason,
      /needs "tool" as a string naming the tool, got an array/,
    );
  });

  test('"arguments" that are not an object', () => {
    const cases: [string, string][] = [
      ["[1,2]", "an array"],
      ['"{\\"a\\":1}"', "a string"],
      ["null", "null"],
      ["3", "a number"],
    ];
    for (const [args, kind] of cases) {
      const raw = `{"type":"tool_call","tool":"add","arguments":${args}}`;
      assert.match(
        rejected(raw).reason,
        new RegExp(`"arguments" must be a JSON object, got ${kind}`),
      );
    }
  });

  test("text before the JSON", () => {
    const result = rejected(`Sure! Here is my answer: ${FINAL}`);
    assert.match(result.reason, /^Found text before the JSON object: "Sure! Here is my answer: "/);
    assert.match(
      rejected("Here:\n```json\n" + FINAL + "\n```").reason,
      /text before the JSON object/,
    );
  });

  test("text after the JSON", () => {
    assert.match(
      rejected(`${FINAL}\nHope this helps!`).reason,
      /^Found text after the JSON object: "Hope this helps!"/,
    );
  });

  test("two JSON objects", () => {
    assert.match(rejected(`${CALL}\n${FINAL}`).reason, /text after the JSON object: "\{\\"type/);
  });

  test("a second fence or text after the fence", () => {
    assert.match(
      rejected("```json\n" + FINAL + "\n```\nDone.").reason,
      /text after the JSON object: "Done\."/,
    );
    assert.match(
      rejected("```json\n" + FINAL + "\nmore\n```").reason,
      /text after the JSON object inside the code fence/,
    );
  });

  test("an unclosed fence", () => {
    assert.match(
      rejected("```json\n" + FINAL).reason,
      /code fence around the JSON object is not closed/,
    );
  });

  test("a fence of another language", () => {
    assert.match(rejected("```python\nprint(42)\n```").reason, /"python" code block/);
  });

  test("a reply longer than maxLength, without parsing it", () => {
    assert.match(
      rejected(FINAL, { maxLength: FINAL.length - 1 }).reason,
      /^The reply is too long \(31 characters; the limit is 30\)/,
    );
  });

  test("a reply longer than the default 1_000_000 characters (and not one of exactly that)", () => {
    const reply = (length: number) => {
      const raw = JSON.stringify({ type: "final", content: "x".repeat(length - 29) });
      assert.equal(raw.length, length);
      return raw;
    };
    assert.equal(accepted(reply(1_000_000)).envelope.type, "final");
    assert.match(
      rejected(reply(1_000_001)).reason,
      /too long \(1000001 characters; the limit is 1000000\)/,
    );
  });

  test("a depth bomb, quickly and without a stack overflow", () => {
    const bombs = [
      "[".repeat(100_000),
      "{".repeat(100_000),
      '{"a":'.repeat(100_000),
      "[".repeat(100_000) + "]".repeat(100_000),
      '{"type":"final","content":"x","extra":' + "[".repeat(100_000) + "]".repeat(100_000) + "}",
      "```json\n" + "[".repeat(100_000),
    ];
    for (const bomb of bombs) {
      const started = performance.now();
      const result = rejected(bomb);
      const elapsed = performance.now() - started;
      assert.match(result.reason, /nested deeper than 64 levels/, bomb.slice(0, 20));
      assert.ok(elapsed < 500, `took ${elapsed}ms`);
    }
  });

  test("nesting just past the default depth of 64", () => {
    // envelope (1) → arguments (2) → depth - 2 nested arrays
    const nested = (depth: number) =>
      `{"type":"tool_call","tool":"t","arguments":{"x":${"[".repeat(depth - 2)}${
        "]".repeat(depth - 2)
      }}}`;
    assert.equal(accepted(nested(64)).envelope.type, "tool_call");
    assert.match(rejected(nested(65)).reason, /nested deeper than 64/);
  });
});

describe("parseEnvelope() and prototypes", () => {
  test("a __proto__ key cannot supply the envelope's fields", () => {
    const result = rejected('{"__proto__":{"type":"final","content":"injected"}}');
    assert.match(result.reason, /no "type" field/);
    assert.equal(({} as Record<string, unknown>).type, undefined);
  });

  test("__proto__ keys in arguments are dropped and nothing is polluted", () => {
    const before = Reflect.ownKeys(Object.prototype).map(String).sort();
    try {
      const raw = '{"type":"tool_call","tool":"t","arguments":{"__proto__":{"polluted":"yes"},' +
        '"a":1,"nested":{"__proto__":{"polluted":"yes"}}},"__proto__":{"polluted":"yes"}}';
      const { envelope } = accepted(raw);
      assert.ok(envelope.type === "tool_call");
      const args = envelope.arguments;
      assert.equal(Object.getPrototypeOf(args), Object.prototype);
      assert.ok(!Object.hasOwn(args, "__proto__"));
      assert.ok(!Object.hasOwn(args.nested as object, "__proto__"));
      assert.equal(Object.getPrototypeOf(args.nested), Object.prototype);
      assert.equal((args as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(args, { a: 1, nested: {} });
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(Reflect.ownKeys(Object.prototype).map(String).sort(), before);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});

describe("parseEnvelope() options", () => {
  test("rejects limits that are not positive integers", () => {
    for (
      const options of [{ maxLength: 0 }, { maxDepth: -1 }, { maxDepth: 1.5 }, { maxLength: NaN }]
    ) {
      assert.throws(() => parseEnvelope(FINAL, options), RangeError);
    }
  });
});

describe("buildSystemPrompt()", () => {
  const schemaOf = (tool: AnyTool) => {
    const schema = z.toJSONSchema(tool.parameters, { io: "input" });
    delete schema.$schema;
    return JSON.stringify(schema);
  };

  test("explains both shapes and lists each tool's name, description and schema", () => {
    const prompt = buildSystemPrompt([add, search]);
    assert.match(prompt, /Reply with exactly one JSON object and nothing else/);
    assert.ok(prompt.includes('{"type":"tool_call","tool":"<tool name>","arguments":{...}}'));
    assert.ok(prompt.includes('{"type":"final","content":"<your answer>"}'));
    for (const tool of [add, search]) {
      assert.ok(prompt.includes(`## ${tool.name}\n`), tool.name);
      assert.ok(prompt.includes(tool.description), tool.description);
      assert.ok(prompt.includes(`Arguments schema: ${schemaOf(tool)}`), schemaOf(tool));
    }
    assert.ok(prompt.includes('"description":"first addend"'));
    assert.ok(!prompt.includes("$schema"));
    assert.ok(!prompt.includes("# Instructions"));
  });

  test("describes the input side: defaulted fields are optional", () => {
    const prompt = buildSystemPrompt([search]);
    assert.ok(prompt.includes('"required":["query"]'));
  });

  test("appends the caller's instructions under a heading, last", () => {
    const prompt = buildSystemPrompt([add], "  Always answer in French.\n");
    assert.ok(prompt.endsWith("# Instructions\n\nAlways answer in French."), prompt);
  });

  test("blank instructions add no heading", () => {
    assert.ok(!buildSystemPrompt([add], "  ").includes("# Instructions"));
  });

  test("with no tools, offers only the final shape", () => {
    const prompt = buildSystemPrompt([], "Be brief.");
    assert.ok(prompt.includes('{"type":"final","content":"<your answer>"}'));
    assert.ok(!prompt.includes("tool_call"));
    assert.ok(!prompt.includes("# Tools"));
    assert.match(prompt, /No tools are available/);
    assert.match(prompt, /Reply with exactly one JSON object and nothing else/);
    assert.ok(prompt.endsWith("# Instructions\n\nBe brief."));
  });

  test("a type JSON cannot express is rejected when the tool is defined; transforms of JSON types are fine", () => {
    assert.throws(
      () =>
        defineTool({
          name: "remind",
          description: "Sets a reminder.",
          parameters: z.object({ at: z.date(), note: z.string().transform((s) => s.trim()) }),
          execute: () => "ok",
        }),
      (err: unknown) => err instanceof ToolSchemaError && err.field === "at",
    );
    const trimmed = defineTool({
      name: "remind",
      description: "Sets a reminder.",
      parameters: z.object({ at: z.iso.datetime(), note: z.string().transform((s) => s.trim()) }),
      execute: () => "ok",
    });
    assert.match(buildSystemPrompt([trimmed]), /## remind/);
  });
});

type Json = Record<string, unknown>;

function branchesOf(tools: AnyTool[], options?: { finalOnly?: boolean }): Json[] {
  const format = buildResponseFormat(tools, options);
  assert.equal(format.type, "json_schema");
  assert.ok(format.type === "json_schema");
  return (format.json_schema.schema as { anyOf: Json[] }).anyOf;
}

const FINAL_BRANCH = {
  type: "object",
  properties: { type: { type: "string", const: "final" }, content: { type: "string" } },
  required: ["type", "content"],
  additionalProperties: false,
};

describe("buildResponseFormat()", () => {
  test("is a strict json_schema named agent_reply", () => {
    const format = buildResponseFormat([add]);
    assert.ok(format.type === "json_schema");
    assert.equal(format.json_schema.name, "agent_reply");
    assert.equal(format.json_schema.strict, true);
    assert.deepEqual(Object.keys(format.json_schema.schema as Json), ["anyOf"]);
  });

  test("has the final branch and one tool_call branch per tool", () => {
    const branches = branchesOf([add, search]);
    assert.equal(branches.length, 3);
    assert.deepEqual(branches[0], FINAL_BRANCH);
    for (const [index, tool] of [add, search].entries()) {
      const expected = z.toJSONSchema(tool.parameters, { io: "input" });
      delete expected.$schema;
      assert.deepEqual(branches[index + 1], {
        type: "object",
        properties: {
          type: { type: "string", const: "tool_call" },
          tool: { type: "string", const: tool.name },
          arguments: expected,
        },
        required: ["type", "tool", "arguments"],
        additionalProperties: false,
      });
    }
  });

  test('"type" is the first property of every branch, also once serialized', () => {
    const format = buildResponseFormat([add, search]);
    assert.ok(format.type === "json_schema");
    const branches = (JSON.parse(JSON.stringify(format.json_schema.schema)) as { anyOf: Json[] })
      .anyOf;
    for (const branch of branches) {
      assert.equal(Object.keys(branch.properties as Json)[0], "type");
    }
    assert.deepEqual(Object.keys(branches[0]!.properties as Json), ["type", "content"]);
    assert.deepEqual(Object.keys(branches[1]!.properties as Json), ["type", "tool", "arguments"]);
  });

  test("contains no $schema keys", () => {
    assert.ok(!JSON.stringify(buildResponseFormat([add, search])).includes("$schema"));
  });

  test("finalOnly allows only the final branch", () => {
    assert.deepEqual(branchesOf([add, search], { finalOnly: true }), [FINAL_BRANCH]);
  });

  test("no tools means only the final branch", () => {
    assert.deepEqual(branchesOf([]), [FINAL_BRANCH]);
  });

  test("recursive and reused argument schemas keep resolvable $refs", () => {
    interface Node {
      name: string;
      children: Node[];
    }
    const Node: z.ZodType<Node> = z.object({
      name: z.string(),
      get children() {
        return z.array(Node);
      },
    });
    const Point = z.object({ x: z.number() }).meta({ id: "Point" });
    const tree = defineTool({
      name: "tree",
      description: "Takes a tree.",
      parameters: z.object({ root: Node, from: Point, to: Point }),
      execute: () => 1,
    });
    const self: z.ZodObject = z.object({
      label: z.string(),
      get next() {
        return self.optional();
      },
    });
    const list = defineTool({
      name: "list",
      description: "Takes a linked list.",
      parameters: self,
      execute: () => 1,
    });
    const format = buildResponseFormat([tree, list]);
    assert.ok(format.type === "json_schema");
    const root = format.json_schema.schema as Json;
    const refs: string[] = [];
    JSON.stringify(root, (key, value) => {
      if (key === "$ref") refs.push(value);
      return value;
    });
    assert.ok(refs.length >= 4, JSON.stringify(refs));
    for (const ref of refs) {
      assert.match(ref, /^#\/\$defs\//);
      const target = ref.slice(2).split("/").reduce<unknown>(
        (node, part) =>
          (node as Json | undefined)?.[part.replaceAll("~1", "/").replaceAll("~0", "~")],
        root,
      );
      assert.ok(target && typeof target === "object", `unresolved ${ref}`);
    }
    // The list's self-reference points at a copy of its own schema.
    const defs = root.$defs as Json;
    assert.deepEqual(Object.keys((defs.list as Json).properties as Json), ["label", "next"]);
  });
});

describe("correctionMessage()", () => {
  test("states the reason, restates both shapes and names the tools", () => {
    const message = correctionMessage('Found text after the JSON object: "Hope this helps!".', [
      add,
      search,
    ]);
    assert.ok(
      message.startsWith(
        'Your last reply could not be used: Found text after the JSON object: "Hope this helps!".',
      ),
    );
    assert.match(message, /exactly one JSON object and nothing else/);
    assert.ok(message.includes('{"type":"tool_call","tool":"<tool name>","arguments":{...}}'));
    assert.ok(message.includes('{"type":"final","content":"<your answer>"}'));
    assert.match(message, /Available tools: add, web\.search\./);
  });

  test("with no tools, offers only the final shape", () => {
    const message = correctionMessage("The reply was empty.", []);
    assert.ok(message.includes("The reply was empty."));
    assert.ok(message.includes('{"type":"final","content":"<your answer>"}'));
    assert.ok(!message.includes("tool_call"));
  });
});

describe("toolResultMessage()", () => {
  const base = { tool: "add", args: { a: 2, b: 3 }, durationMs: 1 };

  test("a success shows the output and asks for one JSON object", () => {
    const message = toolResultMessage({ ...base, ok: true, value: 5, output: "5" });
    assert.ok(message.startsWith('Tool "add" returned:\n5\n'), message);
    assert.match(message, /Reply with exactly one JSON object/);
  });

  test("a failure shows kind and error and asks for a fix", () => {
    const outcome: ToolOutcome = {
      ...base,
      ok: false,
      kind: "invalid_arguments",
      error: "✖ Invalid input: expected number, received string\n  → at a",
    };
    const message = toolResultMessage(outcome);
    assert.ok(
      message.startsWith(
        'Tool "add" failed (invalid_arguments): ✖ Invalid input: expected number, received string\n  → at a\nFix the arguments or choose another action.',
      ),
      message,
    );
    assert.match(message, /Reply with exactly one JSON object/);
  });

  test("an execution error", () => {
    const message = toolResultMessage({
      ...base,
      ok: false,
      kind: "execution_error",
      error: "disk full",
    });
    assert.ok(
      message.startsWith('Tool "add" failed (execution_error): disk full\nFix the arguments'),
    );
  });

  test("an unknown tool lists the available tools and suggests another action", () => {
    const message = toolResultMessage({
      ...base,
      tool: "multiply",
      ok: false,
      kind: "unknown_tool",
      error: 'Unknown tool "multiply". Available tools: add, web.search.',
    });
    assert.ok(
      message.startsWith(
        'Tool "multiply" failed (unknown_tool): Unknown tool "multiply". Available tools: add, web.search.\n',
      ),
    );
    assert.match(message, /Call one of the available tools or give the final answer/);
  });
});

describe("maxStepsMessage() and MAX_STEPS_FALLBACK_TEXT", () => {
  test("the message says no more tools and asks for the final shape now", () => {
    const message = maxStepsMessage();
    assert.match(message, /used all available steps/);
    assert.match(message, /no more tool calls/);
    assert.ok(message.includes('{"type":"final","content":"<your answer>"}'));
    assert.match(message, /Reply now with exactly one JSON object/);
  });

  test("the fallback text is a plain sentence for end users", () => {
    assert.equal(
      MAX_STEPS_FALLBACK_TEXT,
      "I could not finish this task within the allowed number of steps.",
    );
  });
});
