/**
 * Grapheme-safe slicing of the final answer: {@link sliceText} for a whole text,
 * {@link TextSlicer} for text that arrives in pieces, {@link SliceStream} as a
 * `TransformStream`. No chunk ever splits a grapheme cluster (emoji ZWJ sequences, skin tones,
 * flags, combining marks, Hangul jamo, CRLF), and the chunks always concatenate to the text.
 * Segmentation is `Intl.Segmenter`'s, so no dependency; only positions between two characters
 * that can never join are settled without asking it (a private fast path, for speed).
 *
 * @module
 */

import { GraphemeSnapper, plainPrefix } from "./_grapheme_fast.ts";
import { isHighSurrogate } from "./_text.ts";

/**
 * How the final answer is cut into chunks.
 *
 * - `"grapheme"`: one grapheme cluster per chunk.
 * - `"word"` (the default): a word plus the whitespace and punctuation after it
 *   (`"Hello, "`, `"world!"`), words as `Intl.Segmenter` finds them (CJK included). Anything
 *   before the first word belongs to the first chunk.
 * - `"line"`: up to and including each `"\n"` (so `"\r\n"` stays together).
 * - `"sentence"`: sentences as `Intl.Segmenter` finds them, trailing spaces included.
 * - `{ graphemes: n }`: `n` grapheme clusters per chunk (the last may be shorter).
 * - a `RegExp`: each match ends a chunk and the text before a match belongs to it, as in the
 *   AI SDK's `smoothStream` (`/\S+\s+/` is "a word and the spaces after it"). The pattern is
 *   matched against the text from the start of the current chunk; its `g` and `y` flags are
 *   ignored, and an empty match ends a chunk only where it is not at the chunk's start.
 * - a function: your own splitter, returning pieces that concatenate to its input.
 *
 * Boundaries from a `RegExp` or a function that fall inside a grapheme cluster move forward
 * to the end of that cluster (the two pieces are merged).
 *
 * @example Chunk by the AI SDK's word pattern
 * ```ts
 * import { type Chunking, sliceText } from "@ai-agent/orchestrator";
 * const chunking: Chunking = /\S+\s+/;
 * console.log([...sliceText("Hello, world!", { chunking })]); // ["Hello, ", "world!"]
 * ```
 */
export type Chunking =
  | "grapheme"
  | "word"
  | "line"
  | "sentence"
  | { graphemes: number }
  | RegExp
  | ((text: string) => Iterable<string>);

/**
 * Options of {@link sliceText}, {@link TextSlicer} and {@link SliceStream}.
 *
 * @example Sentences, segmented with Japanese rules
 * ```ts
 * import { type SliceOptions, sliceText } from "@ai-agent/orchestrator";
 * const options: SliceOptions = { chunking: "sentence", locale: "ja" };
 * console.log([...sliceText("こんにちは。元気ですか？", options)]); // ["こんにちは。", "元気ですか？"]
 * ```
 */
export interface SliceOptions {
  /**
   * How the text is cut; see {@link Chunking}.
   * @default "word"
   */
  chunking?: Chunking;
  /**
   * BCP 47 language tag given to `Intl.Segmenter` (word and sentence rules can depend on it).
   * @default the runtime's default locale
   */
  locale?: string;
}

/**
 * Checks a {@link Chunking} and returns its normalized form: `"word"` for `undefined`, a
 * fresh `{ graphemes }` object, the same `RegExp` or function otherwise.
 *
 * @param chunking The value to check.
 * @returns The chunking {@link sliceText}, {@link TextSlicer} and {@link SliceStream} use.
 * @throws {RangeError} `chunking.graphemes` is not a positive integer.
 * @throws {TypeError} Anything else that is not a {@link Chunking}.
 *
 * @example Reject a zero-size chunk before streaming starts
 * ```ts
 * import { validateChunking } from "./slice_stream.ts";
 * validateChunking(undefined); // "word"
 * validateChunking({ graphemes: 0 }); // RangeError: chunking.graphemes must be a positive integer, got 0
 * ```
 */
export function validateChunking(chunking: Chunking | undefined): Chunking {
  if (chunking === undefined) return "word";
  if (typeof chunking === "string") {
    if (
      chunking === "grapheme" || chunking === "word" || chunking === "line" ||
      chunking === "sentence"
    ) return chunking;
  } else if (typeof chunking === "function" || chunking instanceof RegExp) {
    return chunking;
  } else if (typeof chunking === "object" && chunking !== null && "graphemes" in chunking) {
    const size: unknown = chunking.graphemes;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(
        `chunking.graphemes must be a positive integer, got ${describe(size)}`,
      );
    }
    return { graphemes: size };
  }
  throw new TypeError(
    'chunking must be "grapheme", "word", "line", "sentence", { graphemes: n }, a RegExp or ' +
      `a function, got ${describe(chunking)}`,
  );
}

