/**
 * What one scripted reply means, independent of how it is delivered: its content and
 * reasoning deltas, its merged tool calls, its finish reason and its usage. The fake server
 * encodes this as JSON or SSE; the scripted model hands it over as `ChatDelta`s. One
 * reading of a {@link FakeReply}, so the two cannot drift.
 *
 * @module
 */
import type { ToolCall } from "../chat.ts";
import type { FakeReply } from "./fake_lmstudio.ts";
import {
  countedUsage,
  finishReasonOf,
  tokenize,
  toToolCalls,
  type WireUsageNumbers,
} from "./sse.ts";

/** The content deltas: `deltas` as given, else `content` cut by {@link tokenize}. */
export function contentDeltas(reply: FakeReply): string[] {
  if (reply.deltas) return [...reply.deltas];
  return tokenize(reply.content ?? "");
}

/** The reasoning deltas (`undefined` when the reply has no reasoning). */
export function reasoningDeltas(reply: FakeReply): string[] | undefined {
  return reply.reasoning ? tokenize(reply.reasoning) : undefined;
}

/** The whole answer text. */
export function replyText(reply: FakeReply): string {
  return reply.deltas ? reply.deltas.join("") : reply.content ?? "";
}

/** The reply's tool calls, merged, in the OpenAI message shape. */
export function replyToolCalls(reply: FakeReply): ToolCall[] {
  return toToolCalls(reply.toolCalls ?? []);
}

/** `finishReason` as given, else `"tool_calls"` when the reply has tool calls, else `"stop"`. */
export function replyFinishReason(reply: FakeReply): string | null {
  return finishReasonOf(reply.finishReason, reply.toolCalls);
}

/**
 * The usage to report: the reply's own, `undefined` for `usage: null`, else counted: one
 * completion token per content and reasoning delta, and `promptTokens` for the prompt.
 */
export function replyUsage(reply: FakeReply, promptTokens: number): WireUsageNumbers | undefined {
  if (reply.usage === null) return undefined;
  if (reply.usage) return reply.usage;
  return countedUsage(
    promptTokens,
    contentDeltas(reply).length + (reasoningDeltas(reply)?.length ?? 0),
  );
}
