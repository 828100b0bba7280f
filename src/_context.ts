// The context budget: how many tokens the next prompt will take, and what to compact so that
// it fits the model's loaded window with room left for the reply. Pure and deterministic: the
// same history, window and estimate always compact the same way.
//
// Estimating: UTF-8 bytes ÷ bytes-per-token, plus a per-message allowance for the chat
// template. It starts conservative (3 bytes per token over-counts English, which runs near 4,
// and is about right for CJK at 3 bytes a character) and is calibrated on the run's own
// `usage.prompt_tokens`.
//
// Compacting, in this order, until the prompt fits a target below the limit (so that the next
// steps fit too and the server's prompt cache is invalidated rarely):
//   1. clip the largest, then oldest, tool results of earlier steps to a head-and-tail excerpt;
//   2. summarize earlier steps, oldest first: the call stays, its result becomes a one-line
//      "removed" note (and very long arguments a short note too);
//   3. drop earlier steps, oldest first;
//   4. clip the latest step's results, as a last resort and only down to the limit.
// The system prompt, the user's messages and the latest step are never summarized or dropped.
// Compaction edits messages in place of the old ones, so the history keeps its shape (each
// assistant call still followed by its results) for every chat template.
import type { ChatMessage, ChatResult, ToolCall } from "./chat.ts";
import type { ExecutedCall } from "./protocols/_reply_protocol.ts";
import type { ToolOutcome } from "./tools.ts";
import { clipText, isHighSurrogate, isLowSurrogate } from "./_text.ts";

/** One compactable unit of this run's history: a tool step, or a violation and its correction. */
export interface HistoryUnit {
  /** Index of its first message in the history. */
  at: number;
  /** How many messages it has. */
  count: number;
  /** The step that produced it. */
  step: number;
  /** A tool step: what the model asked and what the tools returned, for re-rendering. */
  tools?: { reply: Pick<ChatResult, "text" | "toolCalls">; calls: ExecutedCall[] };
  /** How far it was compacted (0 none, 1 clipped, 2 summarized, 3 dropped). */
  level: number;
}

/** Renders a tool step's messages (the protocol's `toolTurn`). */
export type RenderTurn = (
  reply: Pick<ChatResult, "text" | "toolCalls">,
  calls: readonly ExecutedCall[],
) => ChatMessage[];

/** Bytes-per-token before any calibration: over-counts tokens for English and code. */
export const INITIAL_BYTES_PER_TOKEN = 3;
/** The most optimistic bytes-per-token: only a prompt over the limit even at this rate is
 * certain not to fit before the server has been asked. */
export const OPTIMISTIC_BYTES_PER_TOKEN = 4.5;
/** What a message costs beyond its text (role markers of the chat template), in bytes. */
const MESSAGE_OVERHEAD_BYTES = 16;
/**
 * Compaction aims this far below the limit, so that the next steps fit as well: every
 * compaction rewrites history the server had cached, so fewer, larger ones cost less.
 */
const TARGET_SHARE = 0.6;
/** Results clipped in stage 1 keep this many characters: head + tail. */
const EXCERPT_HEAD = 400;
const EXCERPT_TAIL = 200;
/** The latest step's results are never clipped below this many characters. */
const MIN_LATEST = 200;
/** Arguments longer than this are replaced by a note when a step is summarized. */
const LONG_ARGUMENTS = 300;

/** The default reply reserve: a quarter of the window, at most 1024 tokens. */
export function defaultReplyReserve(contextLength: number): number {
  return Math.min(1024, Math.floor(contextLength / 4));
}

/**
 * Counts a prompt's tokens as `overhead + bytes ÷ rate`. Uncalibrated: no overhead and the
 * conservative rate. Each server count anchors the estimate: the overhead absorbs what the
 * chat template adds (a tools preamble can be a hundred tokens), and once the prompt has grown
 * between two counts, the rate is the growth's own bytes-per-token, so new text is counted at
 * what text like it really cost. Always with a 10% margin toward over-counting.
 */
export class TokenEstimator {
  #rate = INITIAL_BYTES_PER_TOKEN;
  #overhead = 0;
  #last: { bytes: number; tokens: number } | undefined;
  // Bytes per message object: the same message is measured on every step.
  #sizes = new WeakMap<ChatMessage, number>();

  /** The current bytes-per-token for text beyond the last count. */
  get bytesPerToken(): number {
    return this.#rate;
  }

  /** Whether a server-reported count has calibrated the estimate. */
  get calibrated(): boolean {
    return this.#last !== undefined;
  }

  /** UTF-8 bytes of the messages plus their template allowance, and `extraBytes`. */
  bytes(messages: readonly ChatMessage[], extraBytes = 0): number {
    let total = extraBytes;
    for (const message of messages) {
      let size = this.#sizes.get(message);
      if (size === undefined) {
        size = MESSAGE_OVERHEAD_BYTES + utf8Length(message.content ?? "") +
          (message.tool_calls ? utf8Length(JSON.stringify(message.tool_calls)) : 0);
        this.#sizes.set(message, size);
      }
      total += size;
    }
    return total;
  }

