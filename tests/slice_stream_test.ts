import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Chunking,
  type SliceOptions,
  SliceStream,
  sliceText,
  TextSlicer,
  validateChunking,
} from "../src/slice_stream.ts";

// ---------------------------------------------------------------------------------------------
// Oracles: Intl.Segmenter on the whole text, independent of the code under test.

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function graphemes(text: string): string[] {
  return Array.from(graphemeSegmenter.segment(text), (s) => s.segment);
}

/** Grapheme boundaries of `text`, 0 and `text.length` included. */
function graphemeBoundaries(text: string): number[] {
  const ends = [0];
  for (const s of graphemeSegmenter.segment(text)) ends.push(s.index + s.segment.length);
  return ends;
}

/** Where the chunks cut the text (0 and the end excluded). */
function cuts(chunks: string[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const chunk of chunks.slice(0, -1)) out.push(at += chunk.length);
  return out;
}

/** The first grapheme boundary at or after each position, deduplicated, inside the text. */
function snapped(text: string, positions: number[]): number[] {
  const bounds = graphemeBoundaries(text);
  const out = new Set<number>();
  for (const p of positions) {
    const b = bounds.find((x) => x >= p)!;
    if (b > 0 && b < text.length) out.add(b);
  }
  return [...out].sort((a, b) => a - b);
}

/** The invariants every slicing must keep, whatever the chunking. */
function assertSafeChunks(text: string, chunks: string[]): void {
  assert.equal(chunks.join(""), text, "chunks concatenate to the text");
  const bounds = new Set(graphemeBoundaries(text));
  let at = 0;
  for (const chunk of chunks) {
    // Messages built only on failure: the texts can be long.
    if (chunk === "") assert.fail("no chunk is empty");
    if (!chunk.isWellFormed()) assert.fail(`lone surrogate in ${JSON.stringify(chunk)}`);
    at += chunk.length;
    if (!bounds.has(at)) assert.fail(`cut at ${at} is inside a cluster of ${JSON.stringify(text)}`);
  }
}

/** Pushes the pieces one by one, then flushes; returns every chunk in order. */
function pushAll(options: SliceOptions, pieces: string[]): string[] {
  const slicer = new TextSlicer(options);
  const out: string[] = [];
  for (const piece of pieces) out.push(...slicer.push(piece));
  out.push(...slicer.flush());
  return out;
}

const family = "👨‍👩‍👧‍👦";
const thumbs = "👍🏽";
const flags = "🇫🇷🇯🇵";
const eAcute = "e\u0301";
const gak = "\u1100\u1161\u11A8"; // Hangul jamo L V T: one syllable cluster

/** One of each kind of chunking. */
const allChunkings: Chunking[] = [
  "grapheme",
  "word",
  "line",
  "sentence",
  { graphemes: 1 },
  { graphemes: 3 },
  /\S+\s+/,
  /./,
  /./u,
  /[.!?]\s*/,
  /x*/,
  (t: string) => t.split(""),
  (t: string) => t.split(/(?<=\s)/),
  (t: string) =>
    Array.from({ length: Math.ceil(t.length / 3) }, (_, i) => t.slice(3 * i, 3 * i + 3)),
];

// ---------------------------------------------------------------------------------------------

