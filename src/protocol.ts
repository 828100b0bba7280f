/**
 * The agent's reply protocol. Each model reply is exactly one JSON object, an "envelope":
 *
 * ```text
 * {"type":"tool_call","tool":"<name>","arguments":{…}}
 * {"type":"final","content":"<answer>"}
 * ```
 *
 * This module holds the envelope schema, the tolerant parser for whole replies, the system
 * prompt and `response_format` that ask for envelopes, and the user messages the agent sends
 * back (tool results, corrections, the max-steps fallback).
 *
 * @module
 */
import * as z from "zod";
import type { ResponseFormat } from "./chat.ts";
import type { AnyTool, ToolOutcome } from "./tools.ts";

/**
 * One model reply, parsed: a tool call or the final answer. For `tool_call`, a missing
 * `arguments` field means `{}`.
 *
 * @example Act on an envelope
 * ```ts
 * import type { Envelope } from "@ai-agent/orchestrator";
 * const describe = (e: Envelope) =>
 *   e.type === "final" ? e.content : `${e.tool}(${JSON.stringify(e.arguments)})`;
 * ```
 */
export type Envelope =
  | { type: "tool_call"; tool: string; arguments: Record<string, unknown> }
  | { type: "final"; content: string };

/**
 * The zod schema of {@link Envelope}. Unknown extra fields are dropped; a `tool_call` without
 * `arguments` gets `{}`. Declared as `z.ZodType<Envelope>` so the schema and the type cannot
 * drift apart.
 *
 * @example Validate an object already parsed from JSON
 * ```ts
 * import { EnvelopeSchema } from "./protocol.ts";
 * const result = EnvelopeSchema.safeParse({ type: "tool_call", tool: "now" });
 * console.log(result.success && result.data); // { type: "tool_call", tool: "now", arguments: {} }
 * ```
 */
export const EnvelopeSchema: z.ZodType<Envelope> = /* @__PURE__ */ z.discriminatedUnion("type", [
  z.object({
    type: z.literal("tool_call"),
    tool: z.string(),
    // A function, so every parse gets its own object.
    arguments: z.record(z.string(), z.unknown()).default(() => ({})),
  }),
  z.object({ type: z.literal("final"), content: z.string() }),
]);

/**
 * What {@link parseEnvelope} returns. `reasoning` holds the text of the `<think>` blocks
 * around the JSON, in order (empty when there were none), on success and on failure.
 *
 * @example Branch on the result
 * ```ts
 * import { parseEnvelope } from "@ai-agent/orchestrator";
 * const result = parseEnvelope('<think>easy</think>{"type":"final","content":"4"}');
 * if (result.ok) console.log(result.reasoning, result.envelope);
 * else console.error(result.reason);
 * ```
 */
export type ParseResult =
  | { ok: true; envelope: Envelope; reasoning: string }
  | { ok: false; reason: string; reasoning: string };

/**
 * Limits for {@link parseEnvelope}.
 *
 * @example Tighter limits for a small model
 * ```ts
 * import { parseEnvelope } from "@ai-agent/orchestrator";
 * import { type ParseOptions } from "./protocol.ts";
 * const options: ParseOptions = { maxLength: 100_000, maxDepth: 16 };
 * parseEnvelope('{"type":"final","content":"hi"}', options);
 * ```
 */
export interface ParseOptions {
  /**
   * Longer replies are rejected without being parsed.
   * @default {1_000_000}
   */
  maxLength?: number;
  /**
   * Maximum nesting of JSON objects and arrays (the envelope itself is depth 1).
   * @default {64}
   */
  maxDepth?: number;
}

const THINK_OPEN = "<think>";
const THINK_CLOSE = "</think>";
const FENCE = "```";
const FINAL_SHAPE = '{"type":"final","content":"<your answer>"}';
const TOOL_CALL_SHAPE = '{"type":"tool_call","tool":"<tool name>","arguments":{...}}';
const ONE_OBJECT = "Reply with exactly one JSON object and nothing else.";

