// Grapheme-cluster boundaries without asking `Intl.Segmenter` when the answer is obvious.
//
// Why it exists (measured, bench/NOTES.md "3. Slicing"): every `Intl.Segmenter` call costs
// microseconds, and snapping each word or sentence end to a grapheme boundary through
// `segments.containing()` made sliceText() "word" 1.9–2.0× bare segmenter iteration on Node,
// Deno and Bun (target 1.5×; 1.3–1.4× with this module), and TextSlicer "grapheme" fed model tokens
// 6.5–7× slower. So positions between two characters that can never join are settled here
// and only the rest go to the segmenter.
//
// Unicode version: the ranges and rules below follow UAX #29 and the Grapheme_Cluster_Break
// property of Unicode 17.0 (ICU 78, which Node 24, Deno 2 and Bun 1 report). The module is a
// whitelist: it only ever claims a boundary, never the absence of one, and only next to
// characters whose Grapheme_Cluster_Break is Other, Control, CR, LF, LV, LVT or Extend.
// Anything else (Prepend, SpacingMark, ZWJ, L/V/T jamo, Indic conjunct consonants and
// linkers, regional-indicator pairs, lone surrogates, unlisted scripts) is left to the
// segmenter. tests/grapheme_fast_test.ts checks every claimed character against a
// representative of each break class with the runtime's own `Intl.Segmenter`.

import { isHighSurrogate, isLowSurrogate } from "./_text.ts";
/** The Unicode version whose grapheme-break rules and properties the tables follow. */
export const UNICODE_VERSION = "17.0";

/**
 * Moves positions of one text forward to grapheme boundaries. Most positions sit between two
 * characters that never join, so {@link isPlainBoundary} settles them; the rest ask the
 * segmenter for the cluster around them (local work: no re-segmentation from the start).
 */
export class GraphemeSnapper {
  readonly #graphemes: Intl.Segmenter;
  readonly #text: string;
  #segments: Intl.Segments | undefined;

  constructor(graphemes: Intl.Segmenter, text: string) {
    this.#graphemes = graphemes;
    this.#text = text;
  }

  /** The first grapheme boundary at or after `index`. */
  snap(index: number): number {
    const text = this.#text;
    if (index <= 0 || index >= text.length) return index;
    if (isPlainBoundary(text, index)) return index;
    this.#segments ??= this.#graphemes.segment(text);
    const cluster = this.#segments.containing(index)!;
    return cluster.index === index ? index : cluster.index + cluster.segment.length;
  }
}

/**
 * Length of the longest prefix of `text` made of {@link isPlain} code units and ending on a
 * grapheme boundary. There every code unit is a cluster of its own (CR LF is one), so the
 * segmenter is not needed for it: streaming ASCII or CJK in small pieces never calls it.
 */
export function plainPrefix(text: string): number {
  let end = 0;
  while (end < text.length && isPlain(text.charCodeAt(end))) end++;
  if (end === text.length) return end;
  // The last plain character may take the non-plain one that follows (e + U+0301).
  end--;
  if (end > 0 && text.charCodeAt(end - 1) === 13 && text.charCodeAt(end) === 10) end--;
  return Math.max(end, 0);
}

/**
 * Whether `index` (inside `text`, 0 < index < length) sits between two characters that never
 * join: true means a grapheme boundary; false means "ask the segmenter".
 */
export function isPlainBoundary(text: string, index: number): boolean {
  let before = text.charCodeAt(index - 1);
  let after = text.charCodeAt(index);
  if (before < 0x0300 && after < 0x0300) return before !== 13 || after !== 10;
  if (isLowSurrogate(before)) {
    const high = text.charCodeAt(index - 2);
    if (!isHighSurrogate(high)) return false;
    before = (high - 0xd800) * 0x400 + before - 0xdc00 + 0x10000;
  }
  if (isHighSurrogate(after)) {
    const low = text.charCodeAt(index + 1);
    if (!isLowSurrogate(low)) return false;
    after = (after - 0xd800) * 0x400 + low - 0xdc00 + 0x10000;
  }
  // Two regional indicators pair up or not depending on how many come before (GB12, GB13):
  // the segmenter counts them.
  if (isRegionalIndicator(before) && isRegionalIndicator(after)) return false;
  return isPlainCodePoint(after) && (isPlainCodePoint(before) || isCommonExtend(before));
}

/**
 * {@link isPlain} for code points, plus the emoji and symbol blocks U+1F000 to U+1FAFF
 * (Extended_Pictographic, Other or Regional_Indicator) without the skin-tone modifiers, which
 * are Extend.
 */
function isPlainCodePoint(code: number): boolean {
  if (code <= 0xffff) return isPlain(code);
  return code >= 0x1f000 && code <= 0x1faff && !(code >= 0x1f3fb && code <= 0x1f3ff);
}

/**
 * Extend characters that often end a cluster: combining diacritics, variation selectors,
 * skin-tone modifiers, tags. An Extend character followed by a plain one is always a break:
 * only ZWJ (GB11), Prepend (GB9b), L jamo (GB6), CR (GB3), an Indic linker (GB9c) and regional
 * indicators (GB12, GB13) bind to a following character, and none of those is listed here.
 */
function isCommonExtend(code: number): boolean {
  return (code >= 0x0300 && code <= 0x036f) || (code >= 0xfe00 && code <= 0xfe0f) ||
    (code >= 0x1f3fb && code <= 0x1f3ff) || (code >= 0xe0020 && code <= 0xe007f) ||
    (code >= 0xe0100 && code <= 0xe01ef);
}

function isRegionalIndicator(code: number): boolean {
  return code >= 0x1f1e6 && code <= 0x1f1ff;
}

/**
 * Whether a UTF-16 code unit is a whole character whose Grapheme_Cluster_Break is Other,
 * Control, CR, LF, LV or LVT: between two of these there is always a break, except CR LF.
 * (No Extend, SpacingMark, ZWJ, Prepend, L/V/T jamo, regional indicator or surrogate.) Covers
 * Latin, Greek, Cyrillic, general punctuation, CJK punctuation, kana, CJK ideographs and
 * Hangul syllables.
 */
function isPlain(code: number): boolean {
  if (code < 0x0300) return true;
  if (code < 0x0370) return false; // combining diacritical marks
  if (code <= 0x0482) return true; // Greek and Cyrillic, before the Cyrillic combining marks
  if (code < 0x2010) return false;
  if (code <= 0x205e) return true; // general punctuation, before the invisible operators
  if (code < 0x3000) return false;
  if (code <= 0x3029) return true; // CJK symbols and punctuation, before the tone marks
  if (code < 0x3041) return false;
  if (code <= 0x3096) return true; // hiragana
  if (code < 0x30a1) return false; // dakuten (U+3099, U+309A) are Extend
  if (code <= 0x30fa) return true; // katakana
  if (code < 0x3400) return false;
  if (code <= 0x4dbf) return true; // CJK extension A
  if (code < 0x4e00) return false;
  if (code <= 0x9fff) return true; // CJK unified ideographs
  return code >= 0xac00 && code <= 0xd7a3; // Hangul syllables
}
