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
   * The reasoning of the reply that gave the answer: the server's reasoning fields and inline
   * blocks (`<think>…</think>` and the other formats), joined with "\n"; `""` when none.
   */
  reasoning: string;
  /**
   * The exact history the model saw, without the system prompt: pass it as `messages` to
   * continue the chat in a later run. It is protocol data, not for display: with the envelope
   * protocol assistant turns are JSON envelopes and tool results are `user` turns carrying
   * instructions for the model. Show {@link AgentResult.transcript} instead.
   */
  messages: ChatMessage[];
  /**
   * This run's conversation as a chat UI shows it, in order: the user's prompt, each tool
   * call with its arguments and its result or error, and the answer. No protocol JSON, no
   * corrections or max-steps notices. Covers this run only: keep the entries of earlier runs
   * and append.
   */
  transcript: TranscriptEntry[];
}

/**
 * One entry of {@link AgentResult.transcript}, for display.
 *
 * @example Render a transcript
 * ```ts
 * import type { TranscriptEntry } from "@ai-agent/orchestrator";
 * const line = (e: TranscriptEntry): string => {
 *   switch (e.type) {
 *     case "user": return `You: ${e.text}`;
 *     case "assistant": return `Assistant: ${e.text}`;
 *     case "tool_call": return `→ ${e.tool}(${JSON.stringify(e.arguments)})`;
 *     case "tool_result": return `← ${e.output}`;
 *     case "tool_error": return `✗ ${e.error}`;
 *   }
 * };
 * ```
 */
export type TranscriptEntry =
  | UserEntry
  | AssistantEntry
  | ToolCallEntry
  | ToolResultEntry
  | ToolErrorEntry;

/** The user's prompt. */
export interface UserEntry {
  /** What happened; narrows the union. */
  type: "user";
  /** The prompt, as given to `run()` / `stream()`. */
  text: string;
}

/** The answer (or the max-steps fallback text). */
export interface AssistantEntry {
  /** What happened; narrows the union. */
  type: "assistant";
  /** The step whose reply this is (`maxSteps + 1` for the max-steps fallback). */
  step: number;
  /** The answer as delivered (`result.text`). */
  text: string;
}

/** The model called a tool. */
export interface ToolCallEntry {
  /** What happened; narrows the union. */
  type: "tool_call";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** Matches the `callId` of the result or error entry, and of the events. */
  callId: string;
  /** As the model sent them (as in the `tool_call` event). */
  arguments: unknown;
}

/** A tool returned; `output` is the text the model saw. */
export interface ToolResultEntry {
  /** What happened; narrows the union. */
  type: "tool_result";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** Identifies the call across its events and transcript entries. */
  callId: string;
  /** The result as text, as the model sees it. */
  output: string;
}