/**
 * Parses one whole model reply into an {@link Envelope}, tolerating what models commonly wrap
 * around it and explaining precisely, in words a model can act on, anything else.
 *
 * Tolerated:
 * - whitespace around everything;
 * - any number of complete `<think>…</think>` blocks before and after the JSON (their trimmed,
 *   non-empty inner texts become `reasoning`, joined with `"\n"`);
 * - one markdown code fence around the JSON: `` ```json `` or a bare `` ``` ``;
 * - extra fields in the object (dropped), and a `tool_call` without `arguments` (means `{}`).
 *
 * Violations (`ok: false`, with a `reason`): an empty reply; an unclosed `<think>`; text that
 * is not JSON (with the parser's message and an excerpt); JSON that is not an object; a missing
 * or unknown `"type"`; a `final` without a string `"content"`; a `tool_call` without a string
 * `"tool"` or with `"arguments"` that is not an object; text before or after the JSON; a reply
 * longer than `maxLength`; nesting deeper than `maxDepth` (checked by scanning the text before
 * parsing, so `"[".repeat(1e6)` is rejected in linear time without recursion).
 *
 * The JSON is read with `JSON.parse` (which never touches prototypes) and `"__proto__"` keys are
 * dropped, so nothing in a reply can become a prototype.
 *
 * Whether the tool exists and the arguments fit its schema is not checked here: those are
 * tool-level problems reported by `runTool`.
 *
 * @param raw The model's reply text, complete.
 * @param options Length and depth limits.
 * @returns The envelope and reasoning, or the reason the reply was rejected.
 * @throws {RangeError} If an option is not a positive integer.
 *
 * @example Parse a fenced reply with reasoning
 * ```ts
 * import { parseEnvelope } from "@ai-agent/orchestrator";
 * const reply = '<think>Need the sum.</think>\n```json\n{"type":"tool_call","tool":"add",' +
 *   '"arguments":{"a":2,"b":3}}\n```';
 * const result = parseEnvelope(reply);
 * // { ok: true, reasoning: "Need the sum.",
 * //   envelope: { type: "tool_call", tool: "add", arguments: { a: 2, b: 3 } } }
 * ```
 */
