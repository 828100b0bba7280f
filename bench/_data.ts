// Deterministic, realistic inputs for the benchmarks: mixed-script model tokens (ASCII,
// accented Latin, CJK, Hangul, emoji including ZWJ sequences, skin tones and flags, JSON
// escapes such as quotes and newlines), the OpenAI-compatible SSE bodies that carry them, and a
// zero-latency `fetch` that returns those bodies as Responses.
import {
  chatCompletionEvents,
  encodeSSE,
  seededRandom,
  splitBytes,
  sseResponse,
} from "../testing.ts";

const ENGLISH = (
  "the model streams every token to the agent which checks each reply before it runs a " +
  "tool and only then shows the final answer to the user while the server keeps working " +
  "local inference on a small machine needs careful buffering of partial output so that " +
  "nothing invalid ever reaches the screen function value return result stream parser"
).split(" ");
const ACCENTED = [
  "café",
  "naïve",
  "Zürich",
  "façade",
  "résumé",
  "jalapeño",
  "Ångström",
  "Straße",
  "crème",
  "brûlée",
  "déjà",
  "señor",
  "São",
  "Paulo",
  "Kraków",
  "Ελλάδα",
  "Москва",
];
const CJK = [
  "日本語",
  "東京都",
  "漢字",
  "中文",
  "模型",
  "流式传输",
  "これは",
  "テスト",
  "です",
  "ありがとう",
  "한국어",
  "모델",
  "스트리밍",
];
// Emoji as code-point lists, so that ZWJ sequences can be cut between code points, as a
// tokenizer does.
const EMOJI = [
  ["😀"],
  ["🚀"],
  ["✅"],
  ["👍", "🏽"],
  ["👨", "\u200d", "👩", "\u200d", "👧", "\u200d", "👦"],
  ["👩", "🏽", "\u200d", "💻"],
  ["🏳", "\ufe0f", "\u200d", "🌈"],
  ["🇫", "🇷"],
  ["❤", "\ufe0f"],
  ["🧑", "\u200d", "🔬"],
];

/** Cuts a word into 1–3 pieces, as a BPE tokenizer does with rare words. */
function pieces(word: string, rand: () => number): string[] {
  const chars = Array.from(word);
  if (chars.length <= 3 || rand() < 0.5) return [word];
  const cut = 1 + Math.floor(rand() * (chars.length - 1));
  return [chars.slice(0, cut).join(""), chars.slice(cut).join("")];
}

/**
 * `count` model tokens (content deltas) of mixed-script prose, deterministic for a seed. Mostly
 * English words with their leading space; sentences in accented Latin, Greek, Cyrillic, CJK or
 * Hangul; emoji, some ZWJ sequences cut across two tokens; quotes, inline code, newlines and
 * paragraph breaks (JSON escapes on the wire).
 */
export function mixedTokens(count: number, seed = 42): string[] {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: string[] = [];
  let sentences = 0;
  while (out.length < count) {
    const kind = rand();
    const words = 4 + Math.floor(rand() * 12);
    if (kind < 0.6) {
      for (let i = 0; i < words; i++) {
        const w = pick(ENGLISH);
        if (i === 0) out.push(` ${w[0]!.toUpperCase()}${w.slice(1)}`);
        else if (rand() < 0.04) out.push(' "', w, '"');
        else if (rand() < 0.03) out.push(" `", w, "()`");
        else if (w.length > 6) out.push(` ${w.slice(0, 6)}`, w.slice(6));
        else out.push(` ${w}`);
        if (rand() < 0.08) out.push(",");
      }
      out.push(pick([".", ".", ".", "!", "?", ":"]));
    } else if (kind < 0.75) {
      for (let i = 0; i < words; i++) {
        const [first, ...rest] = pieces(
          rand() < 0.5 ? pick(ACCENTED) : pick(ENGLISH),
          rand,
        );
        out.push(` ${first}`, ...rest);
      }
      out.push(".");
    } else if (kind < 0.9) {
      out.push(" ");
      for (let i = 0; i < words; i++) {
        // CJK tokens are one or two characters.
        const w = Array.from(pick(CJK));
        for (let j = 0; j < w.length;) {
          const size = 1 + Math.floor(rand() * 2);
          out.push(w.slice(j, j + size).join(""));
          j += size;
        }
        if (rand() < 0.2) out.push("、");
      }
      out.push(pick(["。", "。", "！", "？"]));
    } else {
      for (let i = 0; i < words; i++) out.push(` ${pick(ENGLISH)}`);
      out.push(" ");
      const e = pick(EMOJI);
      if (e.length > 2 && rand() < 0.6) {
        const cut = 1 + Math.floor(rand() * (e.length - 1));
        out.push(e.slice(0, cut).join(""), e.slice(cut).join(""));
      } else {
        out.push(e.join(""));
      }
      out.push(".");
    }
    if (++sentences % 5 === 0) out.push(rand() < 0.7 ? "\n\n" : "\n");
  }
  out.length = count;
  return out;
}