/** A tool call failed; `error` is the text the model saw. */
export interface ToolErrorEntry {
  /** What happened; narrows the union. */
  type: "tool_error";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** Identifies the call across its events and transcript entries. */
  callId: string;
  /** Who has to fix what: no such tool, arguments the schema rejected, or the tool threw. */
  kind: "unknown_tool" | "invalid_arguments" | "execution_error";
  /** What went wrong, as the model sees it. */
  error: string;
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
  | StepStartEvent
  | ModelRetryEvent
  | ModelDeltaEvent
  | ModelResponseEvent
  | ProtocolRetryEvent
  | ResponseFormatUnsupportedEvent
  | ContextCompactedEvent
  | ToolCallEvent
  | ToolResultEvent
  | ToolErrorEvent
  | MaxStepsEvent
  | ChunkEvent
  | FinishEvent;

/** A step begins: one model turn, and the tools it calls. */
export interface StepStartEvent {
  /** What happened; narrows the union. */
  type: "step_start";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
}

/** A model request failed before its reply began and will be sent again. */
export interface ModelRetryEvent {
  /** What happened; narrows the union. */
  type: "model_retry";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** 1 for the first retry. */
  attempt: number;
  /** Milliseconds until the request is sent again. */
  delayMs: number;
  /** The HTTP status that caused it, if any. */
  status?: number;
  /** The error that caused the retry. */
  error: LMStudioError;
}

/** A piece of the model's reply as it streams (not yet validated: never show it as the answer). */
export interface ModelDeltaEvent {
  /** What happened; narrows the union. */
  type: "model_delta";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** New raw content (not validated: never show it as the answer). */
  text: string;
  /** Reasoning text (from the server's reasoning fields and inline blocks). */
  reasoning: string;
}

/** The model's whole reply, before it is parsed. */
export interface ModelResponseEvent {
  /** What happened; narrows the union. */
  type: "model_response";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The whole raw content of the reply. */
  text: string;
  /** Reasoning text (from the server's reasoning fields and inline blocks). */
  reasoning: string;
  /** Why generation stopped, as the server said. */
  finishReason: FinishReason | null;
  /** Token counts, when the server reported them. */
  usage?: Usage;
}

/** The reply broke the protocol; the model gets one corrective retry. */
export interface ProtocolRetryEvent {
  /** What happened; narrows the union. */
  type: "protocol_retry";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** What was wrong, in the words the model is given. */
  reason: string;
  /** The reply exactly as the model wrote it. */
  rawText: string;
}

/** The server rejected `response_format`; the client's agents go on prompt-only. */
export interface ResponseFormatUnsupportedEvent {
  /** What happened; narrows the union. */
  type: "response_format_unsupported";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** What happened, for people. */
  message: string;
}

/**
 * The history was compacted to fit the model's context window (see README "Context
 * windows"): tool results clipped or summarized, old steps removed.
 */
export interface ContextCompactedEvent {
  /** What happened; narrows the union. */
  type: "context_compacted";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The window the prompt must fit, in tokens. */
  contextLength: number;
  /** Estimated prompt tokens before compacting. */
  before: number;
  /** Estimated prompt tokens after compacting. */
  after: number;
  /** What was cut, one line per change. */
  removed: string[];
}

/** The model asked for a tool. */
export interface ToolCallEvent {
  /** What happened; narrows the union. */
  type: "tool_call";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** The arguments, as the model sent them. */
  arguments: unknown;
  /** Identifies the call across its events and transcript entries. */
  callId: string;
}

/** A tool returned; `output` is what the model sees. */
export interface ToolResultEvent {
  /** What happened; narrows the union. */
  type: "tool_result";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** Identifies the call across its events and transcript entries. */
  callId: string;
  /** The result as text, as the model sees it. */
  output: string;
  /** Wall time of validation and execution, in milliseconds. */
  durationMs: number;
}

/** A tool call failed in a way the model may fix; `error` is what the model sees. */
export interface ToolErrorEvent {
  /** What happened; narrows the union. */
  type: "tool_error";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
  /** The tool's name, as the model wrote it. */
  tool: string;
  /** Identifies the call across its events and transcript entries. */
  callId: string;
  /** Who has to fix what: no such tool, arguments the schema rejected, or the tool threw. */
  kind: "unknown_tool" | "invalid_arguments" | "execution_error";
  /** What went wrong, as the model sees it. */
  error: string;
  /** Wall time of validation and execution, in milliseconds. */
  durationMs: number;
}

/** The step budget is used up: one last call must answer without tools. */
export interface MaxStepsEvent {
  /** What happened; narrows the union. */
  type: "max_steps";
  /** The step (1-based) it belongs to; `maxSteps + 1` for the max-steps fallback. */
  step: number;
}

/** A chunk of the final answer was delivered. */
export interface ChunkEvent {
  /** What happened; narrows the union. */
  type: "chunk";
  /** The chunk. */
  chunk: StreamChunk;
}

/** The run ended with an answer. */
export interface FinishEvent {
  /** What happened; narrows the union. */
  type: "finish";
  /** The run's result. */
  result: AgentResult;
}

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
