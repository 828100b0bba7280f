/**
 * Early detection of a final answer in a streamed JSON envelope reply, so the agent can show the
 * answer while it is still being generated.
 *
 * The model is asked for exactly one object, `{"type":"final","content":"…"}` or
 * `{"type":"tool_call",…}`, and its reply arrives as text deltas that may cut anywhere: inside a
 * key, between a backslash and the escaped character, between the two halves of a surrogate pair.
 * {@link LiveFinalExtractor} keeps a small tokenizer state between deltas instead of re-scanning
 * the accumulated reply, so a reply of N characters costs O(N) however it is split.
 *
 * The extractor only decides early; the agent still validates the whole buffered reply afterwards.
 *
 * @module
 */
import { ReasoningSplitter } from "./_reasoning.ts";
import { isHighSurrogate } from "./_text.ts";

/** What the character after a backslash decodes to (all JSON escapes except `\u`). */
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

function isHexDigit(c: string): boolean {
  return (c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");
}

function isJsonWhitespace(c: string): boolean {
  return c === " " || c === "\n" || c === "\r" || c === "\t";
}

/**
 * Incremental decoder for the body of one JSON string literal.
 *
 * Feed it the raw characters that follow the opening quote, in pieces cut anywhere; each
 * {@link JsonStringDecoder.push} returns the text decoded so far that is safe to show. Handles
 * `\" \\ \/ \b \f \n \r \t \uXXXX`, escapes split across pieces, and surrogate pairs split
 * anywhere (raw, or as two `\uXXXX` escapes): a high surrogate is held back until the next code
 * unit is decoded, so a returned piece never ends in half a pair. A lone surrogate written in the
 * JSON is returned as-is. Raw control characters are passed through (models emit them; the strict
 * parse of the whole reply is the agent's job).
 *
 * At the closing unescaped quote {@link JsonStringDecoder.done} becomes true and nothing after the
 * quote is ever returned; it is kept in {@link JsonStringDecoder.rest}.
 */
export class JsonStringDecoder {
  // An escape begun but not finished by the previous piece: "", "\\", or "\\u" plus up to three
  // hex digits. The next piece continues it.
  #escape = "";
  // A high surrogate decoded at the end of the previous piece, waiting for the next code unit so
  // that a pair is always returned whole.
  #high = "";
  #done = false;
  #error: SyntaxError | undefined;
  // Where the closing quote was: the piece that held it and the index just past it. `rest` is
  // sliced from it lazily, so a caller scanning one delta with pushAt() never pays for a copy.
  #closeRaw = "";
  #end = -1;
  #after: string[] = [];

  /**
   * Decodes the next raw piece.
   *
   * @param raw Raw JSON string-body characters, as they arrived.
   * @returns The newly decoded text ("" once done).
   * @throws {SyntaxError} On an invalid escape (also on every later call).
   */
  push(raw: string): string {
    return this.pushAt(raw, 0);
  }

  /**
   * Like {@link JsonStringDecoder.push}, reading `raw` from index `start`; lets a caller scan
   * one delta without slicing it. If the string closes, {@link JsonStringDecoder.end} tells
   * where in `raw` the caller should continue.
   *
   * @param raw The piece.
   * @param start Index of the first character of `raw` that belongs to this string.
   * @returns The newly decoded text ("" once done).
   * @throws {SyntaxError} On an invalid escape (also on every later call).
   */
  pushAt(raw: string, start: number): string {
    if (this.#error) throw this.#error;
    if (this.#done) {
      if (start < raw.length) this.#after.push(raw.slice(start));
      return "";
    }
    const out: string[] = [];
    if (this.#high !== "") {
      out.push(this.#high);
      this.#high = "";
    }
    // Start of the current run of plain characters, copied out in one slice.
    let run = start;
    for (let i = start; i < raw.length; i++) {
      if (this.#escape !== "") {
        const c = raw[i] as string;
        if (this.#escape === "\\") {
          if (c === "u") {
            this.#escape = "\\u";
            continue;
          }
          const simple = SIMPLE_ESCAPES[c];
          if (simple === undefined) {
            throw this.#fail(`Invalid escape in JSON string: "\\${c}" (code ${c.charCodeAt(0)})`);
          }
          out.push(simple);
        } else {
          if (!isHexDigit(c)) {
            throw this.#fail(
              `Invalid \\u escape in JSON string: expected 4 hex digits after "${this.#escape}", ` +
                `got ${JSON.stringify(c)}`,
            );
          }
          this.#escape += c;
          if (this.#escape.length < 6) continue;
          out.push(String.fromCharCode(Number.parseInt(this.#escape.slice(2), 16)));
        }
        this.#escape = "";
        run = i + 1;
        continue;
      }
      const code = raw.charCodeAt(i);
      if (code === 0x5c) { // backslash
        if (i > run) out.push(raw.slice(run, i));
        this.#escape = "\\";
      } else if (code === 0x22) { // closing quote
        if (i > run) out.push(raw.slice(run, i));
        this.#done = true;
        this.#closeRaw = raw;
        this.#end = i + 1;
        // A held or trailing lone surrogate is the JSON's own: return it as-is.
        return out.join("");
      }
    }
    if (this.#escape === "" && run < raw.length) out.push(raw.slice(run));
    const text = out.join("");
    if (isHighSurrogate(text.charCodeAt(text.length - 1))) {
      this.#high = text.slice(-1);
      return text.slice(0, -1);
    }
    return text;
  }

  /** Whether the closing quote has been seen. */
  get done(): boolean {
    return this.#done;
  }

  /** Index just past the closing quote in the piece that contained it; -1 until then. */
  get end(): number {
    return this.#end;
  }

  /** Everything fed after the closing quote ("" until then). */
  get rest(): string {
    if (!this.#done) return "";
    return this.#closeRaw.slice(this.#end) + this.#after.join("");
  }

  #fail(message: string): SyntaxError {
    this.#error = new SyntaxError(message);
    return this.#error;
  }
}

/**
 * Where the extractor is in the reply. A mode that straddles a delta boundary keeps its progress
 * in the fields named after it (`#ticks`, `#string`, `#depth`…).
 */
type Mode =
  | "prelude" // before "{" (after the reasoning splitter): whitespace, one opening fence
  | "fence" // counting the opening fence's backticks
  | "fence_info" // the language tag after the backticks, up to the newline
  | "member" // after "{" or ",": expecting a key
  | "key" // decoding a key string
  | "colon" // after a key
  | "value" // after the colon
  | "type" // decoding the "type" string
  | "content" // decoding the "content" string
  | "skip_string" // skipping another key's string value
  | "skip_nested" // skipping another key's object or array value
  | "skip_scalar" // skipping another key's number/true/false/null
  | "after_value" // expecting "," or "}"
  | "stopped"; // decided and nothing more to return

// Longest key / type value worth remembering: anything longer is neither "content" nor "final".
const KEY_CAP = 8;

/** Live state of a {@link LiveFinalExtractor}. */
export type LiveFinalState = "unknown" | "final" | "not_final";

/**
 * Watches the raw content deltas of one model reply and returns the final answer's text as it
 * arrives, once the reply is known to be `{"type":"final","content":"…"}`.
 *
 * Leading `<think>…</think>` blocks are split off by the one reasoning splitter (src/_reasoning.ts;
 * an unclosed block means keep waiting). Before the object it then skips whitespace and one
 * opening code fence (three backticks, an optional language tag, a
 * newline). It then scans the object's top-level members: other keys' values are skipped, keys
 * may come in any order and contain escapes. If `"content"` comes before `"type"`, its text is
 * held and returned only once `"type":"final"` is confirmed.
 *
 * Anything that rules out a final answer (another type, a non-string content, text before the
 * `{`, the object closing without both keys, malformed tokens, an invalid escape) makes the state
 * `"not_final"` and every later push() return "". An invalid escape inside content that was
 * already being returned does the same: {@link LiveFinalExtractor.emitted} then tells what the
 * caller has already shown. Nothing after the content's closing quote is returned.
 */
export class LiveFinalExtractor {
  #mode: Mode = "prelude";
  #state: LiveFinalState = "unknown";
  #reasoning = new ReasoningSplitter();
  // Backticks of the opening fence seen so far; only one fence is allowed.
  #ticks = 0;
  #fenceSeen = false;
  // The key / type / content string being decoded; it may span many deltas.
  #string: JsonStringDecoder | undefined;
  // The current key and the type value, decoded up to KEY_CAP characters.
  #key = "";
  #typeValue = "";
  // Other keys' values being skipped: nesting depth and string/escape flags, kept across deltas.
  #depth = 0;
  #inString = false;
  #escaped = false;
  #typeFinal = false;
  #contentStarted = false;
  #contentComplete = false;
  // Content decoded while "type" was still unknown, released once it turns out "final".
  #held: string[] = [];
  // A string, not parts joined on read: `+=` builds a rope in V8 and JavaScriptCore, so reading
  // `emitted` after every push stays cheap (joining an array on each read would be quadratic).
  #emitted = "";

  /**
   * Feeds the next raw content delta (never reasoning sent in a separate field).
   *
   * @param delta The delta, cut anywhere.
   * @returns Final-answer text newly available, decoded from JSON string syntax; "" if none,
   *   if the reply is not (yet) known to be final, or once it is known not to be.
   */
  push(delta: string): string {
    if (this.#mode === "stopped") return "";
    const out: string[] = [];
    try {
      this.#scan(this.#reasoning.push(delta), out);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      // Invalid escape: the reply cannot be a valid final answer.
      this.#stop("not_final");
      return "";
    }
    const text = out.join("");
    this.#emitted += text;
    return text;
  }

  /**
   * `"unknown"` until decided; `"final"` once `"type":"final"` is seen and the content string has
   * begun; `"not_final"` once a final answer is ruled out (push() then returns "" forever).
   */
  get state(): LiveFinalState {
    return this.#state;
  }

  /**
   * Whether the content string's closing quote has been seen. With key order reversed this can
   * be true while the state is still "unknown" (the text is held until "type" is read).
   */
  get contentComplete(): boolean {
    return this.#contentComplete;
  }

  /** All text returned by push() so far, joined. */
  get emitted(): string {
    return this.#emitted;
  }

  #stop(state: LiveFinalState): void {
    this.#state = state;
    this.#mode = "stopped";
    this.#string = undefined;
    if (state === "not_final") this.#held = [];
  }

  #scan(delta: string, out: string[]): void {
    let i = 0;
    while (i < delta.length) {
      const mode = this.#mode;
      if (mode === "stopped") return;
      if (mode === "key" || mode === "type" || mode === "content") {
        // Strings are handed to the decoder in one call per delta, not per character.
        const decoder = this.#string as JsonStringDecoder;
        const text = decoder.pushAt(delta, i);
        if (mode === "key") {
          if (this.#key.length < KEY_CAP) this.#key += text.slice(0, KEY_CAP);
        } else if (mode === "type") {
          if (this.#typeValue.length < KEY_CAP) this.#typeValue += text.slice(0, KEY_CAP);
        } else if (text !== "") {
          (this.#state === "final" ? out : this.#held).push(text);
        }
        if (!decoder.done) return;
        i = decoder.end;
        this.#string = undefined;
        if (mode === "key") this.#mode = "colon";
        else if (mode === "type") this.#typeDone(out);
        else this.#contentDone();
        continue;
      }
      const c = delta[i] as string;
      i++;
      switch (mode) {
        case "prelude":
          if (isJsonWhitespace(c)) break;
          if (c === "{") this.#mode = "member";
          else if (c === "`" && !this.#fenceSeen) {
            this.#mode = "fence";
            this.#ticks = 1;
          } else this.#stop("not_final");
          break;
        case "fence":
          if (c === "`") {
            if (++this.#ticks > 3) this.#stop("not_final");
          } else if (this.#ticks < 3) this.#stop("not_final");
          else {
            this.#fenceSeen = true;
            this.#mode = "fence_info";
            i--; // read c as part of the fence line
          }
          break;
        case "fence_info":
          if (c === "\n") this.#mode = "prelude";
          // Lenient: "```json{" starts the object on the fence line.
          else if (c === "{") this.#mode = "member";
          else if (!/[\w+.\- \t\r]/.test(c)) this.#stop("not_final");
          break;
        case "member":
          if (isJsonWhitespace(c)) break;
          if (c === '"') {
            this.#mode = "key";
            this.#key = "";
            this.#string = new JsonStringDecoder();
          } else this.#stop("not_final"); // "}" closes the object undecided
          break;
        case "colon":
          if (isJsonWhitespace(c)) break;
          if (c === ":") this.#mode = "value";
          else this.#stop("not_final");
          break;
        case "value":
          if (isJsonWhitespace(c)) break;
          this.#startValue(c);
          break;
        case "skip_string":
          if (this.#escaped) this.#escaped = false;
          else if (c === "\\") this.#escaped = true;
          else if (c === '"') this.#mode = "after_value";
          break;
        case "skip_nested":
          if (this.#inString) {
            if (this.#escaped) this.#escaped = false;
            else if (c === "\\") this.#escaped = true;
            else if (c === '"') this.#inString = false;
          } else if (c === '"') this.#inString = true;
          else if (c === "{" || c === "[") this.#depth++;
          else if ((c === "}" || c === "]") && --this.#depth === 0) this.#mode = "after_value";
          break;
        case "skip_scalar":
          if (isJsonWhitespace(c) || c === "," || c === "}" || c === "]") {
            this.#mode = "after_value";
            i--; // the delimiter belongs to after_value
          }
          break;
        case "after_value":
          if (isJsonWhitespace(c)) break;
          if (c === ",") this.#mode = "member";
          else this.#stop("not_final"); // "}" closes the object undecided
          break;
      }
    }
  }

  #startValue(c: string): void {
    if (this.#key === "type") {
      if (c !== '"') return this.#stop("not_final");
      this.#mode = "type";
      this.#typeValue = "";
      this.#string = new JsonStringDecoder();
    } else if (this.#key === "content") {
      if (c !== '"' || this.#contentStarted) return this.#stop("not_final");
      this.#contentStarted = true;
      if (this.#typeFinal) this.#state = "final";
      this.#mode = "content";
      this.#string = new JsonStringDecoder();
    } else if (c === '"') {
      this.#mode = "skip_string";
      this.#escaped = false;
    } else if (c === "{" || c === "[") {
      this.#mode = "skip_nested";
      this.#depth = 1;
      this.#inString = false;
      this.#escaped = false;
    } else if (c === "}" || c === "]" || c === "," || c === ":") {
      this.#stop("not_final");
    } else {
      this.#mode = "skip_scalar";
    }
  }

  #typeDone(out: string[]): void {
    if (this.#typeValue !== "final") return this.#stop("not_final");
    this.#typeFinal = true;
    if (!this.#contentStarted) {
      this.#mode = "after_value";
      return;
    }
    // Content came first and is complete (it was a whole value before this key): release it.
    out.push(this.#held.join(""));
    this.#held = [];
    this.#stop("final");
  }

  #contentDone(): void {
    this.#contentComplete = true;
    if (this.#state === "final") this.#stop("final");
    else this.#mode = "after_value";
  }
}