export function parseEnvelope(raw: string, options: ParseOptions = {}): ParseResult {
  const maxLength = positiveInteger("maxLength", options.maxLength ?? 1_000_000);
  const maxDepth = positiveInteger("maxDepth", options.maxDepth ?? 64);
  const thoughts: string[] = [];
  const fail = (reason: string): ParseResult => ({
    ok: false,
    reason,
    reasoning: thoughts.join("\n"),
  });
  if (typeof raw !== "string") return fail(`The reply must be text, got ${typeof raw}.`);
  if (raw.length > maxLength) {
    return fail(
      `The reply is too long (${raw.length} characters; the limit is ${maxLength}). ${ONE_OBJECT}`,
    );
  }

  // Reads complete <think> blocks from `at`; returns the position after them, or a reason.
  const readThoughts = (at: number): number | string => {
    for (;;) {
      at = skipWhitespace(raw, at);
      if (!raw.startsWith(THINK_OPEN, at)) return at;
      const close = raw.indexOf(THINK_CLOSE, at + THINK_OPEN.length);
      if (close < 0) {
        addThought(thoughts, raw.slice(at + THINK_OPEN.length));
        return `The reply has an unclosed <think> block: close it with </think>, then write the JSON object. ${ONE_OBJECT}`;
      }
      addThought(thoughts, raw.slice(at + THINK_OPEN.length, close));
      at = close + THINK_CLOSE.length;
    }
  };

  const afterThoughts = readThoughts(0);
  if (typeof afterThoughts === "string") return fail(afterThoughts);
  let pos = afterThoughts;
  if (pos === raw.length) {
    return fail(
      thoughts.length > 0
        ? `The reply contained only reasoning (<think>…</think>) and no JSON object. ${ONE_OBJECT}`
        : `The reply was empty. ${ONE_OBJECT}`,
    );
  }

  let fenced = false;
  if (raw.startsWith(FENCE, pos)) {
    const language = /^[\w+.-]*/.exec(raw.slice(pos + FENCE.length, pos + FENCE.length + 40))![0];
    if (language !== "" && language.toLowerCase() !== "json") {
      return fail(
        `The reply is a ${
          JSON.stringify(language)
        } code block; send the JSON object itself (a \`\`\`json fence is tolerated). ${ONE_OBJECT}`,
      );
    }
    fenced = true;
    pos = skipWhitespace(raw, pos + FENCE.length + language.length);
  }

  if (raw.charCodeAt(pos) !== OPEN_BRACE) {
    return fail(describeNonObject(raw, pos, fenced, maxDepth));
  }

  const end = findObjectEnd(raw, pos, maxDepth);
  if (end === TOO_DEEP) return fail(tooDeep(maxDepth));
  if (end === UNTERMINATED) {
    return fail(
      `The JSON object is incomplete: the reply ended before its closing brace (${
        jsonErrorMessage(raw.slice(pos))
      }). ${ONE_OBJECT}`,
    );
  }
  const json = raw.slice(pos, end);
  let value: unknown;
  try {
    // JSON.parse defines "__proto__" as an ordinary own key; drop it anyway so the envelope
    // never carries one to code that might copy it with assignment.
    value = JSON.parse(json, (key, item) => key === "__proto__" ? undefined : item);
  } catch (error) {
    return fail(
      `The reply is not valid JSON (${errorMessage(error)}): ${excerpt(json)}. ${ONE_OBJECT}`,
    );
  }
  pos = end;

  if (fenced) {
    pos = skipWhitespace(raw, pos);
    if (!raw.startsWith(FENCE, pos)) {
      return fail(
        pos === raw.length
          ? `The code fence around the JSON object is not closed. ${ONE_OBJECT}`
          : `Found text after the JSON object inside the code fence: ${
            excerpt(raw.slice(pos))
          }. ${ONE_OBJECT}`,
      );
    }
    pos += FENCE.length;
  }

  const afterTrailing = readThoughts(pos);
  if (typeof afterTrailing === "string") return fail(afterTrailing);
  if (afterTrailing < raw.length) {
    return fail(
      `Found text after the JSON object: ${excerpt(raw.slice(afterTrailing))}. ${ONE_OBJECT}`,
    );
  }

  const problem = envelopeProblem(value);
  if (problem !== undefined) return fail(problem);
  const parsed = EnvelopeSchema.safeParse(value);
  // envelopeProblem() checks everything the schema does, with friendlier words; this is a
  // safety net for the day they disagree.
  if (!parsed.success) return fail(`${z.prettifyError(parsed.error)}\n${ONE_OBJECT}`);
  return { ok: true, envelope: parsed.data, reasoning: thoughts.join("\n") };
}

/** Why `value` (parsed JSON, an object) is not an envelope, or `undefined` if it is one. */
function envelopeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return `The reply must be a JSON object, got ${jsonKind(value)}. ${ONE_OBJECT}`;
  }
  const fields = value as Record<string, unknown>;
  const allowed = `"type" must be "tool_call" or "final"`;
  if (!Object.hasOwn(fields, "type")) {
    return `The JSON object has no "type" field; ${allowed}. Use ${TOOL_CALL_SHAPE} or ${FINAL_SHAPE}.`;
  }
  if (fields.type === "final") {
    if (typeof fields.content !== "string") {
      return `A "final" reply needs "content" as a string, got ${
        describeField(fields, "content")
      }. Use ${FINAL_SHAPE}.`;
    }
    return undefined;
  }
  if (fields.type === "tool_call") {
    if (typeof fields.tool !== "string") {
      return `A "tool_call" reply needs "tool" as a string naming the tool, got ${
        describeField(fields, "tool")
      }. Use ${TOOL_CALL_SHAPE}.`;
    }
    const args = fields.arguments;
    if (args !== undefined && (args === null || typeof args !== "object" || Array.isArray(args))) {
      return `"arguments" must be a JSON object, got ${jsonKind(args)}. Use ${TOOL_CALL_SHAPE}.`;
    }
    return undefined;
  }
  return `Unknown "type" ${
    JSON.stringify(fields.type)
  }; ${allowed}. Use ${TOOL_CALL_SHAPE} or ${FINAL_SHAPE}.`;
}

