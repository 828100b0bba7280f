/**
 * Building blocks for OpenAI-compatible SSE streams in tests: chunk objects shaped like
 * LM Studio's, OpenAI's or llama.cpp's, SSE encoding, byte splitting.
 *
 * @module
 */
import type { ToolCall } from "../chat.ts";

/** Whose framing quirks to imitate. */
export type ServerFlavor = "lmstudio" | "openai" | "llamacpp";

/** A native tool call to stream. */
export interface FakeToolCall {
  /** Call id; LM Studio sends a numeric string, the `lmstudio` flavor repeats it as `""`. */
  id?: string;
  /** Function name. */
  name: string;
  /** Arguments as a JSON string (sent verbatim) or an object (JSON-encoded). */
  arguments: string | Record<string, unknown>;
}

/** What one completion should contain. */
export interface CompletionSpec {
  /** Content deltas, in order (their concatenation is the answer text). */
  deltas: readonly string[];
  /** Reasoning deltas, streamed before the content. */
  reasoningDeltas?: readonly string[];
  /** Which field carries reasoning. @default "reasoning_content" */
  reasoningField?: "reasoning_content" | "reasoning";
  /** Native tool calls, streamed after the content. */
  toolCalls?: readonly FakeToolCall[];
  /** `finish_reason` of the finish chunk; `null` sends no finish chunk. @default "stop" */
  finishReason?: string | null;
  /** Usage for the usage chunk; `null` sends none. */
  usage?: WireUsageNumbers | null;
  /** Framing quirks. @default "lmstudio" */
  flavor?: ServerFlavor;
  /** Model name in each chunk. @default "fake-model" */
  model?: string;
}

/**
 * The `data:` payloads (already JSON-encoded, plus the final `[DONE]`) of one streamed
 * completion.
 *
 * @param spec Deltas, reasoning, tool calls, finish reason, usage and flavor.
 * @returns The data strings, one per SSE event.
 *
 * @example
 * ```ts
 * import { chatCompletionEvents, encodeSSE } from "@ai-agent/orchestrator/testing";
 * const body = encodeSSE(chatCompletionEvents({ deltas: ["Hel", "lo"] }));
 * ```
 */
export function chatCompletionEvents(spec: CompletionSpec): string[] {
  const flavor = spec.flavor ?? "lmstudio";
  const model = spec.model ?? "fake-model";
  const base = {
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model,
    ...(flavor === "lmstudio" ? { system_fingerprint: model } : {}),
  };
  const out: string[] = [];
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => {
    const d = flavor === "lmstudio" ? { role: "assistant", ...delta } : delta;
    const c: Record<string, unknown> = {
      ...base,
      choices: [{
        index: 0,
        delta: d,
        ...(flavor === "lmstudio" ? { logprobs: null } : {}),
        finish_reason: finish,
      }],
    };
    if (flavor === "openai") c.usage = null;
    out.push(JSON.stringify(c));
  };
  if (flavor === "openai") chunk({ role: "assistant", content: "" });
  if (flavor === "llamacpp") chunk({ role: "assistant", content: null });
  const reasoningField = spec.reasoningField ?? "reasoning_content";
  for (const r of spec.reasoningDeltas ?? []) chunk({ [reasoningField]: r });
  for (const d of spec.deltas) chunk({ content: d });
  toToolCalls(spec.toolCalls ?? []).forEach(
    ({ id, function: { name, arguments: args } }, index) => {
      chunk({
        tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }],
      });
      // LM Studio repeats an empty name and id on the argument fragments.
      for (const piece of argumentPieces(args)) {
        const fn: Record<string, unknown> = { arguments: piece };
        const frag: Record<string, unknown> = { index, function: fn };
        if (flavor === "lmstudio") {
          fn.name = "";
          frag.id = "";
          frag.type = "function";
        }
        chunk({ tool_calls: [frag] });
      }
    },
  );
  const finish = finishReasonOf(spec.finishReason, spec.toolCalls);
  if (finish !== null) chunk({}, finish);
  if (spec.usage !== null) {
    const usage = spec.usage ??
      countedUsage(10, spec.deltas.length + (spec.reasoningDeltas?.length ?? 0));
    out.push(JSON.stringify({ ...base, choices: [], usage }));
  }
  out.push("[DONE]");
  return out;
}