/**
 * Slices a whole text into chunks.
 *
 * The chunks concatenate to `text` exactly, none is empty, and none ends inside a grapheme
 * cluster; an empty text yields nothing. Slicing is lazy and linear in the text's length.
 *
 * @param text The text to slice.
 * @param options Chunking and locale.
 * @returns A generator of the chunks, in order.
 * @throws {TypeError | RangeError} At the call, for invalid options; for a chunking function,
 *   a `TypeError` on the first `next()` when its pieces do not concatenate to `text`.
 *
 * @example Words, with an emoji family kept whole
 * ```ts
 * import { sliceText } from "@ai-agent/orchestrator";
 * console.log([...sliceText("Hi 👨‍👩‍👧‍👦 there!")]); // ["Hi 👨‍👩‍👧‍👦 ", "there!"]
 * console.log([...sliceText("👍🏽🇫🇷", { chunking: "grapheme" })]); // ["👍🏽", "🇫🇷"]
 * ```
 */
export function sliceText(
  text: string,
  options: SliceOptions = {},
): Generator<string, void, undefined> {
  if (typeof text !== "string") {
    throw new TypeError(`sliceText() expects a string, got ${describe(text)}`);
  }
  return slices(createPlan(options), text);
}

/**
 * Incremental slicer for text that arrives in pieces, as a model streams it.
 *
 * {@link TextSlicer.push} returns the chunks that are certainly complete and holds back the
 * trailing unit that could still grow (the last grapheme cluster, word, sentence or regex
 * remainder; for `"line"`, the unfinished line) until more text arrives or
 * {@link TextSlicer.flush}. Everything returned concatenates to everything pushed, and no
 * boundary falls inside a grapheme cluster of the whole text, even when a piece ends between a
 * base character and its combining mark or inside a ZWJ sequence.
 *
 * Work is linear overall: a push re-segments only the retained tail plus the new text, and a
 * tail longer than 1024 characters (a huge "word", a long sentence) only once the new text
 * reaches a quarter of its length, which can delay its completion a little. For
 * `"grapheme"`, `"line"`, regexes like `/\S+\s+/` and non-dictionary scripts with `"word"` and
 * `"sentence"`, the chunks are exactly those of {@link sliceText} on the whole text. In CJK,
 * Thai and other scripts `Intl.Segmenter` splits with a dictionary, whose word boundaries can
 * depend on text not yet received; a chunk's end may then differ from sliceText's (it is still
 * a grapheme boundary). A chunking function is applied once, at `flush()`, to the whole text:
 * a splitter cannot tell which of its pieces are final.
 *
 * @example Feed model tokens, get whole words
 * ```ts
 * import { TextSlicer } from "@ai-agent/orchestrator";
 * const slicer = new TextSlicer();
 * slicer.push("Hel"); // []
 * slicer.push("lo, wor"); // ["Hello, "]
 * slicer.push("ld!"); // []
 * slicer.flush(); // ["world!"]
 * ```
 */
export class TextSlicer {
  readonly #plan: Plan;
  /** Scanned text from the start of the chunk still being built: the unit that may grow. */
  #held = "";
  /** Pushed text not scanned yet (for `"line"`: the unfinished line). Joined once per scan. */
  #fresh: string[] = [];
  #freshLength = 0;

  /**
   * Creates a slicer with its segmenters; nothing is held yet.
   *
   * @param options Chunking and locale, validated here.
   * @throws {TypeError | RangeError} For invalid options.
   */
  constructor(options: SliceOptions = {}) {
    this.#plan = createPlan(options);
  }

