// The limits on model-written JSON and the one bracket scanner that enforces them, shared by
// the envelope parser (whole replies) and native tool calls (their argument strings).

/** Longest reply, or native arguments string, that is parsed at all. */
export const MAX_JSON_CHARS = 1_000_000;
/** Deepest nesting of objects and arrays accepted (the envelope itself is depth 1). */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** {@link scanBrackets}: the nesting went past `maxDepth`. */
export const TOO_DEEP = -1;
/** {@link scanBrackets}: the text ended before the first bracket closed. */
export const UNTERMINATED = -2;

/**
 * One pass over `text` from `start`, tracking bracket depth outside strings: only the extent
 * and the depth, JSON.parse judges the rest. With `stopAtClose`, returns the index after the
 * bracket that closes the first one; otherwise scans to the end (stray closers clamp the depth
 * at 0). TOO_DEEP as soon as the depth passes `maxDepth`, UNTERMINATED at the end of the text.
 * Linear, without recursion, so `"[".repeat(1e6)` costs nothing special.
 */
export function scanBrackets(
  text: string,
  start: number,
  maxDepth: number,
  stopAtClose: boolean,
): number {
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

/** Whether brackets outside strings nest deeper than `maxDepth` anywhere in `text`. */
export function nestedTooDeep(text: string, maxDepth: number): boolean {
  return scanBrackets(text, 0, maxDepth, false) === TOO_DEEP;
}

/**
 * Why a native tool call's JSON arguments break the limits a whole reply has (longer than
 * {@link MAX_JSON_CHARS}, nested deeper than {@link MAX_JSON_DEPTH}), or `undefined`. Checked
 * before `JSON.parse`, so such arguments never become objects that user code (or a
 * `JSON.stringify` of an event) would recurse into.
 */
export function argumentsTooLarge(json: string): string | undefined {
  if (json.length > MAX_JSON_CHARS) {
    return `arguments are too long (${json.length} characters; the limit is ${MAX_JSON_CHARS})`;
  }
  if (nestedTooDeep(json, MAX_JSON_DEPTH)) {
    return `arguments are nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`;
  }
  return undefined;
}