/** The reason for a reply whose JSON part does not start with `{`. */
function describeNonObject(raw: string, pos: number, fenced: boolean, maxDepth: number): string {
  let rest = raw.slice(pos).trimEnd();
  if (fenced && rest.endsWith(FENCE)) rest = rest.slice(0, -FENCE.length).trimEnd();
  if (maxNestingExceeded(rest, maxDepth)) return tooDeep(maxDepth);
  try {
    const value: unknown = JSON.parse(rest);
    return `The reply must be a JSON object, got ${jsonKind(value)}. ${ONE_OBJECT}`;
  } catch (error) {
    const brace = rest.indexOf("{");
    if (brace > 0) {
      return `Found text before the JSON object: ${excerpt(rest.slice(0, brace))}. ${ONE_OBJECT}`;
    }
    return `The reply is not valid JSON (${errorMessage(error)}): ${excerpt(rest)}. ${ONE_OBJECT}`;
  }
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const TOO_DEEP = -1;
const UNTERMINATED = -2;

/**
 * Finds the end (exclusive) of the JSON object starting at `start` by counting brackets outside
 * strings: only the extent and the depth, JSON.parse judges the rest. Returns TOO_DEEP as soon
 * as the nesting passes `maxDepth`, UNTERMINATED if the text ends first.
 */
function findObjectEnd(text: string, start: number, maxDepth: number): number {
  return scanBrackets(text, start, maxDepth, true);
}

/** Whether brackets outside strings nest deeper than `maxDepth` anywhere in `text`. */
function maxNestingExceeded(text: string, maxDepth: number): boolean {
  return scanBrackets(text, 0, maxDepth, false) === TOO_DEEP;
}

/**
 * One pass over `text` from `start`, tracking bracket depth outside strings. With
 * `stopAtClose`, returns the index after the bracket that closes the first one; otherwise
 * scans to the end (stray closers clamp the depth at 0). TOO_DEEP past `maxDepth`,
 * UNTERMINATED at the end of the text.
 */
function scanBrackets(text: string, start: number, maxDepth: number, stopAtClose: boolean): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return TOO_DEEP;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (stopAtClose) {
        if (--depth === 0) return i + 1;
      } else if (depth > 0) depth--;
    }
  }
  return UNTERMINATED;
}

function tooDeep(maxDepth: number): string {
  return `The JSON is nested deeper than ${maxDepth} levels of objects and arrays. ${ONE_OBJECT}`;
}

function skipWhitespace(text: string, at: number): number {
  while (at < text.length) {
    const c = text.charCodeAt(at);
    // space, tab, LF, CR, BOM
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xfeff) break;
    at++;
  }
  return at;
}

function addThought(thoughts: string[], text: string): void {
  const trimmed = text.trim();
  if (trimmed !== "") thoughts.push(trimmed);
}

