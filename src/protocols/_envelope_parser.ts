// The envelope parser: one whole model reply → an Envelope, tolerating what models commonly
// wrap around it, and explaining anything else in words a model can act on.
import * as z from "zod";
import { splitReasoning } from "../_reasoning.ts";
import { errorMessage, quotedExcerpt as excerpt } from "../_text.ts";
import {
  MAX_JSON_CHARS,
  MAX_JSON_DEPTH,
  nestedTooDeep,
  scanBrackets,
  TOO_DEEP,
  UNTERMINATED,
} from "./_json_scan.ts";
import { FINAL_SHAPE, ONE_OBJECT, TOOL_CALL_SHAPE } from "./_envelope_prompt.ts";
/**
 * One model reply, parsed: a tool call or the final answer. For `tool_call`, a missing
 * `arguments` field means `{}`.
 *
 * @example Act on an envelope
 * ```ts
 * import type { Envelope } from "./_envelope_parser.ts";
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
 * import { EnvelopeSchema } from "./_envelope_parser.ts";
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
 * import { parseEnvelope } from "./_envelope_parser.ts";
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
 * import { parseEnvelope, type ParseOptions } from "./_envelope_parser.ts";
 * const options: ParseOptions = { maxLength: 100_000, maxDepth: 16 };
 * parseEnvelope('{"type":"final","content":"hi"}', options);
 * ```
 */
export interface ParseOptions {
  /**
   * Longer replies are rejected without being parsed.
   * @default {MAX_JSON_CHARS} (1_000_000)
   */
  maxLength?: number;
  /**
   * Maximum nesting of JSON objects and arrays (the envelope itself is depth 1).
   * @default {MAX_JSON_DEPTH} (64)
   */
  maxDepth?: number;
  /**
   * A final's `content` may be a JSON object (typed output): it is returned as its JSON text.
   * @default false
   */
  objectContent?: boolean;
}

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
 * import { parseEnvelope } from "./_envelope_parser.ts";
 * const reply = '<think>Need the sum.</think>\n```json\n{"type":"tool_call","tool":"add",' +
 *   '"arguments":{"a":2,"b":3}}\n```';
 * const result = parseEnvelope(reply);
 * // { ok: true, reasoning: "Need the sum.",
 * //   envelope: { type: "tool_call", tool: "add", arguments: { a: 2, b: 3 } } }
 * ```
 */
export function parseEnvelope(raw: string, options: ParseOptions = {}): ParseResult {
  const maxLength = positiveInteger("maxLength", options.maxLength ?? MAX_JSON_CHARS);
  const maxDepth = positiveInteger("maxDepth", options.maxDepth ?? MAX_JSON_DEPTH);
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

  // Leading (and, below, trailing) <think> blocks, by the one reasoning splitter.
  const lead = splitReasoning(raw);
  if (lead.reasoning !== "") thoughts.push(lead.reasoning);
  if (lead.unclosed) return fail(UNCLOSED);
  const text = lead.text;
  if (text === "") {
    return fail(
      thoughts.length > 0
        ? `The reply contained only reasoning (<think>…</think>) and no JSON object. ${ONE_OBJECT}`
        : `The reply was empty. ${ONE_OBJECT}`,
    );
  }

  let pos = 0;
  let fenced = false;
  if (text.startsWith(FENCE)) {
    const language = /^[\w+.-]*/.exec(text.slice(FENCE.length, FENCE.length + 40))![0];
    if (language !== "" && language.toLowerCase() !== "json") {
      return fail(
        `The reply is a ${
          JSON.stringify(language)
        } code block; send the JSON object itself (a \`\`\`json fence is tolerated). ${ONE_OBJECT}`,
      );
    }
    fenced = true;
    pos = skipWhitespace(text, FENCE.length + language.length);
  }

  if (text.charCodeAt(pos) !== 0x7b /* { */) {
    return fail(describeNonObject(text, pos, fenced, maxDepth));
  }

  const end = scanBrackets(text, pos, maxDepth, true);
  if (end === TOO_DEEP) return fail(tooDeep(maxDepth));
  if (end === UNTERMINATED) {
    return fail(
      `The JSON object is incomplete: the reply ended before its closing brace (${
        jsonErrorMessage(text.slice(pos))
      }). ${ONE_OBJECT}`,
    );
  }
  const json = text.slice(pos, end);
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
  if (options.objectContent === true) value = withObjectContent(value);

  if (fenced) {
    pos = skipWhitespace(text, pos);
    if (!text.startsWith(FENCE, pos)) {
      return fail(
        pos === text.length
          ? `The code fence around the JSON object is not closed. ${ONE_OBJECT}`
          : `Found text after the JSON object inside the code fence: ${
            excerpt(text.slice(pos))
          }. ${ONE_OBJECT}`,
      );
    }
    pos += FENCE.length;
  }

  // After the object only whitespace and complete <think> blocks may follow.
  const trail = splitReasoning(text.slice(pos));
  if (trail.reasoning !== "") thoughts.push(trail.reasoning);
  if (trail.unclosed) return fail(UNCLOSED);
  if (trail.text !== "") {
    return fail(`Found text after the JSON object: ${excerpt(trail.text)}. ${ONE_OBJECT}`);
  }

  const problem = envelopeProblem(value);
  if (problem !== undefined) return fail(problem);
  const parsed = EnvelopeSchema.safeParse(value);
  // envelopeProblem() checks everything the schema does, with friendlier words; this is a
  // safety net for the day they disagree.
  if (!parsed.success) return fail(`${z.prettifyError(parsed.error)}\n${ONE_OBJECT}`);
  return { ok: true, envelope: parsed.data, reasoning: thoughts.join("\n") };
}

const FENCE = "```";
const UNCLOSED =
  `The reply has an unclosed <think> block: close it with </think>, then write the JSON object. ${ONE_OBJECT}`;

/** A final envelope whose content is an object, with that object as JSON text instead. */
function withObjectContent(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const fields = value as Record<string, unknown>;
  const content = fields.content;
  if (fields.type !== "final" || content === null || typeof content !== "object") return value;
  return { ...fields, content: JSON.stringify(content) };
}

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
  if (nestedTooDeep(rest, maxDepth)) return tooDeep(maxDepth);
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

function jsonErrorMessage(text: string): string {
  try {
    JSON.parse(text);
    return "unexpected end";
  } catch (error) {
    return errorMessage(error);
  }
}

/** The JSON kind of a parsed value, as a reason names it ("an array", "null", …). */
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

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`parseEnvelope: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
