// The grapheme fast path (src/_grapheme_fast.ts) against the runtime's own Intl.Segmenter.
//
// GraphemeBreakTest.txt is not available offline here, so the corpus is generated instead:
// every character the fast path would settle on its own is put next to a representative of
// each Grapheme_Cluster_Break class, and after the multi-character contexts that rules GB9c
// (Indic conjuncts), GB11 (emoji ZWJ sequences) and GB12/GB13 (regional-indicator pairs)
// depend on; then seeded random strings mix all of these. Wherever the fast path claims a
// boundary, the segmenter must have one.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  GraphemeSnapper,
  isPlainBoundary,
  plainPrefix,
  UNICODE_VERSION,
} from "../src/_grapheme_fast.ts";

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** The segmenter's boundaries inside `text` (0 and the length excluded). */
function boundaries(text: string): Set<number> {
  const found = new Set<number>();
  for (const { index } of graphemes.segment(text)) if (index > 0) found.add(index);
  return found;
}

const hex = (text: string) =>
  Array.from(text, (c) => c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0"))
    .join(" ");

/** Positions where the fast path claims a boundary that the segmenter does not have. */
function wrongClaims(text: string, limit = 5): string[] {
  const truth = boundaries(text);
  const wrong: string[] = [];
  for (let i = 1; i < text.length && wrong.length < limit; i++) {
    if (isPlainBoundary(text, i) && !truth.has(i)) {
      wrong.push(`${hex(text.slice(Math.max(0, i - 4), i))} ÷ ${hex(text.slice(i, i + 4))}`);
    }
  }
  const prefix = plainPrefix(text);
  for (let i = 1; i <= prefix && i < text.length && wrong.length < limit; i++) {
    // Inside the prefix every code unit is a cluster except CR LF; its end is a boundary.
    const crlf = i < prefix && text.charCodeAt(i - 1) === 13 && text.charCodeAt(i) === 10;
    if (!crlf && !truth.has(i)) wrong.push(`plainPrefix ${prefix}: no boundary at ${i}`);
  }
  return wrong;
}

/**
 * Every code point the fast path would settle on at least one side: claimed after "a" or
 * before "a" ("a" is Other, so any character the tables list shows up here).
 */
function claimedCodePoints(): string[] {
  const claimed: string[] = [];
  for (let code = 0; code <= 0x10ffff; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const c = String.fromCodePoint(code);
    if (isPlainBoundary("a" + c, 1) || isPlainBoundary(c + "a", c.length)) claimed.push(c);
  }
  return claimed;
}

/** One representative per Grapheme_Cluster_Break class, and the contexts rules look back at. */
const PROBES: Record<string, string> = {
  "Other (Latin)": "a",
  "Other (Han)": "\u4e2d",
  "Other (Indic consonant, InCB=Consonant)": "\u0915",
  CR: "\r",
  LF: "\n",
  Control: "\u0001",
  "Control (ZWSP)": "\u200b",
  "Extend (acute)": "\u0301",
  "Extend (ZWNJ)": "\u200c",
  "Extend (skin tone)": "\u{1f3fb}",
  "Extend (virama, InCB=Linker)": "\u094d",
  ZWJ: "\u200d",
  Regional_Indicator: "\u{1f1e6}",
  "two Regional_Indicators": "\u{1f1e6}\u{1f1e8}",
  "Prepend (Arabic number sign)": "\u0600",
  "Prepend (Malayalam dot reph)": "\u0d4e",
  "SpacingMark (Devanagari visarga)": "\u0903",
  "SpacingMark (Thai sara am)": "\u0e33",
  L: "\u1100",
  V: "\u1161",
  T: "\u11a8",
  LV: "\uac00",
  LVT: "\uac01",
  "Extended_Pictographic (emoji)": "\u{1f600}",
  "Extended_Pictographic (©)": "\u00a9",
  "ExtPict ZWJ (GB11)": "\u{1f600}\u200d",
  "ExtPict Extend ZWJ (GB11)": "\u{1f600}\u0301\u200d",
  "consonant linker (GB9c)": "\u0915\u094d",
  "consonant linker ZWJ (GB9c)": "\u0915\u094d\u200d",
  "lone high surrogate": "\ud800",
  "lone low surrogate": "\udc00",
};

/** Pieces for random strings: whole clusters and the parts they are built from. */
const ATOMS = [
  ...Object.values(PROBES),
  "Hello",
  " ",
  "\r\n",
  "e\u0301",
  "\u{1f44d}\u{1f3fd}",
  "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}\u200d\u{1f466}",
  "\u{1f469}\u{1f3fd}\u200d\u{1f4bb}",
  "\u{1f3f3}\ufe0f\u200d\u{1f308}",
  "\u2764\ufe0f",
  "\u{1f1eb}\u{1f1f7}",
  "\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}",
  "\u1100\u1161\u11a8",
  "\u1112\u1161\u11ab",
  "\u0915\u094d\u0937",
  "\u0915\u094d\u200d\u0937",
  "\u0646\u0651",
  "\u0e01\u0e33",
  "\u3099",
  "\u30ab\u3099",
  "\u65e5\u672c\u8a9e",
  "\u{20000}",
  "\ufe0f",
  "\u{e0100}",
];

describe(`grapheme fast path (tables of Unicode ${UNICODE_VERSION})`, () => {
  const claimed = claimedCodePoints();

  test("claims boundaries for the scripts it is meant for, and for no others", () => {
    // A sanity check on the corpus: the listed ranges are all there, and nothing else.
    assert.ok(claimed.length > 40_000, `only ${claimed.length} claimed code points`);
    for (
      const c of ["a", "\u00e9", "\u03b1", "\u0416", "\u3042", "\u4e2d", "\uac00", "\u{1f600}"]
    ) {
      assert.ok(claimed.includes(c), hex(c));
    }
    for (const c of ["\u0915", "\u0903", "\u0600", "\u200d", "\u1100", "\u1161", "\u11a8"]) {
      assert.ok(!claimed.includes(c), hex(c));
    }
  });

  for (const [name, probe] of Object.entries(PROBES)) {
    test(`agrees with Intl.Segmenter next to ${name}`, () => {
      // probe c1 probe c2 … probe: each claimed character after and before the probe.
      const text = probe + claimed.join(probe) + probe;
      assert.deepEqual(wrongClaims(text), []);
    });
  }

  test("agrees with Intl.Segmenter between claimed characters, in order and shuffled", () => {
    assert.deepEqual(wrongClaims(claimed.join("")), []);
    const shuffled = [...claimed];
    let seed = 12;
    for (let i = shuffled.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const j = seed % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    assert.deepEqual(wrongClaims(shuffled.join("")), []);
  });

  test("GraphemeSnapper gives the segmenter's next boundary on random mixed strings", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ATOMS), { maxLength: 40 }), (atoms) => {
        const text = atoms.join("");
        assert.deepEqual(wrongClaims(text), []);
        const truth = [...boundaries(text), text.length];
        const snapper = new GraphemeSnapper(graphemes, text);
        let next = 0;
        for (let i = 1; i < text.length; i++) {
          while (truth[next]! < i) next++;
          assert.equal(snapper.snap(i), truth[next], `snap(${i}) in ${hex(text)}`);
        }
      }),
      { seed: 29, numRuns: 2000 },
    );
  });
});