describe("validateChunking", () => {
  test("defaults to word and returns valid values in normalized form", () => {
    assert.equal(validateChunking(undefined), "word");
    for (const mode of ["grapheme", "word", "line", "sentence"] as const) {
      assert.equal(validateChunking(mode), mode);
    }
    const regex = /\S+\s+/;
    const split = (t: string) => [t];
    assert.equal(validateChunking(regex), regex);
    assert.equal(validateChunking(split), split);
    const extra = { graphemes: 3, other: true } as { graphemes: number };
    assert.deepEqual(validateChunking(extra), { graphemes: 3 });
  });

  test("throws a RangeError naming chunking.graphemes when it is not a positive integer", () => {
    assert.throws(() => validateChunking({ graphemes: 0 }), {
      name: "RangeError",
      message: "chunking.graphemes must be a positive integer, got 0",
    });
    for (const bad of [-1, 1.5, NaN, Infinity, "3"]) {
      assert.throws(
        () => validateChunking({ graphemes: bad as number }),
        (e: unknown) => e instanceof RangeError && /^chunking\.graphemes must/.test(e.message),
      );
    }
  });

  test("throws a TypeError naming chunking for anything else", () => {
    assert.throws(() => validateChunking("words" as Chunking), {
      name: "TypeError",
      message: /^chunking must be .* got "words"$/,
    });
    for (const bad of [null, 5, {}, [], true]) {
      assert.throws(() => validateChunking(bad as unknown as Chunking), {
        name: "TypeError",
        message: /^chunking must be/,
      });
    }
  });

  test("sliceText, TextSlicer and SliceStream reject bad options at once", () => {
    const options = { chunking: { graphemes: 0 } };
    assert.throws(() => sliceText("abc", options), RangeError); // before any next()
    assert.throws(() => new TextSlicer(options), RangeError);
    assert.throws(() => new SliceStream(options), RangeError);
    assert.throws(() => new TextSlicer({ chunking: "chars" as Chunking }), TypeError);
    assert.throws(() => new TextSlicer({ locale: "not a locale!" }), {
      name: "RangeError",
      message: /^locale must be/,
    });
    assert.throws(() => new TextSlicer({ locale: 42 as unknown as string }), {
      name: "TypeError",
      message: /^locale must be a string, got 42/,
    });
    assert.throws(() => sliceText(42 as unknown as string), TypeError);
  });
});