function jsonErrorMessage(text: string): string {
  try {
    JSON.parse(text);
    return "unexpected end";
  } catch (error) {
    return errorMessage(error);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A short quoted excerpt of model text, for reasons. */
function excerpt(text: string, max = 60): string {
  const cut = [...text.slice(0, max * 2)];
  return JSON.stringify(cut.length > max ? `${cut.slice(0, max).join("")}…` : cut.join(""));
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

function describeField(fields: Record<string, unknown>, key: string): string {
  return Object.hasOwn(fields, key) ? jsonKind(fields[key]) : "nothing (it is missing)";
}

/**
 * Why a native tool call's JSON arguments break the limits {@link parseEnvelope} applies to a
 * whole reply (longer than 1_000_000 characters, nested deeper than 64), or `undefined`. Checked
 * before `JSON.parse`, so such arguments never become objects that user code (or a
 * `JSON.stringify` of an event) would recurse into.
 */
export function toolArgumentsTooLarge(json: string): string | undefined {
  if (json.length > 1_000_000) {
    return `arguments are too long (${json.length} characters; the limit is 1000000)`;
  }
  if (maxNestingExceeded(json, 64)) {
    return "arguments are nested deeper than 64 levels of objects and arrays";
  }
  return undefined;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`parseEnvelope: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The JSON Schema of a tool's arguments, as the model should write them. */
function argumentsSchema(tool: AnyTool): Record<string, unknown> {
  // "input": the model writes the input side (fields with defaults are optional, transforms
  // are described by what they accept). Unrepresentable types (dates, …) become `{}`.
  const schema = z.toJSONSchema(tool.parameters, { io: "input", unrepresentable: "any" });
  delete schema.$schema;
  return schema as Record<string, unknown>;
}

/**
 * Builds the system prompt: the two reply shapes, the tools (name, description, JSON Schema of
 * the arguments) and then the caller's instructions, if any, under an "Instructions" heading.
 * With no tools, only the final-answer shape is offered.
 *
 * @param tools The tools the model may call.
 * @param instructions The caller's own system instructions (task, persona, rules).
 * @returns The system message text.
 *
 * @example Prompt for a calculator agent
 * ```ts
 * import * as z from "zod";
 * import { buildSystemPrompt, defineTool } from "@ai-agent/orchestrator";
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const system = buildSystemPrompt([add], "Answer in one sentence.");
 * ```
 */
export function buildSystemPrompt(tools: readonly AnyTool[], instructions?: string): string {
  const lines: string[] = [
    "You complete the user's task step by step.",
    "",
    "# Reply format",
    "",
    `${ONE_OBJECT} No text before or after it, no markdown.`,
  ];
  if (tools.length === 0) {
    lines.push(
      "No tools are available, so every reply has this shape:",
      "",
      FINAL_SHAPE,
      "",
      ...FINAL_RULES,
    );
  } else {
    lines.push(
      "Each reply has one of these two shapes.",
      "",
      "1. Call a tool:",
      "",
      TOOL_CALL_SHAPE,
      "",
      '- "tool" is the exact name of one of the tools listed below.',
      `- "arguments" is a JSON object that matches that tool's arguments schema.`,
      "- Call one tool per reply. Its result comes back in the next message; then reply again.",
      "",
      "2. Give the final answer:",
      "",
      FINAL_SHAPE,
      "",
      ...FINAL_RULES,
      "",
      "# Tools",
    );
    for (const tool of tools) {
      lines.push(
        "",
        `## ${tool.name}`,
        "",
        tool.description.trim(),
        "",
        `Arguments schema: ${JSON.stringify(argumentsSchema(tool))}`,
      );
    }
  }
  if (instructions !== undefined && instructions.trim() !== "") {
    lines.push("", "# Instructions", "", instructions.trim());
  }
  return lines.join("\n");
}

const FINAL_RULES = [
  '- "content" is a string: your complete answer for the user (write line breaks as \\n).',
  "- The final answer ends the task.",
];

/**
 * Builds the `response_format` that makes grammar-constrained servers (LM Studio, llama.cpp)
 * produce only valid envelopes: a JSON Schema `anyOf` with the final-answer object and, per
 * tool, a `tool_call` object whose `tool` is that tool's name (a `const`) and whose `arguments`
 * is that tool's argument schema. `"type"` is the first property of every branch, so a
 * streaming reader sees it before `"content"`. With `finalOnly: true` (or no tools) only the
 * final branch is allowed.
 *
 * Argument schemas come from `z.toJSONSchema` (input side); their `$schema` keys are removed
 * and their `$defs` (recursive or reused schemas) are moved to the root, renamed
 * `<tool>:<def>`, with `$ref`s rewritten to match.
 *
 * @param tools The tools the model may call.
 * @param options `finalOnly`: allow only the final answer (for the max-steps fallback).
 * @returns `{ type: "json_schema", json_schema: { name: "agent_reply", strict: true, schema } }`.
 *
 * @example Constrain replies to envelopes
 * ```ts
 * import * as z from "zod";
 * import { buildResponseFormat, defineTool, LMStudioClient } from "@ai-agent/orchestrator";
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const result = await new LMStudioClient().generate({
 *   messages: [{ role: "user", content: "2+3?" }],
 *   response_format: buildResponseFormat([add]),
 * });
 * ```
 */
export function buildResponseFormat(
  tools: readonly AnyTool[],
  options: { finalOnly?: boolean } = {},
): ResponseFormat {
  const branches: Record<string, unknown>[] = [{
    type: "object",
    properties: { type: { type: "string", const: "final" }, content: { type: "string" } },
    required: ["type", "content"],
    additionalProperties: false,
  }];
  const defs: Record<string, unknown> = {};
  if (options.finalOnly !== true) {
    for (const tool of tools) {
      branches.push({
        type: "object",
        properties: {
          type: { type: "string", const: "tool_call" },
          tool: { type: "string", const: tool.name },
          arguments: embeddable(argumentsSchema(tool), tool.name, defs),
        },
        required: ["type", "tool", "arguments"],
        additionalProperties: false,
      });
    }
  }
  const schema: Record<string, unknown> = { anyOf: branches };
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return { type: "json_schema", json_schema: { name: "agent_reply", strict: true, schema } };
}

/**
 * Makes a standalone JSON Schema safe to embed below the root of another: its `$defs` move
 * into `defs` under `<prefix>:<name>`, and its `$ref`s (`#/$defs/x`, and `#` for a schema that
 * refers to itself) are rewritten, since they would otherwise resolve against the new root.
 */
function embeddable(
  schema: Record<string, unknown>,
  prefix: string,
  defs: Record<string, unknown>,
): Record<string, unknown> {
  const ownDefs = (schema.$defs ?? {}) as Record<string, unknown>;
  delete schema.$defs;
  // ":" cannot occur in tool names, so `<tool>:<def>` never collides with another tool's keys.
  const pointer = (name: string) => `#/$defs/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  const renamed = new Map<string, string>([["#", pointer(prefix)]]);
  for (const name of Object.keys(ownDefs)) {
    renamed.set(pointer(name), pointer(`${prefix}:${name}`));
    renamed.set(`#/$defs/${name}`, pointer(`${prefix}:${name}`));
  }
  let selfReferenced = false;
  const rewrite = (node: unknown): void => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(rewrite);
    const record = node as Record<string, unknown>;
    delete record.$schema;
    if (typeof record.$ref === "string" && renamed.has(record.$ref)) {
      if (record.$ref === "#") selfReferenced = true;
      record.$ref = renamed.get(record.$ref);
    }
    for (const value of Object.values(record)) rewrite(value);
  };
  rewrite(schema);
  for (const [name, def] of Object.entries(ownDefs)) {
    rewrite(def);
    defs[`${prefix}:${name}`] = def;
  }
  // The root refers to itself: keep a copy of it where its (rewritten) refs point.
  if (selfReferenced) defs[prefix] = structuredClone(schema);
  return schema;
}

