// Tool calls a model wrote as text instead of as API `tool_calls`: what a server's own parser
// would have turned into a call had it recognized the model's format (lmstudio-bug-tracker
// #2115, goose #3748: Qwen 3.x XML in `content`; mastra #12725: bare JSON objects).
//
// The formats, with the strings their chat templates write:
//   hermes        <tool_call>{"name": …, "arguments": {…}}</tool_call>      Hermes 2 Pro, Qwen2.5,
//                 Qwen3 ("For each function call, return a json object with function name and
//                 arguments within <tool_call></tool_call> XML tags"); several objects in one
//                 block (Ollama's Qwen template) or several blocks are parallel calls
//   qwen3_coder   <tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n</function>
//                 \n</tool_call>  Qwen3-Coder (its chat_template.jinja and qwen3coder_tool_parser.py
//                 on the Hugging Face model repo); also without the <tool_call> wrapper
//   llama_function  <function=NAME>{…}</function>  Llama 3.1 custom tools (meta-llama/llama-models
//                 models/llama3_1/api/tool_utils.py)
//   llama_json    {"name": …, "parameters": {…}} (optionally "type": "function"), bare or after
//                 <|python_tag|>; several separated by ";" (Llama 3.1–3.3 JSON tool calling)
//   mistral       [TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]  tokenizer v2–v7;
//                 [TOOL_CALLS]NAME[ARGS]{…} and [TOOL_CALLS]NAME[CALL_ID]ID[ARGS]{…}, repeated,
//                 tokenizer v11+ (mistral-common src/mistral_common/experimental/tools.py)
//   lmstudio      [TOOL_REQUEST]{"name": …, "arguments": {…}}[END_TOOL_REQUEST]  LM Studio's
//                 default tool-use prompt for models without a tool template
//   json          a bare JSON call object or array, or one in a ```json fence
//
// Recovery never guesses. A reply that starts with a call marker is a call: anything wrong in it
// (broken JSON inside the markers, a block not closed, an unknown tool name, text after the
// calls) is `invalid`, with a reason the model can act on. Bare or fenced JSON is a call only if
// it has exactly the shape of one (`name` plus `arguments` or `parameters`, optionally `type`
// "function" and `id`); other JSON is an answer. Prose that contains a well-formed call to a
// registered tool is `invalid` (the model mixed an answer and a call); prose that merely
// mentions a marker is an answer. Nothing is recovered when no tools are registered.
import type { RequestedCall, ToolDescription } from "./_reply_protocol.ts";
import { errorMessage, isPlainObject, quotedExcerpt as excerpt } from "../_text.ts";
import {
  argumentsTooLarge,
  MAX_JSON_CHARS,
  MAX_JSON_DEPTH,
  scanBrackets,
  TOO_DEEP,
  UNTERMINATED,
} from "./_json_scan.ts";

/** Which format a recovered call was written in. */
export type TextCallFormat =
  | "hermes"
  | "qwen3_coder"
  | "llama_function"
  | "llama_json"
  | "mistral"
  | "lmstudio"
  | "json";

/** What {@link readTextToolCalls} found in a reply's answer text. */
export type TextCalls =
  | { kind: "none" }
  | { kind: "calls"; format: TextCallFormat; calls: RequestedCall[] }
  | { kind: "invalid"; reason: string };

/** The markers that start a written call; an answer starting with one is never shown live. */
export const CALL_MARKERS: readonly string[] = [
  "<tool_call>",
  "<function=",
  "[TOOL_CALLS]",
  "[TOOL_REQUEST]",
  "<|python_tag|>",
];

const NONE: TextCalls = { kind: "none" };
// End-of-message tokens a server may leave in the text after a Llama call.
const TRAILERS = ["<|eom_id|>", "<|eot_id|>"];
const CALL_KEYS = new Set(["name", "arguments", "parameters", "type", "id"]);

/** Why a written call cannot be used; thrown inside the parser, caught at its entry. */
class Unusable extends Error {
  override name = "Unusable" as const;
}

/**
 * Reads tool calls a model wrote as text.
 *
 * @param text The reply's answer text, after the reasoning splitter.
 * @param tools The registered tools (their names are the only ones recovered; their schemas
 *   type Qwen3-Coder parameter values).
 * @returns `none` (an answer), the calls, or why a call-looking reply is unusable.
 */