  /**
   * Adds text and returns the chunks it completed (often none).
   *
   * @param text The next piece of the text; any length, even a lone part of a cluster.
   * @returns The completed chunks, in order; never an empty string.
   *
   * @example Hold back a cluster that the next piece extends
   * ```ts
   * import { TextSlicer } from "@ai-agent/orchestrator";
   * const slicer = new TextSlicer({ chunking: "grapheme" });
   * slicer.push("ae"); // ["a"]: "e" may still take a combining mark
   * slicer.push("\u0301b"); // ["e\u0301"]
   * slicer.flush(); // ["b"]
   * ```
   */
  push(text: string): string[] {
    if (typeof text !== "string") {
      throw new TypeError(`TextSlicer.push() expects a string, got ${describe(text)}`);
    }
    if (text === "") return [];
    const plan = this.#plan;
    if (plan.kind === "line") return this.#pushLines(text);
    this.#fresh.push(text);
    this.#freshLength += text.length;
    if (plan.kind === "function") return [];
    // A huge retained unit (a 1 MB "word", zalgo text) would be re-segmented on every push:
    // quadratic. Past RESCAN_MIN, wait until the new text is a quarter of it, so that the
    // retained length grows geometrically between scans and the total stays linear.
    if (this.#held.length > RESCAN_MIN && this.#freshLength * 4 < this.#held.length) return [];

    const buffer = this.#held + this.#fresh.join("");
    this.#fresh = [];
    this.#freshLength = 0;
    const chunks = Array.from(slices(plan, buffer));
    // Hold back the last chunk: it ends at the end of what we have, so it may still grow.
    let keep = 1;
    // A sentence break depends on the first letter after it ("etc. and" is one sentence), so
    // the break before the last sentence is final only once that sentence holds a letter, a
    // terminator or a paragraph separator.
    if (plan.kind === "sentence" && !SENTENCE_SETTLED.test(chunks[chunks.length - 1]!)) keep = 2;
    let cut = buffer.length;
    for (let i = chunks.length - keep; i < chunks.length; i++) {
      if (i >= 0) cut -= chunks[i]!.length;
    }
    // A trailing high surrogate is half a character: the break before it is not known yet.
    if (isHighSurrogate(buffer.charCodeAt(buffer.length - 1))) {
      while (cut >= buffer.length - 1 && keep < chunks.length) {
        keep++;
        cut -= chunks[chunks.length - keep]!.length;
      }
    }
    if (keep >= chunks.length) {
      this.#held = buffer;
      return [];
    }
    this.#held = buffer.slice(cut);
    chunks.length -= keep;
    return chunks;
  }

  /**
   * Returns the held-back rest of the text as chunks and resets the slicer for a new text
   * (also when it throws).
   *
   * @returns The remaining chunks (none when nothing is held).
   * @throws {TypeError} When a chunking function's pieces do not concatenate to the text.
   *
   * @example End of the stream
   * ```ts
   * import { TextSlicer } from "@ai-agent/orchestrator";
   * const slicer = new TextSlicer({ chunking: "line" });
   * slicer.push("a\r\nb"); // ["a\r\n"]
   * slicer.flush(); // ["b"]
   * ```
   */
  flush(): string[] {
    const buffer = this.#held + this.#fresh.join("");
    this.#held = "";
    this.#fresh = [];
    this.#freshLength = 0;
    if (buffer === "") return [];
    if (this.#plan.kind === "line") return [buffer];
    return Array.from(slices(this.#plan, buffer));
  }

  /** `"line"` needs no re-scan: a break after "\n" is final whatever follows (UAX #29 GB5). */
  #pushLines(text: string): string[] {
    const last = text.lastIndexOf("\n");
    if (last === -1) {
      this.#fresh.push(text);
      return [];
    }
    let end = text.indexOf("\n") + 1;
    this.#fresh.push(text.slice(0, end));
    const chunks = [this.#fresh.join("")];
    while (end <= last) {
      const next = text.indexOf("\n", end) + 1;
      chunks.push(text.slice(end, next));
      end = next;
    }
    this.#fresh = end < text.length ? [text.slice(end)] : [];
    return chunks;
  }
}

/**
 * A `TransformStream` of text pieces into grapheme-safe chunks: a {@link TextSlicer} whose
 * held-back rest is flushed when the input ends.
 *
 * @example Slice a model's text stream into words
 * ```ts
 * import { SliceStream } from "@ai-agent/orchestrator";
 * const pieces = ReadableStream.from(["Hel", "lo, wor", "ld!"]);
 * for await (const chunk of pieces.pipeThrough(new SliceStream({ chunking: "word" }))) {
 *   console.log(chunk); // "Hello, " then "world!"
 * }
 * ```
 */
export class SliceStream extends TransformStream<string, string> {
  /**
   * Creates the stream and its {@link TextSlicer}.
   *
   * @param options Chunking and locale, validated here.
   * @throws {TypeError | RangeError} For invalid options.
   */
  constructor(options: SliceOptions = {}) {
    const slicer = new TextSlicer(options);
    super({
      transform(piece, controller) {
        for (const chunk of slicer.push(piece)) controller.enqueue(chunk);
      },
      flush(controller) {
        for (const chunk of slicer.flush()) controller.enqueue(chunk);
      },
    });
  }
}

// ---------------------------------------------------------------------------------------------

/** A validated chunking with the segmenters it needs, built once per slicer. */
type Plan =
  | { kind: "grapheme"; graphemes: Intl.Segmenter }
  | { kind: "group"; size: number; graphemes: Intl.Segmenter }
  | { kind: "word"; words: Intl.Segmenter; graphemes: Intl.Segmenter }
  | { kind: "sentence"; sentences: Intl.Segmenter; graphemes: Intl.Segmenter }
  | { kind: "line" }
  | { kind: "regex"; regex: RegExp; graphemes: Intl.Segmenter }
  | { kind: "function"; split: (text: string) => Iterable<string>; graphemes: Intl.Segmenter };

/** Retained length up to which every push re-scans; see {@link TextSlicer.push}. */
const RESCAN_MIN = 1024;

/** Some letter, sentence terminator or paragraph separator (each stops UAX #29 rule SB8). */
const SENTENCE_SETTLED = /[\p{L}\n\r\u0085\u2028\u2029.!?\u3002\uFF01\uFF1F]/u;

function createPlan(options: SliceOptions): Plan {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const chunking = validateChunking(options.chunking);
  const { locale } = options;
  if (chunking === "line") return { kind: "line" };
  const graphemes = segmenter(locale, "grapheme");
  if (chunking === "grapheme") return { kind: "grapheme", graphemes };
  if (chunking === "word") return { kind: "word", words: segmenter(locale, "word"), graphemes };
  if (chunking === "sentence") {
    return { kind: "sentence", sentences: segmenter(locale, "sentence"), graphemes };
  }
  if (chunking instanceof RegExp) {
    // Own copy: `lastIndex` is our state, and the caller's flags must not change the meaning.
    const regex = new RegExp(chunking.source, chunking.flags.replace(/[gy]/g, "") + "g");
    return { kind: "regex", regex, graphemes };
  }
  if (typeof chunking === "function") return { kind: "function", split: chunking, graphemes };
  return { kind: "group", size: chunking.graphemes, graphemes };
}

/** Segmenters are stateless (each `segment()` call has its own iterator), so share them. */
const segmenters = new Map<string, Intl.Segmenter>();

function segmenter(
  locale: string | undefined,
  granularity: "grapheme" | "word" | "sentence",
): Intl.Segmenter {
  if (locale !== undefined && typeof locale !== "string") {
    throw new TypeError(`locale must be a string, got ${describe(locale)}`);
  }
  const key = `${granularity} ${locale ?? ""}`;
  let found = segmenters.get(key);
  if (!found) {
    try {
      found = new Intl.Segmenter(locale, { granularity });
    } catch (cause) {
      throw new RangeError(`locale must be a BCP 47 language tag, got ${describe(locale)}`, {
        cause,
      });
    }
    segmenters.set(key, found);
  }
  return found;
}

/**
 * The chunks of `text`. {@link TextSlicer} calls it on its retained text, which starts where a
 * chunk starts (for `"word"`, with a word), so the same code serves both.
 */
function slices(plan: Plan, text: string): Generator<string, void, undefined> {
  switch (plan.kind) {
    case "grapheme":
      return graphemeSlices(plan.graphemes, text);
    case "group":
      return groupSlices(plan.graphemes, plan.size, text);
    case "word":
      return wordSlices(plan.words, new GraphemeSnapper(plan.graphemes, text), text);
    case "sentence":
      return sentenceSlices(plan.sentences, new GraphemeSnapper(plan.graphemes, text), text);
    case "line":
      return lineSlices(text);
    case "regex":
      return regexSlices(plan.regex, new GraphemeSnapper(plan.graphemes, text), text);
    case "function":
      return functionSlices(plan.split, new GraphemeSnapper(plan.graphemes, text), text);
  }
}

function* graphemeSlices(graphemes: Intl.Segmenter, text: string): Generator<string> {
  const plain = plainPrefix(text);
  for (let i = 0; i < plain; i++) {
    if (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10) {
      yield "\r\n";
      i++;
    } else {
      yield text[i]!;
    }
  }
  if (plain === text.length) return;
  for (const { segment } of graphemes.segment(plain ? text.slice(plain) : text)) yield segment;
}

function* groupSlices(graphemes: Intl.Segmenter, size: number, text: string): Generator<string> {
  let start = 0;
  let count = 0;
  const plain = plainPrefix(text);
  for (let i = 0; i < plain; i++) {
    if (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10) i++;
    if (++count === size) {
      yield text.slice(start, i + 1);
      start = i + 1;
      count = 0;
    }
  }
  if (plain < text.length) {
    const rest = plain ? text.slice(plain) : text;
    for (const { index, segment } of graphemes.segment(rest)) {
      if (++count === size) {
        const end = plain + index + segment.length;
        yield text.slice(start, end);
        start = end;
        count = 0;
      }
    }
  }
  if (start < text.length) yield text.slice(start);
}

function* wordSlices(
  words: Intl.Segmenter,
  snapper: GraphemeSnapper,
  text: string,
): Generator<string> {
  let start = 0;
  // A cut goes before each word, except the first: leading spaces or punctuation join it
  // rather than make a chunk of their own.
  let seenWord = false;
  for (const { index, isWordLike } of words.segment(text)) {
    if (!isWordLike) continue;
    if (seenWord && index > start) {
      const end = snapper.snap(index);
      if (end > start && end < text.length) {
        yield text.slice(start, end);
        start = end;
      }
    }
    seenWord = true;
  }
  if (start < text.length) yield text.slice(start);
}

function* sentenceSlices(
  sentences: Intl.Segmenter,
  snapper: GraphemeSnapper,
  text: string,
): Generator<string> {
  let start = 0;
  // The previous sentence: most chunks are exactly one, already cut out by the segmenter.
  let previous = "";
  let previousIndex = -1;
  for (const { index, segment } of sentences.segment(text)) {
    if (index > start) {
      const end = snapper.snap(index);
      if (end < text.length) {
        yield previousIndex === start && end === index ? previous : text.slice(start, end);
        start = end;
      }
    }
    previous = segment;
    previousIndex = index;
  }
  if (start < text.length) yield previousIndex === start ? previous : text.slice(start);
}

function* lineSlices(text: string): Generator<string> {
  let start = 0;
  for (let end = text.indexOf("\n") + 1; end > 0; end = text.indexOf("\n", end) + 1) {
    yield text.slice(start, end);
    start = end;
  }
  if (start < text.length) yield text.slice(start);
}

function* regexSlices(regex: RegExp, snapper: GraphemeSnapper, text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    // Matched against the rest of the text, as smoothStream matches its buffer: `^` and
    // lookbehinds see the chunk's start. V8 and JavaScriptCore slice without copying.
    const rest = text.slice(start);
    regex.lastIndex = 0;
    let match = regex.exec(rest);
    if (match && match.index + match[0].length === 0) {
      // An empty match at the start cuts nothing: look for the next match after it.
      regex.lastIndex = isHighSurrogate(rest.charCodeAt(0)) ? 2 : 1;
      match = regex.exec(rest);
    }
    if (!match) break;
    const end = snapper.snap(start + match.index + match[0].length);
    if (end >= text.length) break;
    yield text.slice(start, end);
    start = end;
  }
  if (start < text.length) yield text.slice(start);
}

function* functionSlices(
  split: (text: string) => Iterable<string>,
  snapper: GraphemeSnapper,
  text: string,
): Generator<string> {
  // Check every piece before yielding anything, so that a broken splitter never produces a
  // partial answer.
  const pieces: unknown = split(text);
  if (
    typeof pieces !== "object" || pieces === null ||
    typeof (pieces as Partial<Iterable<unknown>>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `chunking function must return an iterable of strings, got ${describe(pieces)}`,
    );
  }
  const ends: number[] = [];
  let position = 0;
  let count = 0;
  for (const piece of pieces as Iterable<unknown>) {
    if (typeof piece !== "string") {
      throw new TypeError(
        `chunking function must return strings, got ${describe(piece)} as piece ${count}`,
      );
    }
    if (!text.startsWith(piece, position)) {
      throw new TypeError(
        "chunking function must return pieces that concatenate to its input, but piece " +
          `${count} (${describe(piece)}) does not continue the text at index ${position}`,
      );
    }
    position += piece.length;
    count++;
    if (piece !== "") ends.push(position);
  }
  if (position !== text.length) {
    throw new TypeError(
      "chunking function must return pieces that concatenate to its input, but they cover " +
        `${position} of its ${text.length} characters`,
    );
  }
  let start = 0;
  for (const piece of ends) {
    const end = snapper.snap(piece);
    if (end > start && end < text.length) {
      yield text.slice(start, end);
      start = end;
    }
  }
  if (start < text.length) yield text.slice(start);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}