/**
 * The user message sent after a protocol violation: what was wrong, then the allowed shapes
 * again (the tool-call shape only when there are tools, with their names).
 *
 * @param reason The `reason` from a failed {@link parseEnvelope}.
 * @param tools The tools the model may call.
 * @returns The message text.
 *
 * @example Ask for a corrected reply
 * ```ts
 * import { parseEnvelope } from "@ai-agent/orchestrator";
 * import { correctionMessage } from "./protocol.ts";
 * const result = parseEnvelope("Sure! The answer is 4.");
 * if (!result.ok) {
 *   const retry = { role: "user" as const, content: correctionMessage(result.reason, []) };
 * }
 * ```
 */
export function correctionMessage(reason: string, tools: readonly AnyTool[]): string {
  const lines = [`Your last reply could not be used: ${reason}`, ""];
  if (tools.length === 0) {
    lines.push(`Reply again with exactly one JSON object and nothing else, shaped like this:`);
    lines.push(FINAL_SHAPE);
  } else {
    lines.push(
      "Reply again with exactly one JSON object and nothing else, in one of these shapes:",
      TOOL_CALL_SHAPE,
      FINAL_SHAPE,
      `Available tools: ${tools.map((tool) => tool.name).join(", ")}.`,
    );
  }
  return lines.join("\n");
}

