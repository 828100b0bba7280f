/**
 * What an agent run produces: {@link StreamChunk}s, the {@link AgentResult} and the
 * {@link AgentEvent}s that make progress observable.
 *
 * @module
 */
import type { ChatMessage, FinishReason, Usage } from "./chat.ts";
import type { LMStudioError } from "./errors.ts";

/**
 * One slice of the final answer.
 *
 * Concatenating every `text` in order gives exactly `result.text`; `isFinal` is `true` on
 * exactly one chunk, the last. A slice never splits a grapheme cluster.
 *
 * @example
 * ```ts
 * import type { StreamChunk } from "@ai-agent/orchestrator";
 * const show = (c: StreamChunk) => c.isFinal ? `${c.text}\n` : c.text;
 * ```
 */
export interface StreamChunk {
  /** The slice (may be `""` only when the whole answer is empty). */
  text: string;
  /** The step (1-based) whose response this is; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** `true` on the last chunk only. */
  isFinal: boolean;
}

/** Why a run ended. */
export type StopReason = "final" | "max_steps";

/**
 * The outcome of a run.
 *
 * @example
 * ```ts
 * import type { AgentResult } from "@ai-agent/orchestrator";
 * const summary = (r: AgentResult) => `${r.stopReason} after ${r.steps} steps: ${r.text}`;
 * ```
 */
export interface AgentResult {
  /** The final answer (or the max-steps fallback text). */
  text: string;
  /** Model turns used (tool calls and the final answer; retries do not count). */
  steps: number;
  /** `"final"`: the model answered. `"max_steps"`: the budget ran out (see README). */
  stopReason: StopReason;
  /** Tokens summed over every model call of the run (retries and fallback included). */
  usage: Usage;
  /**
   * The conversation without the system prompt: pass it as `messages` to continue the chat
   * in a later run.
   */
  messages: ChatMessage[];
}

/**
 * Progress of a run, for logs and UIs (no text parsing needed). Payloads never contain the
 * API key.
 *
 * @example Log tool calls
 * ```ts
 * import type { AgentEvent } from "@ai-agent/orchestrator";
 * const onEvent = (e: AgentEvent) => {
 *   if (e.type === "tool_call") console.log(`→ ${e.tool}(${JSON.stringify(e.arguments)})`);
 *   if (e.type === "tool_result") console.log(`← ${e.output} in ${e.durationMs} ms`);
 * };
 * ```
 */
export type AgentEvent =
  | { type: "step_start"; step: number }
  | {
    type: "model_retry";
    step: number;
    attempt: number;
    delayMs: number;
    status?: number;
    error: LMStudioError;
  }
  | { type: "model_delta"; step: number; text: string; reasoning: string }
  | {
    type: "model_response";
    step: number;
    text: string;
    reasoning: string;
    finishReason: FinishReason | null;
    usage?: Usage;
  }
  | { type: "protocol_retry"; step: number; reason: string; rawText: string }
  | { type: "response_format_unsupported"; step: number; message: string }
  | { type: "tool_call"; step: number; tool: string; arguments: unknown; callId: string }
  | {
    type: "tool_result";
    step: number;
    tool: string;
    callId: string;
    output: string;
    durationMs: number;
  }
  | {
    type: "tool_error";
    step: number;
    tool: string;
    callId: string;
    kind: "unknown_tool" | "invalid_arguments" | "execution_error";
    error: string;
    durationMs: number;
  }
  | { type: "max_steps"; step: number }
  | { type: "chunk"; chunk: StreamChunk }
  | { type: "finish"; result: AgentResult };

/**
 * The answer given when even the max-steps fallback reply is not a valid final answer.
 *
 * @example Tell the fallback apart from a real answer
 * ```ts
 * import { type AgentResult, MAX_STEPS_FALLBACK_TEXT } from "@ai-agent/orchestrator";
 * const gaveUp = (r: AgentResult) => r.text === MAX_STEPS_FALLBACK_TEXT;
 * ```
 */
export const MAX_STEPS_FALLBACK_TEXT: string =
  "I could not finish this task within the allowed number of steps.";