describe("sliceText", () => {
  test("word (default): a word plus the spaces and punctuation after it", () => {
    assert.deepEqual([...sliceText("Hello, world! How are you?")], [
      "Hello, ",
      "world! ",
      "How ",
      "are ",
      "you?",
    ]);
  });

  test("word: text before the first word joins the first chunk", () => {
    assert.deepEqual([...sliceText("  ¿Qué pasa?")], ["  ¿Qué ", "pasa?"]);
  });

  test("word: emoji, flags and combining marks stay whole in the preceding word's chunk", () => {
    const text = `Hi ${family} there ${thumbs}! ${flags} caf${eAcute} ${eAcute}t${eAcute}`;
    assert.deepEqual([...sliceText(text, { chunking: "word" })], [
      `Hi ${family} `,
      `there ${thumbs}! ${flags} `,
      `caf${eAcute} `,
      `${eAcute}t${eAcute}`,
    ]);
  });

  test("word: CJK is cut into the segmenter's words, Hangul at spaces", () => {
    const japanese = "東京都に住んでいます。";
    const chunks = [...sliceText(japanese + "한국어 텍스트")];
    assert.deepEqual(chunks.slice(-2), ["한국어 ", "텍스트"]);
    const cjk = chunks.slice(0, -2);
    assert.equal(cjk.join(""), japanese);
    assert.ok(cjk.length > 1, `a CJK sentence is more than one chunk: ${JSON.stringify(cjk)}`);
    const words = new Intl.Segmenter(undefined, { granularity: "word" });
    const wordStarts = new Set(
      Array.from(words.segment(japanese)).filter((s) => s.isWordLike).map((s) => s.index),
    );
    for (const at of cuts(cjk)) assert.ok(wordStarts.has(at), `cut ${at} starts a word`);
  });

  test("grapheme: one cluster per chunk for ZWJ, skin tones, flags, marks, jamo, CRLF", () => {
    const text = `${family}${thumbs}${flags}${eAcute}${gak}한\r\n東a`;
    assert.deepEqual([...sliceText(text, { chunking: "grapheme" })], [
      family,
      thumbs,
      "🇫🇷",
      "🇯🇵",
      eAcute,
      gak,
      "한",
      "\r\n",
      "東",
      "a",
    ]);
  });

  test("grapheme: plain text followed by a combining mark keeps the mark on its base", () => {
    assert.deepEqual([...sliceText("abc\r\n\u0301x", { chunking: "grapheme" })], [
      "a",
      "b",
      "c",
      "\r\n",
      "\u0301",
      "x",
    ]);
    assert.deepEqual([...sliceText("ab\u0301", { chunking: "grapheme" })], ["a", "b\u0301"]);
  });

  test("{ graphemes: n }: n clusters per chunk, the last may be shorter", () => {
    const text = `${thumbs}${flags}${eAcute}x`;
    assert.deepEqual([...sliceText(text, { chunking: { graphemes: 2 } })], [
      `${thumbs}🇫🇷`,
      `🇯🇵${eAcute}`,
      "x",
    ]);
    assert.deepEqual([...sliceText("abc\r\nde", { chunking: { graphemes: 2 } })], [
      "ab",
      "c\r\n",
      "de",
    ]);
  });

  test("line: up to and including each \\n, CRLF together, a lone CR is no line end", () => {
    assert.deepEqual([...sliceText("a\r\nb\n\nc\rd", { chunking: "line" })], [
      "a\r\n",
      "b\n",
      "\n",
      "c\rd",
    ]);
    assert.deepEqual([...sliceText("a\n", { chunking: "line" })], ["a\n"]);
  });

  test("sentence: the segmenter's sentences with their trailing spaces", () => {
    assert.deepEqual([
      ...sliceText("Hello there! How are you? I'm fine.", { chunking: "sentence" }),
    ], [
      "Hello there! ",
      "How are you? ",
      "I'm fine.",
    ]);
    assert.deepEqual(
      [...sliceText("こんにちは。元気ですか？", { chunking: "sentence", locale: "ja" })],
      ["こんにちは。", "元気ですか？"],
    );
  });

  test("RegExp: each match ends a chunk and the text before it belongs to it", () => {
    assert.deepEqual([...sliceText("Hello,   world! x", { chunking: /\S+\s+/ })], [
      "Hello,   ",
      "world! ",
      "x",
    ]);
    assert.deepEqual([...sliceText("Hi. Yo! x", { chunking: /[.!?]\s*/ })], ["Hi. ", "Yo! ", "x"]);
  });

  test("RegExp: matched from each chunk's start, like smoothStream (^ anchors there)", () => {
    assert.deepEqual([...sliceText("a b c", { chunking: /^\S+\s*/ })], ["a ", "b ", "c"]);
  });

  test("RegExp: boundaries inside a cluster move forward to its end", () => {
    const text = `a${eAcute}${family}${flags}${thumbs}b`;
    const expected = ["a", eAcute, family, "🇫🇷", "🇯🇵", thumbs, "b"];
    assert.deepEqual([...sliceText(text, { chunking: /./ })], expected); // code units
    assert.deepEqual([...sliceText(text, { chunking: /./u })], expected); // code points
  });

  test("RegExp: empty matches cut only where they make progress; flags are ignored", () => {
    assert.deepEqual([...sliceText("abc", { chunking: /x*/ })], ["a", "b", "c"]);
    const global = /\s+/gy;
    global.lastIndex = 3;
    assert.deepEqual([...sliceText("a b c", { chunking: global })], ["a ", "b ", "c"]);
    assert.equal(global.lastIndex, 3, "the caller's RegExp is not used statefully");
  });

  test("function: pieces are merged where they would split a cluster", () => {
    const text = `a${family}b${eAcute}`;
    assert.deepEqual([...sliceText(text, { chunking: (t) => t.split("") })], [
      "a",
      family,
      "b",
      eAcute,
    ]);
    function* halves(t: string): Generator<string> {
      yield "";
      yield t.slice(0, 2);
      yield t.slice(2);
    }
    assert.deepEqual([...sliceText("abcd", { chunking: halves })], ["ab", "cd"]);
  });

  test("function: pieces that do not concatenate to the input are a TypeError", () => {
    const run = (split: (t: string) => Iterable<string>) => [
      ...sliceText("abc", { chunking: split }),
    ];
    assert.throws(() => run(() => ["ab", "x"]), {
      name: "TypeError",
      message: /concatenate to its input, but piece 1 \("x"\) does not continue/,
    });
    assert.throws(() => run(() => ["ab"]), {
      name: "TypeError",
      message: /they cover 2 of its 3 characters/,
    });
    assert.throws(() => run(() => ["a", 1 as unknown as string]), {
      name: "TypeError",
      message: /must return strings, got 1 as piece 1/,
    });
    assert.throws(() => run(() => 5 as unknown as string[]), {
      name: "TypeError",
      message: /must return an iterable of strings, got 5/,
    });
  });

  test("an empty text yields nothing in every mode", () => {
    for (const chunking of allChunkings) assert.deepEqual([...sliceText("", { chunking })], []);
  });

  // Each character cut exactly after and exactly before the characters that grapheme rules
  // join it to: the cheap "plain" check must never take a non-boundary for a boundary.
  const ranges = [[0, 0x3fff], [0x4000, 0x9fff], [0xa000, 0xffff], [0x1f000, 0x1faff], [
    0xe0000,
    0xe01ef,
  ]];
  for (const [lo, hi] of ranges as [number, number][]) {
    const hex = (cp: number) => cp.toString(16).toUpperCase().padStart(4, "0");
    test(`snapping agrees with Intl.Segmenter around U+${hex(lo)}..U+${hex(hi)}`, () => {
      assertSnapsLikeSegmenter(lo, hi);
    });
  }

  test("snaps without re-segmenting the text per boundary", () => {
    const text = `x${eAcute}${family}`.repeat(2000);
    let segmented = 0;
    const { segment } = Intl.Segmenter.prototype;
    Intl.Segmenter.prototype.segment = function (this: Intl.Segmenter, input: string) {
      segmented++;
      return segment.call(this, input);
    };
    let chunks: string[];
    try {
      chunks = [...sliceText(text, { chunking: /./ })];
    } finally {
      Intl.Segmenter.prototype.segment = segment;
    }
    assertSafeChunks(text, chunks);
    assert.equal(segmented, 1, "one grapheme segmentation for the whole text");
  });
});