/**
 * The user message that brings a tool's outcome back to the model. It is a plain user turn
 * (not `role: "tool"`), so it works with chat templates that reject tool messages.
 *
 * - success: `Tool "add" returned:\n5`
 * - failure: `Tool "add" failed (invalid_arguments): <error>` plus what to do next (for an
 *   unknown tool, the error already lists the available tools)
 *
 * followed by a reminder to reply with one JSON object.
 *
 * @param outcome What `runTool` returned.
 * @returns The message text.
 *
 * @example Feed a result back
 * ```ts
 * import { toolResultMessage } from "./protocol.ts";
 * const content = toolResultMessage({
 *   ok: true,
 *   tool: "add",
 *   args: { a: 2, b: 3 },
 *   value: 5,
 *   output: "5",
 *   durationMs: 1,
 * });
 * // 'Tool "add" returned:\n5\n\nReply with exactly one JSON object: …'
 * ```
 */
export function toolResultMessage(outcome: ToolOutcome): string {
  const reminder =
    `Reply with exactly one JSON object: another ${TOOL_CALL_SHAPE} or ${FINAL_SHAPE}.`;
  const tool = JSON.stringify(outcome.tool);
  if (outcome.ok) return `Tool ${tool} returned:\n${outcome.output}\n\n${reminder}`;
  const advice = outcome.kind === "unknown_tool"
    ? "Call one of the available tools or give the final answer."
    : "Fix the arguments or choose another action.";
  return `Tool ${tool} failed (${outcome.kind}): ${outcome.error}\n${advice}\n\n${reminder}`;
}

/**
 * The user message for the max-steps fallback: the step budget is used up, no more tool calls;
 * answer now with the final shape from what is known.
 *
 * @returns The message text.
 *
 * @example End the run with a final answer
 * ```ts
 * import { maxStepsMessage } from "./protocol.ts";
 * const last = { role: "user" as const, content: maxStepsMessage() };
 * ```
 */
export function maxStepsMessage(): string {
  return [
    "You have used all available steps: no more tool calls are possible.",
    `Reply now with exactly one JSON object and nothing else, ${FINAL_SHAPE},`,
    "giving the best answer you can from what you have found so far.",
  ].join("\n");
}

/**
 * The answer given when even the max-steps fallback reply is not a valid final envelope.
 *
 * @example Show the fallback answer
 * ```ts
 * import { MAX_STEPS_FALLBACK_TEXT } from "@ai-agent/orchestrator";
 * console.log(MAX_STEPS_FALLBACK_TEXT);
 * ```
 */
export const MAX_STEPS_FALLBACK_TEXT: string =
  "I could not finish this task within the allowed number of steps.";