/** Mixed-script text of at least `length` UTF-16 code units (whole tokens). */
export function mixedText(length: number, seed = 7): string {
  // ~3.7 code units per token; generate in batches until long enough.
  const parts: string[] = [];
  let total = 0;
  for (let s = seed; total < length; s++) {
    const batch = mixedTokens(Math.ceil((length - total) / 3) + 16, s).join("");
    parts.push(batch);
    total += batch.length;
  }
  const text = parts.join("");
  // Cut at a newline-free position near `length` but never inside a surrogate pair.
  let end = length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end++;
  return text.slice(0, end);
}

/**
 * The `data:` payloads of a streamed completion as LM Studio sends it: a role-only first chunk,
 * one chunk per token (role, `system_fingerprint` and `logprobs` on each), a finish chunk, a
 * usage chunk (`choices: []`) and `[DONE]`.
 */
export function completionEvents(deltas: readonly string[]): string[] {
  const events = chatCompletionEvents({ deltas, flavor: "lmstudio" });
  const first = JSON.parse(events[0]!);
  first.choices[0].delta = { role: "assistant", content: "" };
  return [JSON.stringify(first), ...events];
}

/** The SSE body of {@link completionEvents}, UTF-8. */
export function completionBytes(deltas: readonly string[]): Uint8Array {
  return new TextEncoder().encode(encodeSSE(completionEvents(deltas)));
}

/** One body piece per SSE event, as a server flushing every token sends it. */
export function eventPieces(deltas: readonly string[]): Uint8Array[] {
  const encoder = new TextEncoder();
  return completionEvents(deltas).map((e) => encoder.encode(encodeSSE([e])));
}

/** How a body is cut into network reads. */
export type Split = "1KiB" | "32KiB" | "random";

/**
 * `"1KiB"`: 1024-byte pieces. `"32KiB"`: 32768-byte pieces, the reads Node's fetch gets when a
 * socket has coalesced a fast server's writes (20–31 KB on average over loopback, measured).
 * `"random"`: seeded random 1–17-byte pieces (cuts everywhere).
 */
export function splitPieces(bytes: Uint8Array, split: Split): Uint8Array[] {
  if (split === "1KiB") return splitBytes(bytes, 1024);
  if (split === "32KiB") return splitBytes(bytes, 32768);
  return splitBytes(bytes, { min: 1, max: 17, seed: 1234 });
}

/**
 * A zero-latency `fetch` returning a fresh `Response` over the same prebuilt pieces on every
 * call; with several bodies, call k gets body k (mod the count).
 */
export function scriptedFetch(
  ...bodies: ReadonlyArray<readonly Uint8Array[]>
): typeof fetch {
  let call = 0;
  // Only chat requests take the script; anything else (the agent's model-info lookup, once
  // per client) is answered 404, as by a server without LM Studio's native API.
  return ((input: RequestInfo | URL, _init?: RequestInit) =>
    Promise.resolve(
      String(input).endsWith("/chat/completions")
        ? sseResponse(bodies[call++ % bodies.length]!)
        : new Response("Not Found", { status: 404 }),
    )) as typeof fetch;
}

/**
 * {@link completionBytes} with the ids and names a real LM Studio sends (a 29-character
 * completion id, a namespaced model name repeated as `system_fingerprint`): the same
 * fields on every chunk (role, `system_fingerprint`, `logprobs: null`), longer chunk JSON.
 */
export function lmStudioCompletionBytes(deltas: readonly string[]): Uint8Array {
  const events = completionEvents(deltas).map((e) =>
    e.replaceAll('"chatcmpl-fake"', '"chatcmpl-4xq9z1kd0m3r8y2w6p5t7v"')
      .replaceAll('"fake-model"', '"qwen/qwen3-4b-2507"')
  );
  return new TextEncoder().encode(encodeSSE(events));
}

/**
 * A zero-latency `fetch` whose body is pulled the way a socket delivers it: nothing is
 * queued ahead (`highWaterMark: 0`), each read pulls one network piece, a fresh copy.
 */
export function pullFetch(pieces: readonly Uint8Array[]): typeof fetch {
  return ((input: RequestInfo | URL) => {
    if (!String(input).endsWith("/chat/completions")) {
      return Promise.resolve(new Response("Not Found", { status: 404 }));
    }
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i >= pieces.length) controller.close();
        else controller.enqueue(pieces[i++]!.slice());
      },
    }, { highWaterMark: 0 });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "text/event-stream" } }),
    );
  }) as typeof fetch;
}

/** The final-answer envelope of the JSON reply protocol, as the model's deltas. */
export function finalEnvelopeDeltas(tokens: readonly string[]): string[] {
  return [
    '{"',
    "type",
    '":"',
    "final",
    '","',
    "content",
    '":"',
    ...tokens.map((t) => JSON.stringify(t).slice(1, -1)),
    '"}',
  ];
}

/** The model's envelope for a tool call, cut into tokens. */
export function toolCallDeltas(
  tool: string,
  args: Record<string, unknown>,
): string[] {
  const text = JSON.stringify({ type: "tool_call", tool, arguments: args });
  return text.match(/[a-z_]+|\d+|[^a-z_\d]{1,3}/g)!;
}
