// Checks shared by every options object of the library (Agent, runs, LMStudioClient): the bag
// itself must be an object, and a key the library does not know is an error naming the
// closest known key. A typo such as `baseUrl` or `maxstep` would otherwise be ignored silently,
// and the default used instead.
import type { LMStudioClientOptions } from "./client.ts";
import { describeValue } from "./_text.ts";

/**
 * Throws a TypeError unless `options` is `undefined` or an object whose own keys are all in
 * `known`. `where` starts the message ("Cannot create Agent").
 */
export function checkOptionKeys(
  where: string,
  options: unknown,
  known: Readonly<Record<string, true>>,
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${showValue(options)}`);
  }
  const names = Object.keys(known);
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const close = closest(key, names);
    throw new TypeError(
      `${where}: unknown option ${JSON.stringify(key)}${
        close === undefined ? "" : ` (did you mean ${JSON.stringify(close)}?)`
      }; valid options: ${names.join(", ")}`,
    );
  }
}

/**
 * `value` as an option message quotes it: numbers and booleans as written (`0`, `true`),
 * strings in quotes (`"3"`, so `"3"` and `3` read differently), others described (`an object`).
 */
export function showValue(value: unknown): string {
  return typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : describeValue(value);
}

/** `choices` as `"a", "b" or "c"`. */
export function listChoices(choices: readonly string[]): string {
  const quoted = choices.map((c) => JSON.stringify(c));
  return quoted.length < 2
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
}

/**
 * The known name closest to `key`: the same ignoring case, else at most a third of its letters
 * (at least 2) away by edit distance.
 */
function closest(key: string, names: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const name of names) {
    const d = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance (the option names are short). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Every key of {@link LMStudioClientOptions}: the type makes a missing or extra key a compile
 * error, so the list cannot drift from the interface.
 */
const CLIENT_OPTIONS: Readonly<Record<keyof LMStudioClientOptions, true>> = {
  baseURL: true,
  model: true,
  apiKey: true,
  fetch: true,
  headers: true,
  maxRetries: true,
  timeoutMs: true,
  idleTimeoutMs: true,
  retryBaseDelayMs: true,
  maxRetryDelayMs: true,
  maxResponseBytes: true,
  maxResponseChars: true,
};

/**
 * Rejects unknown keys of `new LMStudioClient(options)` (`baseUrl` → did you mean `baseURL`?).
 * Called first thing in the client's constructor.
 */
export function checkClientOptionKeys(options: unknown): void {
  checkOptionKeys("Cannot create LMStudioClient", options, CLIENT_OPTIONS);
}