  /** Tokens for a prompt of `bytes`. */
  tokens(bytes: number): number {
    return Math.ceil(this.#overhead + bytes / this.#rate);
  }

  /**
   * The fewest tokens `bytes` can plausibly be: the same anchor, but text at the most
   * optimistic rate. A prompt over a limit even by this count certainly does not fit.
   */
  fewestTokens(bytes: number): number {
    return Math.ceil(this.#overhead + bytes / Math.max(this.#rate, OPTIMISTIC_BYTES_PER_TOKEN));
  }

  /** Learns from a prompt of `bytes` that the server counted as `promptTokens`. */
  calibrate(bytes: number, promptTokens: number): void {
    if (!(promptTokens > 0) || !(bytes > 0)) return;
    const last = this.#last;
    this.#last = { bytes, tokens: promptTokens };
    const clamp = (rate: number) => Math.min(8, Math.max(1, rate * 0.9));
    if (last && bytes - last.bytes > 256 && promptTokens > last.tokens) {
      this.#rate = clamp((bytes - last.bytes) / (promptTokens - last.tokens));
    } else if (!last && promptTokens < bytes / this.#rate) {
      // Denser than the conservative guess (English prose, say): count at what it cost.
      this.#rate = clamp(bytes / promptTokens);
    }
    this.#overhead = Math.max(0, promptTokens - bytes / this.#rate);
  }
}

/** What {@link compact} did. */
export interface Compaction {
  /** Estimated prompt tokens before and after. */
  before: number;
  after: number;
  /** One line per change, e.g. `step 2: clipped the "read" result from 9000 to 600 characters`. */
  removed: string[];
}

/**
 * Compacts `history` (in place) until the prompt's estimate is at most `limit` tokens, aiming
 * at {@link TARGET_SHARE} of it. `fixedBytes`: the system prompt and request extras. Returns
 * `undefined` when nothing had to change; `after > limit` when even full compaction is not
 * enough.
 */
export function compact(
  history: ChatMessage[],
  units: HistoryUnit[],
  render: RenderTurn,
  estimator: TokenEstimator,
  fixedBytes: number,
  limit: number,
  harder = false,
): Compaction | undefined {
  const estimate = () => estimator.tokens(estimator.bytes(history, fixedBytes));
  const before = estimate();
  if (before <= limit && !harder) return undefined;
  const target = Math.floor(limit * (harder ? TARGET_SHARE * 0.75 : TARGET_SHARE));
  const removed: string[] = [];
  const fits = () => estimate() <= target;
  const latest = units.at(-1);
  const earlier = units.filter((u) => u !== latest && u.level < 3);

  // 1. Clip the largest, then oldest, results of earlier steps.
  const results = earlier.flatMap((unit) =>
    (unit.tools?.calls ?? []).map((call, index) => ({ unit, index, size: textOf(call).length }))
  ).filter((r) => r.size > EXCERPT_HEAD + EXCERPT_TAIL + 100 && r.unit.level < 1)
    .sort((a, b) => b.size - a.size || a.unit.at - b.unit.at);
  for (const { unit, index, size } of results) {
    if (fits()) break;
    const calls = unit.tools!.calls;
    calls[index] = withText(calls[index]!, excerpt(textOf(calls[index]!)));
    rerender(history, unit, render);
    removed.push(
      `step ${unit.step}: clipped the ${JSON.stringify(calls[index]!.call.name)} result from ` +
        `${size} to ${textOf(calls[index]!).length} characters`,
    );
  }
  for (const { unit } of results) unit.level = Math.max(unit.level, 1);

  // 2. Summarize earlier steps, oldest first.
  for (const unit of earlier) {
    if (fits()) break;
    if (!unit.tools || unit.level >= 2) continue;
    summarize(unit);
    rerender(history, unit, render);
    unit.level = 2;
    const names = unit.tools.calls.map((c) => c.call.name).join(", ");
    removed.push(`step ${unit.step}: replaced the result of ${names} with a one-line summary`);
  }

  // 3. Drop earlier steps, oldest first.
  for (const unit of earlier) {
    if (fits()) break;
    dropUnit(history, units, unit);
    removed.push(
      unit.tools
        ? `step ${unit.step}: removed the ${
          unit.tools.calls.map((c) => c.call.name).join(", ")
        } call and its result`
        : `step ${unit.step}: removed a rejected reply and its correction`,
    );
  }

  // 4. Last resort: clip the latest step's results, sharing what is left between them, only
  // as far as the limit itself (not the target: this is the one thing the model is reading).
  if (estimate() > limit && latest?.tools && latest.level < 1) {
    const calls = latest.tools.calls;
    const original = calls.map((c) => textOf(c));
    const total = original.reduce((n, t) => n + t.length, 0);
    let keep = total;
    // A few rounds: each cuts at least the excess in bytes (a character is at least one byte)
    // plus the room the notes take, until it fits or every result is at its minimum.
    for (let round = 0; round < 4 && estimate() > limit; round++) {
      const over = Math.ceil((estimate() - limit) * estimator.bytesPerToken) + 80 * calls.length;
      keep = Math.max(MIN_LATEST * calls.length, keep - over);
      for (let i = 0; i < calls.length; i++) {
        const text = original[i]!;
        const share = Math.max(MIN_LATEST, Math.floor(keep * (text.length / Math.max(1, total))));
        calls[i] = withText(calls[i]!, headTail(text, share));
      }
      rerender(history, latest, render);
      if (keep === MIN_LATEST * calls.length) break;
    }
    calls.forEach((call, i) => {
      if (textOf(call) !== original[i]) {
        removed.push(
          `step ${latest.step}: clipped the latest ${JSON.stringify(call.call.name)} result from ` +
            `${original[i]!.length} to ${textOf(call).length} characters`,
        );
      }
    });
    latest.level = 1;
  } else if (estimate() > limit && latest && !latest.tools && latest.level < 1) {
    // The latest unit is a rejected reply and its correction: the echoed reply can go.
    const echo = history[latest.at]!;
    const text = echo.content ?? "";
    const keep = Math.max(
      MIN_LATEST,
      text.length - Math.ceil((estimate() - limit) * estimator.bytesPerToken) - 80,
    );
    if (text.length > keep) {
      history[latest.at] = { ...echo, content: headTail(text, keep) };
      removed.push(
        `step ${latest.step}: clipped the rejected reply from ${text.length} to ${
          history[latest.at]!.content!.length
        } characters`,
      );
    }
    latest.level = 1;
  }
  return { before, after: estimate(), removed };
}

/** The text of a call's outcome as the model sees it (output, or error). */
function textOf(call: ExecutedCall): string {
  return call.outcome.ok ? call.outcome.output : call.outcome.error;
}

function withText(call: ExecutedCall, text: string): ExecutedCall {
  const outcome: ToolOutcome = call.outcome.ok
    ? { ...call.outcome, output: text }
    : { ...call.outcome, error: text };
  return { ...call, outcome };
}

/** A head-and-tail excerpt with a note saying how much was cut. */
function excerpt(text: string): string {
  return headTail(text, EXCERPT_HEAD + EXCERPT_TAIL);
}

function headTail(text: string, keep: number): string {
  if (text.length <= keep) return text;
  const tail = Math.floor(keep / 3);
  const { head } = clipText(text, keep - tail);
  // Moved forward so that a surrogate pair is not split.
  let tailStart = text.length - tail;
  if (isLowSurrogate(text.charCodeAt(tailStart))) tailStart++;
  const cut = tailStart - head.length;
  return `${head}\n…[${cut} characters removed to fit the context window]…\n${
    text.slice(tailStart)
  }`;
}

/** A step's results become one-line notes; very long arguments a short note too. */
function summarize(unit: HistoryUnit): void {
  const tools = unit.tools!;
  tools.calls = tools.calls.map((call) => {
    const size = textOf(call).length;
    let args = call.call.args;
    if (JSON.stringify(args ?? {}).length > LONG_ARGUMENTS) {
      args = { "(removed)": "arguments removed to fit the context window" };
    }
    return {
      ...withText(call, `[result removed to fit the context window: ${size} characters]`),
      call: { ...call.call, args },
    };
  });
  const toolCalls = tools.reply.toolCalls;
  if (toolCalls) {
    tools.reply = {
      ...tools.reply,
      toolCalls: toolCalls.map((c, i): ToolCall =>
        c.function.arguments.length > LONG_ARGUMENTS
          ? {
            ...c,
            function: {
              name: c.function.name,
              arguments: JSON.stringify(tools.calls[i]?.call.args ?? {}),
            },
          }
          : c
      ),
    };
  }
}

/** Replaces a unit's messages by a fresh rendering (the same number of messages). */
function rerender(history: ChatMessage[], unit: HistoryUnit, render: RenderTurn): void {
  const messages = render(unit.tools!.reply, unit.tools!.calls);
  history.splice(unit.at, unit.count, ...messages);
  unit.count = messages.length;
}

/** Removes a unit's messages and shifts the later units' positions. */
function dropUnit(history: ChatMessage[], units: HistoryUnit[], unit: HistoryUnit): void {
  history.splice(unit.at, unit.count);
  for (const other of units) if (other.at > unit.at) other.at -= unit.count;
  unit.count = 0;
  unit.level = 3;
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (isHighSurrogate(c)) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}
