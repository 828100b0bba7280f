/**
 * Reply builders: the {@link FakeReply} a model sends to make an agent call a tool or answer,
 * for both reply protocols, so that no test writes envelope JSON by hand.
 *
 * @module
 */
import type { FakeReply } from "./fake_lmstudio.ts";
import type { FakeToolCall } from "./sse.ts";

/**
 * Everything of a {@link FakeReply} but what the builder fills in: streaming (`chunkBytes`,
 * `delayMs`), `reasoning`, `usage`, `finishReason`, faults…
 */
export type ReplyOptions = Omit<FakeReply, "content" | "deltas" | "toolCalls">;

/** Builders for the envelope protocol (the default): the model answers with one JSON object. */
export interface EnvelopeReplies {
  /**
   * A reply whose content is `{"type":"tool_call","tool":name,"arguments":args}`.
   *
   * @example Call a tool, then answer
   * ```ts
   * import { createFakeLMStudio, envelope } from "@ai-agent/orchestrator/testing";
   * const fake = createFakeLMStudio({
   *   replies: [envelope.toolCall("add", { a: 2, b: 3 }), envelope.final("5")],
   * });
   * ```
   */
  toolCall(name: string, args: Record<string, unknown>, options?: ReplyOptions): FakeReply;
  /**
   * A reply whose content is `{"type":"final","content":text}`.
   *
   * @example A final answer streamed in 1-byte pieces, after some reasoning
   * ```ts
   * import { envelope } from "@ai-agent/orchestrator/testing";
   * const reply = envelope.final("Hi there", { chunkBytes: 1, reasoning: "Say hi." });
   * ```
   */
  final(text: string, options?: ReplyOptions): FakeReply;
}

/** Builders for native tool calling (`protocol: "native"`): OpenAI-style `tool_calls`. */
export interface NativeReplies {
  /**
   * A reply carrying native tool calls (finish reason `"tool_calls"`); ids default to
   * `"100"`, `"101"`, … as LM Studio numbers them.
   *
   * @example Two calls in one reply
   * ```ts
   * import { native } from "@ai-agent/orchestrator/testing";
   * const reply = native.toolCalls([
   *   { name: "add", arguments: { a: 2, b: 3 } },
   *   { name: "multiply", arguments: { a: 5, b: 4 }, id: "call-2" },
   * ]);
   * ```
   */
  toolCalls(calls: readonly FakeToolCall[], options?: ReplyOptions): FakeReply;
  /**
   * A reply whose content is the plain answer `text`.
   *
   * @example
   * ```ts
   * import { native } from "@ai-agent/orchestrator/testing";
   * const reply = native.final("20", { usage: null });
   * ```
   */
  final(text: string, options?: ReplyOptions): FakeReply;
}

/**
 * Reply builders for the envelope protocol.
 *
 * @example Script an agent run
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { createFakeLMStudio, envelope } from "@ai-agent/orchestrator/testing";
 * const fake = createFakeLMStudio({ replies: [envelope.final("Hello!")] });
 * const agent = new Agent({ client: new LMStudioClient({ fetch: fake.fetch, model: "m" }) });
 * console.log((await agent.run("Say hello")).text); // "Hello!"
 * ```
 */
export const envelope: EnvelopeReplies = {
  toolCall: (name, args, options = {}) => ({
    ...options,
    content: JSON.stringify({ type: "tool_call", tool: name, arguments: args }),
  }),
  final: (text, options = {}) => ({
    ...options,
    content: JSON.stringify({ type: "final", content: text }),
  }),
};

/**
 * Reply builders for native tool calling.
 *
 * @example Script a native agent run
 * ```ts
 * import { createFakeLMStudio, native } from "@ai-agent/orchestrator/testing";
 * const fake = createFakeLMStudio({
 *   replies: [native.toolCalls([{ name: "add", arguments: { a: 2, b: 3 } }]), native.final("5")],
 * });
 * ```
 */
export const native: NativeReplies = {
  toolCalls: (calls, options = {}) => ({ ...options, toolCalls: [...calls] }),
  final: (text, options = {}) => ({ ...options, content: text }),
};