/** Usage numbers in the server's shape, total included. Not re-exported from `testing.ts`. */
export function countedUsage(promptTokens: number, completionTokens: number): WireUsageNumbers {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** Usage as a server sends it (snake_case). */
export interface WireUsageNumbers {
  /** Tokens in the prompt. */
  prompt_tokens: number;
  /** Tokens generated. */
  completion_tokens: number;
  /** Their sum. */
  total_tokens: number;
}

/**
 * Tool calls in the OpenAI message shape: arguments JSON-encoded unless given as a string,
 * ids defaulting to `"100"`, `"101"`, … as LM Studio numbers them. Not re-exported from
 * `testing.ts`.
 */
export function toToolCalls(calls: readonly FakeToolCall[]): ToolCall[] {
  return calls.map((c, i) => ({
    id: c.id ?? String(100 + i),
    type: "function",
    function: {
      name: c.name,
      arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
    },
  }));
}

/**
 * The finish reason to send: the given one (`null`: none), else `"tool_calls"` when there
 * are tool calls, else `"stop"`. Not re-exported from `testing.ts`.
 */
export function finishReasonOf(
  finishReason: string | null | undefined,
  toolCalls: readonly FakeToolCall[] | undefined,
): string | null {
  if (finishReason !== undefined) return finishReason;
  return toolCalls?.length ? "tool_calls" : "stop";
}

/**
 * How the kit streams a tool call's JSON arguments: in three pieces, cut anywhere (inside a
 * string or a number), empty pieces left out. Not re-exported from `testing.ts`.
 */
export function argumentPieces(args: string): string[] {
  const cuts = [0, Math.floor(args.length / 3), Math.floor((2 * args.length) / 3), args.length];
  return [0, 1, 2].map((i) => args.slice(cuts[i], cuts[i + 1])).filter((p) => p !== "");
}

/** SSE framing options for {@link encodeSSE}. */
export interface EncodeSSEOptions {
  /** Use `\r\n` line endings. @default false */
  crlf?: boolean;
  /** Put a `: keep-alive` comment before every event. @default false */
  comments?: boolean;
  /** Add `event: message`, `id:` and (when `firstId` is 0) a leading `retry:` field. @default false */
  fields?: boolean;
  /** The `id:` of the first event, for encoding a stream event by event. @default 0 */
  firstId?: number;
}

/**
 * Encodes data payloads as an SSE body (`data: …` + blank line per event).
 *
 * @param data One string per event (no newlines inside: JSON is single-line).
 * @param options Line endings, comments, extra fields.
 * @returns The SSE text.
 *
 * @example
 * ```ts
 * import { encodeSSE } from "@ai-agent/orchestrator/testing";
 * encodeSSE(['{"choices":[]}', "[DONE]"], { crlf: true, comments: true });
 * ```
 */
export function encodeSSE(data: readonly string[], options: EncodeSSEOptions = {}): string {
  const nl = options.crlf ? "\r\n" : "\n";
  const parts: string[] = [];
  const firstId = options.firstId ?? 0;
  if (options.fields && firstId === 0) parts.push(`retry: 3000${nl}${nl}`);
  data.forEach((d, i) => {
    if (options.comments) parts.push(`: keep-alive${nl}`);
    if (options.fields) parts.push(`event: message${nl}id: ${firstId + i}${nl}`);
    parts.push(`data: ${d}${nl}${nl}`);
  });
  return parts.join("");
}

/**
 * Cuts bytes into pieces: a fixed size, or seeded random sizes in `[min, max]`.
 *
 * @param bytes The body.
 * @param size A piece size, or `{ min, max, seed }` for reproducible random sizes.
 * @returns The pieces, in order.
 *
 * @example Split into 1-byte pieces
 * ```ts
 * import { splitBytes } from "@ai-agent/orchestrator/testing";
 * splitBytes(new TextEncoder().encode("data: x\n\n"), 1).length; // 9
 * ```
 */
export function splitBytes(
  bytes: Uint8Array,
  size: number | { min: number; max: number; seed: number },
): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  const next = typeof size === "number" ? () => size : seededSizes(size.min, size.max, size.seed);
  for (let i = 0; i < bytes.length;) {
    const n = Math.max(1, next());
    pieces.push(bytes.subarray(i, i + n));
    i += n;
  }
  return pieces;
}

/**
 * Every way to cut `bytes` in two, for chunk-boundary sweeps.
 *
 * @param bytes The body.
 * @returns `[head, tail]` for each cut position 1..length-1.
 *
 * @example
 * ```ts
 * import { everySplit } from "@ai-agent/orchestrator/testing";
 * for (const [a, b] of everySplit(new TextEncoder().encode("data: é\n\n"))) console.log(a.length, b.length);
 * ```
 */
export function everySplit(bytes: Uint8Array): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return out;
}

/**
 * A `Response` whose body streams the given pieces (strings are UTF-8 encoded).
 *
 * @param pieces Body pieces, each enqueued as one chunk.
 * @param init Status and headers; content type defaults to `text/event-stream`.
 * @returns The response.
 *
 * @example
 * ```ts
 * import { sseResponse } from "@ai-agent/orchestrator/testing";
 * const res = sseResponse(["data: [DONE]\n\n"]);
 * ```
 */
export function sseResponse(
  pieces: ReadonlyArray<string | Uint8Array>,
  init: ResponseInit = {},
): Response {
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= pieces.length) return controller.close();
      const p = pieces[i++]!;
      controller.enqueue(typeof p === "string" ? encoder.encode(p) : p);
    },
  });
  const headers = new Headers(init.headers);
  if (!headers.has("content-type")) headers.set("content-type", "text/event-stream");
  return new Response(body, { ...init, headers });
}

/** Default tokenizer: words with their leading space, long words cut into pieces. */
export function tokenize(text: string): string[] {
  return text.match(/\s*[^\s]{1,6}|\s+/gu) ?? [];
}

/** mulberry32: small, fast, seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seededSizes(min: number, max: number, seed: number): () => number {
  const rand = seededRandom(seed);
  return () => min + Math.floor(rand() * (max - min + 1));
}