export function readTextToolCalls(text: string, tools: readonly ToolDescription[]): TextCalls {
  if (tools.length === 0) return NONE;
  const known = new Map(tools.map((t) => [t.name, t]));
  const body = withoutTrailers(text.trim());
  const marker = CALL_MARKERS.find((m) => body.startsWith(m));
  if (marker !== undefined) {
    if (body.length > MAX_JSON_CHARS) {
      return invalid(`the tool call is too long (${body.length} characters)`);
    }
    try {
      const { format, calls } = new CallReader(body, known).marked(marker, false);
      return { kind: "calls", format, calls };
    } catch (err) {
      if (err instanceof Unusable) return invalid(err.message);
      throw err;
    }
  }
  if (body.startsWith("```")) return fencedJson(body, known);
  if (body.startsWith("{") || body.startsWith("[")) return bareJson(body, known);
  return prose(body, known);
}

function invalid(reason: string): TextCalls {
  return { kind: "invalid", reason };
}

function withoutTrailers(text: string): string {
  for (let again = true; again;) {
    again = false;
    for (const t of TRAILERS) {
      if (text.endsWith(t)) {
        text = text.slice(0, -t.length).trimEnd();
        again = true;
      }
    }
  }
  return text;
}

/** An answer that is JSON: a call only if it has exactly a call's shape. */
function bareJson(body: string, known: ReadonlyMap<string, ToolDescription>): TextCalls {
  if (body.length > MAX_JSON_CHARS) return NONE;
  const end = scanBrackets(body, 0, MAX_JSON_DEPTH, true);
  if (end < 0) return NONE;
  let value: unknown;
  try {
    value = parseJson(body.slice(0, end));
  } catch {
    return NONE;
  }
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0 || !items.every(isCallShape)) return NONE;
  try {
    const calls = items.map((item) => callFromObject(item, known));
    if (body.slice(end).trim() !== "") {
      return invalid(
        `it has text after the JSON tool call: ${excerpt(body.slice(end).trim())}; send the ` +
          "call alone, or the answer alone",
      );
    }
    return { kind: "calls", format: "json", calls };
  } catch (err) {
    if (err instanceof Unusable) return invalid(err.message);
    throw err;
  }
}

/** One ```json fence around a JSON call, and nothing else. */
function fencedJson(body: string, known: ReadonlyMap<string, ToolDescription>): TextCalls {
  const language = /^[\w+.-]*/.exec(body.slice(3, 43))![0];
  if (language !== "" && language.toLowerCase() !== "json") return NONE;
  if (body.length < 6 || !body.endsWith("```")) return NONE;
  const inner = body.slice(3 + language.length, -3).trim();
  if (!inner.startsWith("{") && !inner.startsWith("[")) return NONE;
  const found = bareJson(inner, known);
  return found;
}

/** Prose that contains a well-formed call to a registered tool mixes an answer and a call. */
function prose(body: string, known: ReadonlyMap<string, ToolDescription>): TextCalls {
  let at = -1;
  let marker = "";
  for (const m of CALL_MARKERS) {
    const i = body.indexOf(m);
    if (i > 0 && (at < 0 || i < at)) [at, marker] = [i, m];
  }
  if (at < 0) return NONE;
  try {
    const { calls } = new CallReader(body.slice(at), known).marked(marker, true);
    return invalid(
      `it mixes text and a tool call (${excerpt(body.slice(0, at).trim())} before ` +
        `${marker}… calling ${JSON.stringify(calls[0]!.name)}); send the call alone, with ` +
        "nothing around it, or the answer alone",
    );
  } catch (err) {
    if (err instanceof Unusable) return NONE; // a mention of the marker, not a call
    throw err;
  }
}

/** A cursor over text that starts with a call marker. Failures throw {@link Unusable}. */
class CallReader {
  #text: string;
  #pos = 0;
  #known: ReadonlyMap<string, ToolDescription>;
  #calls: RequestedCall[] = [];

  constructor(text: string, known: ReadonlyMap<string, ToolDescription>) {
    this.#text = text;
    this.#known = known;
  }