describe("TextSlicer", () => {
  test("returns words as soon as the next word starts", () => {
    const slicer = new TextSlicer();
    assert.deepEqual(slicer.push("Hel"), []);
    assert.deepEqual(slicer.push("lo, wor"), ["Hello, "]);
    assert.deepEqual(slicer.push("ld!"), []);
    assert.deepEqual(slicer.flush(), ["world!"]);
  });

  test("holds back the last cluster: a combining mark may follow", () => {
    const slicer = new TextSlicer({ chunking: "grapheme" });
    assert.deepEqual(slicer.push("ae"), ["a"]);
    assert.deepEqual(slicer.push("\u0301b"), [eAcute]);
    assert.deepEqual(slicer.flush(), ["b"]);
  });

  test("keeps ZWJ sequences, skin tones, flags, jamo and CRLF whole across pushes", () => {
    const slicer = new TextSlicer({ chunking: "grapheme" });
    const out = [
      slicer.push("👨\u200D"),
      slicer.push("👩\u200D👧\u200D"),
      slicer.push("👦👍"),
      slicer.push("🏽🇫"),
      slicer.push("🇷🇯"),
      slicer.push("🇵\u1100"),
      slicer.push("\u1161"),
      slicer.push("\u11A8a\r"),
      slicer.push("\nb"),
      slicer.flush(),
    ];
    assert.deepEqual(out, [
      [],
      [],
      [family],
      [thumbs],
      ["🇫🇷"],
      ["🇯🇵"],
      [],
      [gak, "a"],
      ["\r\n"],
      ["b"],
    ]);
  });

  test("a piece ending in half a surrogate pair does not cut before it", () => {
    const slicer = new TextSlicer({ chunking: "grapheme" });
    assert.deepEqual(slicer.push("x👨\u200D\uD83D"), ["x"]);
    assert.deepEqual(slicer.push("\uDC69y"), ["👨‍👩"]);
    assert.deepEqual(slicer.flush(), ["y"]);
  });

  test("line: returns each line as soon as its \\n arrives", () => {
    const slicer = new TextSlicer({ chunking: "line" });
    assert.deepEqual(slicer.push("ab\r"), []);
    assert.deepEqual(slicer.push("\ncd\n\nef"), ["ab\r\n", "cd\n", "\n"]);
    assert.deepEqual(slicer.push("\n"), ["ef\n"]);
    assert.deepEqual(slicer.flush(), []);
  });

  test("sentence: waits for a letter before cutting after a period", () => {
    // "Wait. 123" may still become one sentence: "Wait. 123 go." has no break (UAX #29 SB8).
    const slicer = new TextSlicer({ chunking: "sentence" });
    assert.deepEqual(slicer.push("Wait. 123"), []);
    assert.deepEqual(slicer.push(" go. Next"), ["Wait. 123 go. "]);
    assert.deepEqual(slicer.flush(), ["Next"]);
    assert.deepEqual(pushAll({ chunking: "sentence" }, ["Hi there. ", "It wor", "ks."]), [
      "Hi there. ",
      "It works.",
    ]);
  });

  test("RegExp: a match that reaches the end of the text so far is held back", () => {
    const slicer = new TextSlicer({ chunking: /\S+\s+/ });
    assert.deepEqual(slicer.push("Hello "), []);
    assert.deepEqual(slicer.push("  world"), ["Hello   "]);
    assert.deepEqual(slicer.flush(), ["world"]);
  });

  test("{ graphemes: n }: groups of n clusters across pushes", () => {
    const slicer = new TextSlicer({ chunking: { graphemes: 2 } });
    assert.deepEqual(slicer.push("ab"), []);
    assert.deepEqual(slicer.push("c"), ["ab"]);
    assert.deepEqual(slicer.push("\u0301d"), []);
    assert.deepEqual(slicer.push("e"), ["c\u0301d"]);
    assert.deepEqual(slicer.flush(), ["e"]);
  });

  test("a chunking function is applied once, at flush", () => {
    const seen: string[] = [];
    const split = (t: string) => (seen.push(t), t.split(" ").map((w, i) => (i ? " " + w : w)));
    const slicer = new TextSlicer({ chunking: split });
    assert.deepEqual(slicer.push("a b"), []);
    assert.deepEqual(slicer.push(" c"), []);
    assert.deepEqual(slicer.flush(), ["a", " b", " c"]);
    assert.deepEqual(seen, ["a b c"]);
    const broken = new TextSlicer({ chunking: () => ["nope"] });
    broken.push("abc");
    assert.throws(() => broken.flush(), TypeError);
  });

  test("flush resets the slicer for a new text", () => {
    const slicer = new TextSlicer();
    assert.deepEqual(slicer.push("One two "), ["One "]);
    assert.deepEqual(slicer.flush(), ["two "]);
    assert.deepEqual(slicer.flush(), []);
    // A new text: leading spaces join its first word again.
    assert.deepEqual(slicer.push("  three four"), ["  three "]);
    assert.deepEqual(slicer.flush(), ["four"]);
  });

  test("ignores empty pieces and rejects non-strings", () => {
    const slicer = new TextSlicer();
    assert.deepEqual(slicer.push(""), []);
    assert.throws(() => slicer.push(7 as unknown as string), {
      name: "TypeError",
      message: /^TextSlicer\.push\(\) expects a string, got 7/,
    });
  });

  test("creates its segmenters once, not per push", () => {
    const Original = Intl.Segmenter;
    let constructed = 0;
    const intl = Intl as { Segmenter: typeof Intl.Segmenter };
    intl.Segmenter = new Proxy(Original, {
      construct(target, args) {
        constructed++;
        return Reflect.construct(target, args);
      },
    });
    try {
      // A locale no other test uses, so that no segmenter is cached yet.
      const slicer = new TextSlicer({ chunking: "word", locale: "fr-CA" });
      const before = constructed;
      for (let i = 0; i < 50; i++) slicer.push(`mot${i} `);
      slicer.flush();
      assert.ok(before <= 2, `${before} segmenters for one slicer`);
      assert.equal(constructed, before, "no segmenter created by push() or flush()");
    } finally {
      intl.Segmenter = Original;
    }
  });

  test("stays linear when one unit grows huge: 50 000 characters in 10-character pieces", () => {
    const letters = Array.from({ length: 5_000 }, () => "abcdefghij");
    const zalgo = ["a", ...Array.from({ length: 5_000 }, () => "\u0301".repeat(10))];
    const cases: [Chunking, string[]][] = [
      ["word", letters],
      ["sentence", letters],
      ["grapheme", zalgo], // one 50 001-character cluster
      [{ graphemes: 2 }, zalgo],
      // (Not /\S+\s+/: that pattern itself backtracks quadratically over a run with no space.)
      [/\s+/, letters],
    ];
    for (const [chunking, pieces] of cases) {
      let chunks: string[] = [];
      const work = countScans(() => chunks = pushAll({ chunking }, [...pieces, " end"]));
      assert.equal(chunks.join(""), pieces.join("") + " end");
      // Re-scanning the whole retained unit on every push would be ~1.25e8 characters.
      assert.ok(
        work.length < 20 * 50_000,
        `${String(chunking)}: scanned ${work.length} characters for 50 000`,
      );
    }
  });
});

