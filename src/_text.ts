// Small helpers for messages and values: what an error says, how a value is described, whether
// it is a plain object, and clipping long text without splitting a surrogate pair. One copy
// each, for every module.

/** An error's message (or `String(value)` for a non-Error throw). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error as `Name: message` (plain `Error`s as their message), never throwing itself. */
export function errorText(error: unknown): string {
  try {
    if (error instanceof Error) {
      if (error.message === "") return error.name;
      return error.name === "Error" ? error.message : `${error.name}: ${error.message}`;
    }
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** A value as a developer reads it in an error message: `"text"`, `a Map`, `number 5`, … */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof ctor === "string" && ctor !== "Object" ? `a ${ctor}` : "an object";
  }
  return `${typeof value} ${String(value)}`;
}

/** A plain object (`{}` or `Object.create(null)`): not an array, a class instance or null. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Whether a UTF-16 code unit is the first half of a surrogate pair. */
export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Whether a UTF-16 code unit is the second half of a surrogate pair. */
export function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The first `max` UTF-16 units of `text` (one fewer if that would split a surrogate pair), and
 * whether anything was cut.
 */
export function clipText(text: string, max: number): { head: string; cut: boolean } {
  if (text.length <= max) return { head: text, cut: false };
  const end = isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return { head: text.slice(0, end), cut: true };
}

/** A short excerpt of model text, quoted as JSON, for the reasons a model is told. */
export function quotedExcerpt(text: string, max = 60): string {
  return JSON.stringify(clip(text, max));
}

/** `text` cut to `max` units with "…" appended when cut. */
export function clip(text: string, max: number): string {
  const { head, cut } = clipText(text, max);
  return cut ? `${head}…` : text;
}
