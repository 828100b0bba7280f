// Helpers shared by the reliability suite (adversarial SSE, faults, aborts, load, bad input,
// secrets): body construction, an in-process fetch over fixed pieces, an unhandled-rejection
// recorder, heap measurement and env switches. Runtime-specific code stays here, never in src/.
import { seededRandom } from "../../testing.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Cuts `text` at the given UTF-16 offsets (taken modulo length + 1, sorted, deduplicated), so
 * a piece may end inside a surrogate pair or a grapheme cluster. Pieces may be empty (a cut at
 * 0 or at the end); they always join back to `text`.
 */
export function cutText(text: string, offsets: readonly number[]): string[] {
  const at = [...new Set(offsets.map((o) => o % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const o of at) {
    pieces.push(text.slice(start, o));
    start = o;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/** Cuts `bytes` at the given offsets (taken modulo length + 1, sorted, deduplicated). */
export function cutAt(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const at = [...new Set(offsets.map((o) => o % (bytes.length + 1)))]
    .filter((o) => o > 0 && o < bytes.length)
    .sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const o of at) {
    pieces.push(bytes.subarray(start, o));
    start = o;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

/**
 * The offsets where a cut is most likely to hurt a decoder: strictly inside a multi-byte
 * UTF-8 sequence, between the `\r` and `\n` of a CRLF, and inside every `data:` field name.
 */
export function nastyOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) out.push(i); // a continuation byte: the cut splits a character
    else if (b === 0x0a && bytes[i - 1] === 0x0d) out.push(i); // between \r and \n
    // "data:" = 64 61 74 61 3a: cut after "d", "da", "dat" and "data".
    if (
      b === 0x64 && bytes[i + 1] === 0x61 && bytes[i + 2] === 0x74 && bytes[i + 3] === 0x61 &&
      bytes[i + 4] === 0x3a
    ) out.push(i + 1, i + 2, i + 3, i + 4);
  }
  return out;
}

/** A reproducible subset of `offsets`, each kept with probability `p`. */
export function sample(offsets: readonly number[], seed: number, p: number): number[] {
  const rand = seededRandom(seed);
  return offsets.filter(() => rand() < p);
}

/** A body that delivers `pieces` one per read and then never again (a stalled server). */
export function stalledBody(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < pieces.length) return controller.enqueue(pieces[i++]!);
      // Never settles: no timer, so nothing keeps the process alive once the reader goes.
      return new Promise<void>(() => {});
    },
  }, { highWaterMark: 0 });
}

/** A body that delivers `pieces` one per read, then fails like a reset connection. */
export function resetBody(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < pieces.length) return controller.enqueue(pieces[i++]!);
      controller.error(new TypeError("connection reset by peer"));
    },
  }, { highWaterMark: 0 });
}

/** A body that delivers `pieces` one per read, then ends. */
export function piecesBody(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < pieces.length) controller.enqueue(pieces[i++]!);
      else controller.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * A `fetch` that answers every request with `respond(request, index)` and honours the
 * request's abort signal the way real fetch does (the body errors with the reason).
 */
export function fetchFrom(
  respond: (request: Request, index: number) => Response | Promise<Response>,
): typeof fetch & { requests: Request[] } {
  const requests: Request[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    init?.signal?.throwIfAborted();
    return await respond(request, requests.length - 1);
  }) as typeof fetch & { requests: Request[] };
  f.requests = requests;
  return f;
}

/** An SSE `Response` over `body`. */
export function sse(
  body: ReadableStream<Uint8Array>,
  contentType = "text/event-stream; charset=utf-8",
): Response {
  return new Response(body, { headers: { "content-type": contentType } });
}

/** Reads a positive integer from the environment (`Deno.env` or `process.env`). */
export function envInt(name: string, fallback: number): number {
  let raw: string | undefined;
  try {
    raw = g.Deno ? g.Deno.env.get(name) : g.process?.env?.[name];
  } catch {
    raw = undefined;
  }
  const n = Number(raw);
  return raw && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** `ORCH_LONG=1` in the environment: run the long variants. */
export function isLong(): boolean {
  return envInt("ORCH_LONG", 0) === 1;
}

/** Heap in use, in bytes, from whichever API the runtime has. */
export function heapUsed(): number | undefined {
  if (g.Deno?.memoryUsage) return g.Deno.memoryUsage().heapUsed;
  if (g.process?.memoryUsage) return g.process.memoryUsage().heapUsed;
  return undefined;
}

/**
 * A full garbage collection, if the runtime lets a test ask for one: `globalThis.gc`
 * (--expose-gc), `Bun.gc(true)`, or V8's flag switched on at run time through
 * `node:v8` + `node:vm` (works on Node and Deno). `undefined` when none works.
 */
export async function findGc(): Promise<(() => void) | undefined> {
  if (typeof g.gc === "function") return () => g.gc();
  if (typeof g.Bun?.gc === "function") return () => g.Bun.gc(true);
  try {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    if (typeof gc === "function") {
      gc();
      return () => gc();
    }
  } catch { /* not available */ }
  return undefined;
}

/**
 * Records unhandled promise rejections for the rest of the file: `process.on` where there is
 * a `process`, the `unhandledrejection` event where there is `addEventListener` (Deno, and a
 * browser-like global). Each rejection is recorded once.
 */
export function recordUnhandledRejections(): { reasons: unknown[] } {
  const reasons: unknown[] = [];
  const seen = new Set<unknown>();
  const record = (reason: unknown) => {
    if (seen.has(reason)) return;
    seen.add(reason);
    reasons.push(reason);
  };
  if (g.process?.on) g.process.on("unhandledRejection", (reason: unknown) => record(reason));
  if (g.Deno && typeof g.addEventListener === "function") {
    g.addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
      e.preventDefault(); // recorded: the test fails on it, with a better message than a crash
      record(e.reason);
    });
  }
  return { reasons };
}

/**
 * `JSON.stringify` that also shows everything inside errors (name, message, stack, cause,
 * own fields), recursively, so a secret hidden in an error's cause chain would show up.
 */
export function deepStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, function (_key, v) {
    if (typeof v === "bigint") return String(v);
    if (v && typeof v === "object") {
      if (seen.has(v)) return "[Circular]";
      seen.add(v);
      if (v instanceof Error) {
        const out: Record<string, unknown> = {
          name: v.name,
          message: v.message,
          stack: v.stack,
          cause: (v as { cause?: unknown }).cause,
        };
        for (const k of Object.getOwnPropertyNames(v)) out[k] ??= (v as never)[k];
        return out;
      }
      if (v instanceof Headers) return Object.fromEntries(v.entries());
    }
    return v;
  }) ?? "undefined";
}