describe("SliceStream", () => {
  test("slices a stream of pieces into words and flushes the rest", async () => {
    const stream = new SliceStream({ chunking: "word" });
    assert.ok(stream instanceof TransformStream);
    const input = ReadableStream.from(["Hel", "lo, wor", "ld!"]);
    assert.deepEqual(await Array.fromAsync(input.pipeThrough(stream)), ["Hello, ", "world!"]);
  });

  test("never splits a cluster that spans pieces", async () => {
    const input = ReadableStream.from(["a👨\u200D", "👩\u200D👧", "\u200D👦e", "\u0301"]);
    const output = input.pipeThrough(new SliceStream({ chunking: "grapheme" }));
    assert.deepEqual(await Array.fromAsync(output), ["a", family, eAcute]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests: arbitrary Unicode mixed with hand-picked hard graphemes.

const hard = [
  family,
  thumbs,
  "🇫🇷",
  "🇯🇵",
  "🇫",
  "🏳️‍🌈",
  "👩🏽‍💻",
  "❤️",
  eAcute,
  "e\u0301\u0302",
  "\u0301",
  "\u200D",
  "\uFE0F",
  gak,
  "\u1100",
  "\u1161",
  "\u11A8",
  "한",
  "東",
  "京",
  "。",
  "\r\n",
  "\r",
  "\n",
  " ",
  "  ",
  ".",
  "! ",
  "? ",
  "a",
  "A",
  "1",
  ",",
  "'",
  "\u0915\u094D\u0937", // Devanagari conjunct
  "\u0600", // Prepend
  "ก",
  "ำ",
];

const hardText = fc.array(
  fc.oneof(fc.string({ unit: "grapheme", maxLength: 4 }), fc.constantFrom(...hard)),
  { maxLength: 24 },
).map((parts) => parts.join(""));

/** Text without dictionary scripts (CJK, Thai), where streaming must match sliceText exactly. */
const latinText = fc.array(
  fc.constantFrom(
    ...["Hello", "world", "it's", "3.5", "etc", "e.g.", "A", "b", "x_y", "42", "Mr", "USA"],
    ...[" ", "  ", ", ", ". ", "! ", "? ", ".", "\n", "\r\n", "\n\n", "(", ")", '"', "'", "-"],
    ...[family, thumbs, "🇫🇷", "🇯🇵", "🇫", "❤️", eAcute, "\u0301", "\u200D", "ñ", "Ж", gak],
  ),
  { maxLength: 30 },
).map((parts) => parts.join(""));

const chunkingArb = fc.oneof(
  fc.constantFrom(...allChunkings),
  fc.integer({ min: 1, max: 7 }).map((graphemes): Chunking => ({ graphemes })),
);

/** Split points for pushes, moved off the middle of surrogate pairs (a decoder never does that). */
function piecesOf(text: string, points: number[]): string[] {
  const at = new Set<number>();
  for (const p of points) {
    let i = text.length ? p % (text.length + 1) : 0;
    const code = text.charCodeAt(i);
    if (i > 0 && code >= 0xdc00 && code <= 0xdfff) i++;
    at.add(i);
  }
  const sorted = [...at].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const p of sorted) {
    pieces.push(text.slice(start, p)); // empty pieces too: push("") must be harmless
    start = p;
  }
  pieces.push(text.slice(start));
  return pieces;
}

const run = { seed: 42, numRuns: 200 };

describe("properties", () => {
  test("sliceText: chunks concatenate, are non-empty and cut only at grapheme boundaries", () => {
    fc.assert(
      fc.property(hardText, chunkingArb, (text, chunking) => {
        assertSafeChunks(text, [...sliceText(text, { chunking })]);
      }),
      run,
    );
  });

  test("sliceText: grapheme chunks are exactly the segmenter's clusters", () => {
    fc.assert(
      fc.property(hardText, (text) => {
        assert.deepEqual([...sliceText(text, { chunking: "grapheme" })], graphemes(text));
        // Snapping every code unit forward gives the clusters too.
        assert.deepEqual([...sliceText(text, { chunking: /[\s\S]/ })], graphemes(text));
      }),
      run,
    );
  });

  test("sliceText: word, sentence and line cut where the segmenter says", () => {
    const words = new Intl.Segmenter(undefined, { granularity: "word" });
    const sentences = new Intl.Segmenter(undefined, { granularity: "sentence" });
    fc.assert(
      fc.property(hardText, (text) => {
        const wordStarts = Array.from(words.segment(text)).filter((s) => s.isWordLike)
          .map((s) => s.index).slice(1);
        assert.deepEqual(
          cuts([...sliceText(text, { chunking: "word" })]),
          snapped(text, wordStarts),
        );
        const sentenceStarts = Array.from(sentences.segment(text), (s) => s.index);
        assert.deepEqual(
          cuts([...sliceText(text, { chunking: "sentence" })]),
          snapped(text, sentenceStarts),
        );
        const lineEnds = [...text.matchAll(/\n/g)].map((m) => m.index + 1);
        assert.deepEqual(cuts([...sliceText(text, { chunking: "line" })]), snapped(text, lineEnds));
      }),
      run,
    );
  });

  test("TextSlicer: any split into pushes keeps every invariant", () => {
    fc.assert(
      fc.property(
        hardText,
        chunkingArb,
        fc.array(fc.nat(), { maxLength: 12 }),
        (text, chunking, points) => {
          const slicer = new TextSlicer({ chunking });
          const chunks: string[] = [];
          for (const piece of piecesOf(text, points)) {
            const out = slicer.push(piece);
            for (const chunk of out) assert.notEqual(chunk, "");
            chunks.push(...out);
          }
          chunks.push(...slicer.flush());
          assertSafeChunks(text, chunks);
        },
      ),
      run,
    );
  });

  test("TextSlicer: same chunks as sliceText for grapheme, groups, line and /\\S+\\s+/", () => {
    const exact = fc.constantFrom<Chunking>("grapheme", "line", { graphemes: 3 }, /\S+\s+/);
    fc.assert(
      fc.property(
        hardText,
        exact,
        fc.array(fc.nat(), { maxLength: 12 }),
        (text, chunking, points) => {
          assert.deepEqual(pushAll({ chunking }, piecesOf(text, points)), [
            ...sliceText(text, { chunking }),
          ]);
        },
      ),
      run,
    );
  });

  test("TextSlicer: same chunks as sliceText for word and sentence outside dictionary scripts", () => {
    const modes = fc.constantFrom<Chunking>("word", "sentence");
    fc.assert(
      fc.property(
        latinText,
        modes,
        fc.array(fc.nat(), { maxLength: 12 }),
        (text, chunking, points) => {
          assert.deepEqual(pushAll({ chunking }, piecesOf(text, points)), [
            ...sliceText(text, { chunking }),
          ]);
        },
      ),
      run,
    );
  });
});

/**
 * Counts the calls of `Intl.Segmenter.prototype.segment` and `RegExp.prototype.exec` while `f`
 * runs, and the characters they were given.
 */
function countScans(f: () => unknown): { count: number; length: number } {
  const { segment } = Intl.Segmenter.prototype;
  const { exec } = RegExp.prototype;
  const calls = { count: 0, length: 0 };
  Intl.Segmenter.prototype.segment = function (this: Intl.Segmenter, input: string) {
    calls.count++;
    calls.length += input.length;
    return segment.call(this, input);
  };
  RegExp.prototype.exec = function (this: RegExp, input: string) {
    calls.count++;
    calls.length += input.length;
    return exec.call(this, input);
  };
  try {
    f();
  } finally {
    Intl.Segmenter.prototype.segment = segment;
    RegExp.prototype.exec = exec;
  }
  return calls;
}

/** Cuts every character in `lo..hi` (no surrogates) right before and after joining contexts. */
function assertSnapsLikeSegmenter(lo: number, hi: number): void {
  const before = ["a", "😀\u200D", "\u1100", "\uAC00", "\u0915\u094D", "🇫", "\r"];
  const after = [[" ", "b"], ["😀", "😀"], ["\u0915", "\u0915"], [" ", "\uAC00"], [" ", "🇫"]];
  const parts: string[] = [flags, "🇫", flags, "a🇫🇷🇫", "\r", "\r", "\n", "\n", "\r"];
  for (let cp = lo; cp <= hi; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    for (const b of before) parts.push(b, c + " ");
    for (const [prefix, next] of after) parts.push(prefix + c, next + " ");
    parts.push(c, "\n ");
  }
  const text = parts.join("");
  const actual = cuts([...sliceText(text, { chunking: () => parts })]);
  // The first grapheme boundary at or after each part's end.
  const bounds = graphemeBoundaries(text);
  const expected: number[] = [];
  let at = 0;
  let j = 0;
  for (const part of parts) {
    at += part.length;
    while (bounds[j]! < at) j++;
    if (bounds[j]! < text.length && expected[expected.length - 1] !== bounds[j]) {
      expected.push(bounds[j]!);
    }
  }
  // Compared by hand: a diff of two arrays this long would take minutes.
  const i = expected.findIndex((cut, i) => actual[i] !== cut);
  if (i !== -1 || actual.length !== expected.length) {
    const near = i === -1 ? Math.min(actual.length, expected.length) : i;
    const from = (expected[near - 1] ?? 0) - 4;
    assert.fail(
      `cut ${actual[near]}, expected ${expected[near]} in ${
        JSON.stringify(text.slice(from, from + 16))
      }`,
    );
  }
}