  /** Reads every call (or, with `first`, just the first one) of a marked reply. */
  marked(marker: string, first: boolean): { format: TextCallFormat; calls: RequestedCall[] } {
    const format = this.#read(marker, first);
    if (this.#calls.length === 0) throw new Unusable(`${marker} holds no tool call`);
    return { format, calls: this.#calls };
  }

  #read(marker: string, first: boolean): TextCallFormat {
    switch (marker) {
      case "<tool_call>": {
        let format: TextCallFormat = "hermes";
        while (this.#more()) {
          this.#expect("<tool_call>", "another <tool_call> block or the end of the reply");
          const close = this.#text.indexOf("</tool_call>", this.#pos);
          if (close < 0) throw new Unusable("a <tool_call> block is not closed with </tool_call>");
          const inner = this.#text.slice(this.#pos, close).trim();
          this.#pos = close + "</tool_call>".length;
          if (inner.startsWith("<function=")) {
            format = "qwen3_coder";
            new CallReader(inner, this.#known).#functions(this.#calls, false);
          } else {
            this.#jsonCalls(inner, "<tool_call>", "arguments");
          }
          if (first) break;
          this.#skipSpace();
        }
        return format;
      }
      case "<function=":
        return this.#functions(this.#calls, first);
      case "[TOOL_CALLS]":
        while (this.#more()) {
          this.#expect("[TOOL_CALLS]", "another [TOOL_CALLS] or the end of the reply");
          this.#skipSpace();
          if (this.#text.startsWith("[", this.#pos)) {
            const value = this.#json("[TOOL_CALLS]");
            if (!Array.isArray(value)) {
              throw new Unusable("[TOOL_CALLS] must be followed by a list");
            }
            for (const item of value) this.#calls.push(callFromObject(item, this.#known));
          } else {
            this.#mistralV11();
          }
          if (first) break;
          this.#skipSpace();
        }
        return "mistral";
      case "[TOOL_REQUEST]":
        while (this.#more()) {
          this.#expect("[TOOL_REQUEST]", "another [TOOL_REQUEST] or the end of the reply");
          this.#skipSpace();
          this.#calls.push(callFromObject(this.#json("[TOOL_REQUEST]"), this.#known));
          this.#skipSpace();
          this.#expect("[END_TOOL_REQUEST]", "[END_TOOL_REQUEST] after the JSON");
          if (first) break;
          this.#skipSpace();
        }
        return "lmstudio";
      default: { // <|python_tag|>
        this.#pos = marker.length;
        const rest = this.#text.slice(this.#pos).trim();
        if (!rest.startsWith("{") && !rest.startsWith("[")) {
          throw new Unusable(
            'after <|python_tag|>, write the call as JSON: {"name": "<tool>", "parameters": {…}}',
          );
        }
        this.#jsonCalls(rest, "<|python_tag|>", "parameters", first);
        return "llama_json";
      }
    }
  }

  /** Several JSON call objects (or lists of them), separated by whitespace or ";". */
  #jsonCalls(inner: string, where: string, argsKey: string, first = false): void {
    const reader = new CallReader(inner, this.#known);
    if (!reader.#more()) throw new Unusable(`${where} holds no tool call`);
    while (reader.#more()) {
      const c = inner[reader.#pos];
      if (c !== "{" && c !== "[") {
        throw new Unusable(
          `${where} must hold JSON like {"name": "<tool>", "${argsKey}": {…}}, found ${
            excerpt(inner.slice(reader.#pos))
          }`,
        );
      }
      const value = reader.#json(where);
      for (const item of Array.isArray(value) ? value : [value]) {
        this.#calls.push(callFromObject(item, this.#known));
      }
      if (first) return;
      reader.#skipSpace();
      if (inner[reader.#pos] === ";") {
        reader.#pos++;
        reader.#skipSpace();
      }
    }
  }

  /** `NAME[ARGS]{…}` or `NAME[CALL_ID]ID[ARGS]{…}`, after a v11+ [TOOL_CALLS]. */
  #mistralV11(): void {
    const args = this.#text.indexOf("[ARGS]", this.#pos);
    if (args < 0) {
      throw new Unusable("[TOOL_CALLS]NAME must be followed by [ARGS] and the arguments");
    }
    let name = this.#text.slice(this.#pos, args);
    const id = name.indexOf("[CALL_ID]");
    if (id >= 0) name = name.slice(0, id);
    this.#pos = args + "[ARGS]".length;
    this.#skipSpace();
    if (this.#text[this.#pos] !== "{") {
      throw new Unusable(`the arguments after [ARGS] must be a JSON object`);
    }
    this.#calls.push(
      callFromObject({ name: name.trim(), arguments: this.#json("[ARGS]") }, this.#known),
    );
  }

  /**
   * `<function=NAME>` blocks: Qwen3-Coder's `<parameter=KEY>VALUE</parameter>` list, or Llama
   * 3.1's JSON arguments object; each closed with `</function>`.
   */
  #functions(out: RequestedCall[], first: boolean): TextCallFormat {
    let format: TextCallFormat = "qwen3_coder";
    while (this.#more()) {
      this.#expect("<function=", "another <function=…> block or the end of the reply");
      const gt = this.#text.indexOf(">", this.#pos);
      const name = gt < 0 ? "" : this.#text.slice(this.#pos, gt).trim();
      if (name === "" || /[\s<]/.test(name)) {
        throw new Unusable("write the tool's name as <function=NAME>");
      }
      const tool = this.#tool(name);
      this.#pos = gt + 1;
      this.#skipSpace();
      if (this.#text[this.#pos] === "{") {
        format = "llama_function";
        const args = this.#json(`<function=${name}>`);
        out.push(callFromObject({ name, arguments: args }, this.#known));
        this.#skipSpace();
      } else {
        out.push({ id: "", name, args: this.#parameters(tool) });
      }
      this.#expect("</function>", "</function> after the arguments");
      if (first) break;
      this.#skipSpace();
    }
    return format;
  }

  /** Qwen3-Coder parameters, typed by the tool's schema as its own parser does. */
  #parameters(tool: ToolDescription): Record<string, unknown> {
    const args: Record<string, unknown> = {};
    const text = this.#text;
    for (;;) {
      this.#skipSpace();
      if (text.startsWith("</function>", this.#pos)) return args;
      if (!text.startsWith("<parameter=", this.#pos)) {
        throw new Unusable(
          `<function=${tool.name}> must hold <parameter=KEY>VALUE</parameter> entries and end ` +
            `with </function>, found ${excerpt(text.slice(this.#pos))}`,
        );
      }
      this.#pos += "<parameter=".length;
      const gt = text.indexOf(">", this.#pos);
      const key = gt < 0 ? "" : text.slice(this.#pos, gt).trim();
      if (key === "") {
        throw new Unusable("write each parameter as <parameter=KEY>VALUE</parameter>");
      }
      this.#pos = gt + 1;
      // As qwen3coder_tool_parser.py: a value ends at </parameter>, or where the next parameter
      // or the function's end begins.
      const ends = ["</parameter>", "<parameter=", "</function>"]
        .map((t) => [text.indexOf(t, this.#pos), t] as const)
        .filter(([i]) => i >= 0);
      if (ends.length === 0) {
        throw new Unusable(`<function=${tool.name}> is not closed with </function>`);
      }
      const [end, tag] = ends.reduce((a, b) => (b[0] < a[0] ? b : a));
      let value = text.slice(this.#pos, end);
      this.#pos = tag === "</parameter>" ? end + tag.length : end;
      if (value.startsWith("\n")) value = value.slice(1);
      if (value.endsWith("\n")) value = value.slice(0, -1);
      if (Object.hasOwn(args, key)) {
        throw new Unusable(`parameter ${JSON.stringify(key)} is given twice`);
      }
      if (key !== "__proto__") args[key] = typedValue(value, propertySchema(tool, key));
    }
  }

  #tool(name: string): ToolDescription {
    const tool = this.#known.get(name);
    if (!tool) throw new Unusable(unknownTool(name, this.#known));
    return tool;
  }

  #json(where: string): unknown {
    const end = scanBrackets(this.#text, this.#pos, MAX_JSON_DEPTH, true);
    if (end === TOO_DEEP) {
      throw new Unusable(`the JSON after ${where} is nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    if (end === UNTERMINATED) throw new Unusable(`the JSON after ${where} is not complete`);
    const json = this.#text.slice(this.#pos, end);
    this.#pos = end;
    try {
      return parseJson(json);
    } catch (err) {
      throw new Unusable(
        `the JSON after ${where} is not valid (${errorMessage(err)}): ${excerpt(json)}`,
      );
    }
  }

  #more(): boolean {
    return this.#pos < this.#text.length;
  }

  #skipSpace(): void {
    while (this.#pos < this.#text.length && /\s/.test(this.#text[this.#pos]!)) this.#pos++;
  }

  #expect(tag: string, wanted: string): void {
    if (this.#text.startsWith(tag, this.#pos)) {
      this.#pos += tag.length;
      return;
    }
    throw new Unusable(
      `expected ${wanted}, found ${excerpt(this.#text.slice(this.#pos))}: send the tool ` +
        "call(s) alone, with nothing around them, or the answer alone",
    );
  }
}

function parseJson(json: string): unknown {
  // "__proto__" keys dropped, as the envelope parser does.
  return JSON.parse(json, (key, item) => key === "__proto__" ? undefined : item);
}

/** Exactly a call's shape: a string `name` and `arguments` or `parameters`, little else. */
function isCallShape(value: unknown): boolean {
  if (!isPlainObject(value) || typeof value.name !== "string") return false;
  if (!Object.keys(value).every((k) => CALL_KEYS.has(k))) return false;
  if (value.type !== undefined && value.type !== "function") return false;
  return Object.hasOwn(value, "arguments") || Object.hasOwn(value, "parameters");
}

/** A call from `{"name", "arguments" | "parameters"}` (arguments may be a JSON string). */
function callFromObject(
  value: unknown,
  known: ReadonlyMap<string, ToolDescription>,
): RequestedCall {
  const shape = '{"name": "<tool>", "arguments": {…}}';
  if (!isPlainObject(value)) throw new Unusable(`a tool call must be a JSON object like ${shape}`);
  const { name } = value;
  if (typeof name !== "string") {
    throw new Unusable(`a tool call needs "name" as a string, like ${shape}`);
  }
  if (!known.has(name)) throw new Unusable(unknownTool(name, known));
  if (Object.hasOwn(value, "arguments") && Object.hasOwn(value, "parameters")) {
    throw new Unusable(`a tool call has both "arguments" and "parameters"; send one`);
  }
  let args: unknown = value.arguments ?? value.parameters ?? {};
  if (typeof args === "string") {
    const tooLarge = argumentsTooLarge(args);
    if (tooLarge) throw new Unusable(`the call to ${JSON.stringify(name)}: ${tooLarge}`);
    try {
      args = parseJson(args);
    } catch {
      throw new Unusable(`the arguments of ${JSON.stringify(name)} are a string, not JSON`);
    }
  }
  if (!isPlainObject(args)) {
    throw new Unusable(`the arguments of ${JSON.stringify(name)} must be a JSON object`);
  }
  return { id: "", name, args };
}

function unknownTool(name: string, known: ReadonlyMap<string, ToolDescription>): string {
  return `there is no tool named ${excerpt(name)} (the tools are: ${[...known.keys()].join(", ")})`;
}

function propertySchema(tool: ToolDescription, key: string): unknown {
  const properties = tool.schema.properties;
  return isPlainObject(properties) && Object.hasOwn(properties, key) ? properties[key] : undefined;
}

/** The JSON types a property schema allows (`type`, a type list, or `anyOf`/`oneOf` members). */
function schemaTypes(schema: unknown, out = new Set<string>()): Set<string> {
  if (!isPlainObject(schema)) return out;
  const { type } = schema;
  if (typeof type === "string") out.add(type);
  else if (Array.isArray(type)) { for (const t of type) if (typeof t === "string") out.add(t); }
  for (const key of ["anyOf", "oneOf"]) {
    const members = schema[key];
    if (Array.isArray(members)) { for (const m of members) schemaTypes(m, out); }
  }
  return out;
}

/**
 * A Qwen3-Coder parameter value (text) converted to the declared JSON type, as the model's own
 * parser does: text for strings and undeclared parameters; integers, numbers, booleans, and
 * objects/arrays via JSON; "null" as null. A value that does not convert stays text, and the
 * tool's argument validation reports it to the model.
 */
function typedValue(raw: string, schema: unknown): unknown {
  const types = schemaTypes(schema);
  if (types.size === 0 || (types.size === 1 && types.has("string"))) return raw;
  const value = raw.trim();
  if (value.toLowerCase() === "null" && (types.has("null") || !types.has("string"))) return null;
  for (const type of ["integer", "number", "boolean", "object", "array"]) {
    if (!types.has(type)) continue;
    if (type === "integer" && /^[+-]?\d+$/.test(value)) return Number(value);
    if (type === "number" && value !== "" && Number.isFinite(Number(value))) return Number(value);
    if (type === "boolean" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
    if ((type === "object" || type === "array") && !argumentsTooLarge(value)) {
      try {
        const parsed = parseJson(value);
        if (type === "array" ? Array.isArray(parsed) : isPlainObject(parsed)) return parsed;
      } catch { /* not JSON: try the next type */ }
    }
  }
  return raw;
}
