/**
 * What an agent run produces: {@link StreamChunk}s, the {@link AgentResult} and the
 * {@link AgentEvent}s that make progress observable.
 *
 * @module
 */
import type { ChatMessage, ChatParams, FinishReason, ToolCall, Usage } from "./chat.ts";
import type { LMStudioError } from "./errors.ts";
import type { ToolErrorKind } from "./tools.ts";

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

/**
 * Why a run ended: `"final"` the model answered; `"max_steps"` the step budget ran out and the
 * fallback answered; `"token_budget"` the run's token budget (`maxTotalTokens`) ran out and the
 * same fallback answered; `"interrupted"` a call waits for approval (`result.interruptions`,
 * continue with `agent.resume(result.state, …)`).
 */
export type StopReason = "final" | "max_steps" | "token_budget" | "interrupted";

/**
 * A tool call that waits for a person's decision (the tool's `needsApproval`).
 *
 * @example Ask on the terminal
 * ```ts
 * import type { Interruption } from "@ai-agent/orchestrator";
 * const question = (i: Interruption) => `Run ${i.tool}(${JSON.stringify(i.arguments)})? [y/N]`;
 * ```
 */
export interface Interruption {
  /** Identifies the call: pass it in `approve` or `reject` of `agent.resume()`. */
  callId: string;
  /** The tool's name. */
  tool: string;
  /** The arguments as the model sent them. */
  arguments: unknown;
}

/**
 * Everything needed to continue a run in another process, later, or on another runtime:
 * plain JSON (no functions, no class instances), versioned and checksummed. Store it as
 * `JSON.stringify(state)` and pass `JSON.parse(text)` to `agent.resume()`. Treat the fields as
 * opaque: the checksum refuses a state whose content changed (README "Controlling a run").
 *
 * @example Persist a paused run
 * ```ts
 * import type { AgentResult } from "@ai-agent/orchestrator";
 * const save = (r: AgentResult) => r.state ? JSON.stringify(r.state) : undefined;
 * ```
 */
export interface AgentRunState {
  /** The format version: a state of another version is refused. */
  version: 1;
  /** The reply protocol of the agent that saved it. */
  protocol: "envelope" | "native";
  /** SHA-256 (hex) of the tool set (names and derived argument schemas). */
  tools: string;
  /** SHA-256 (hex) of the settings that matter (protocol, output schema). */
  settings: string;
  /** The last step that began (the pending step, when interrupted). */
  step: number;
  /** Tokens summed over the model calls so far. */
  usage: Usage;
  /** The history the model saw, without the system prompt. */
  history: ChatMessage[];
  /** The display transcript so far. */
  transcript: TranscriptEntry[];
  /** The repeat guard: the last call's key and how often it came in a row. */
  repeat: { key: string; count: number } | null;
  /** The context budget's compactable units (opaque). */
  units: unknown[];
  /** The interrupted step: the model's reply and every call of it; `null` at a checkpoint. */
  pending: {
    reply: { text: string; toolCalls?: ToolCall[] };
    /** The tool names `prepareStep` chose for that step, or `null` for all. */
    tools: string[] | null;
    calls: {
      id: string;
      callId: string;
      name: string;
      args: unknown;
      argsError?: string;
      needsApproval: boolean;
    }[];
  } | null;
  /** SHA-256 (hex) over the rest, in canonical JSON: an accident guard, not a security boundary. */
  checksum: string;
}

/**
 * The outcome of a run.
 *
 * @example
 * ```ts
 * import type { AgentResult } from "@ai-agent/orchestrator";
 * const summary = (r: AgentResult) => `${r.stopReason} after ${r.steps} steps: ${r.text}`;
 * ```
 */
export interface AgentResult<O = undefined> {
  /**
   * The final answer (or the max-steps fallback text); with an `output` schema, the answer's
   * JSON text; `""` when interrupted.
   */
  text: string;
  /**
   * With an `output` schema: the answer, parsed and validated (zod's output type).
   * `undefined` without a schema, when interrupted, or when a fallback gave no valid answer.
   */
  output: O | undefined;
  /** The calls waiting for approval (`stopReason: "interrupted"`); empty otherwise. */
  interruptions: Interruption[];
  /**
   * When interrupted: the state to pass to `agent.resume()` (plain JSON). `undefined` for a
   * run that answered: continue that with `messages`.
   */
  state: AgentRunState | undefined;
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
  /** Who has to fix what: no such tool, bad arguments, the tool threw, rejected, repeated. */
  kind: ToolErrorKind;
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
  | RepeatedCallEvent
  | TokenBudgetEvent
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

/** A tool returned; `output` is what the model sees. Its transcript entry, timed. */
export interface ToolResultEvent extends ToolResultEntry {
  /** Wall time of validation and execution, in milliseconds. */
  durationMs: number;
}

/**
 * A tool call failed in a way the model may fix; `error` is what the model sees. Its
 * transcript entry, timed.
 */
export interface ToolErrorEvent extends ToolErrorEntry {
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

/**
 * What `onCheckpoint` receives after every completed tool step: `state` continues the run
 * with `agent.resume(state)` (for a queue job or a workflow step that may die; README
 * "Controlling a run").
 *
 * @example Persist every step
 * ```ts
 * import type { Checkpoint } from "@ai-agent/orchestrator";
 * const saved = new Map<string, string>();
 * const onCheckpoint = (c: Checkpoint) => {
 *   saved.set("run-1", JSON.stringify(c.state));
 * };
 * ```
 */
export interface Checkpoint {
  /** The step that completed. */
  step: number;
  /** The resumable state after that step (plain JSON). */
  state: AgentRunState;
}

/**
 * The loop guard: the model made the same call (name and arguments) `count` times in a row,
 * so it was not run again; the model was told it already has that result.
 */
export interface RepeatedCallEvent {
  /** What happened; narrows the union. */
  type: "repeated_call";
  /** The step (1-based) it belongs to. */
  step: number;
  /** The tool's name. */
  tool: string;
  /** Identifies the call. */
  callId: string;
  /** The arguments, as the model sent them. */
  arguments: unknown;
  /** How many times in a row this call was made, this one included. */
  count: number;
}

/** The run's token budget (`maxTotalTokens`) is used up: the fallback call answers. */
export interface TokenBudgetEvent {
  /** What happened; narrows the union. */
  type: "token_budget";
  /** The fallback's step. */
  step: number;
  /** Tokens used so far (`usage.totalTokens`). */
  used: number;
  /** The budget. */
  limit: number;
}

/** The run ended: with an answer, or interrupted (see `result.stopReason`). */
export interface FinishEvent {
  /** What happened; narrows the union. */
  type: "finish";
  /** The run's result. */
  result: AgentResult<unknown>;
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

/**
 * What `prepareStep` is given before each model call (see `AgentOptions.prepareStep`).
 *
 * @example Log the step
 * ```ts
 * import type { PrepareStepInfo } from "@ai-agent/orchestrator";
 * const log = (i: PrepareStepInfo) => console.log(i.step, i.messages.length, i.usage.totalTokens);
 * ```
 */
export interface PrepareStepInfo {
  /** The step about to call the model (1-based; the fallback's step for the fallback call). */
  step: number;
  /** The history so far, without the system prompt (read-only: do not change it). */
  messages: readonly ChatMessage[];
  /** Tokens used so far in this run. */
  usage: Usage;
  /** The run's signal. */
  signal: AbortSignal;
}

/**
 * What `prepareStep` may change for one step; every field is optional. A changed tool list or
 * system prompt invalidates the server's prompt cache from that point.
 *
 * @example Only the search tool, and a short reply, in step 1
 * ```ts
 * import type { PrepareStepResult } from "@ai-agent/orchestrator";
 * const first: PrepareStepResult = { tools: ["search"], params: { max_tokens: 200 } };
 * ```
 */
export interface PrepareStepResult {
  /** Sampling parameters for this step's call, over the agent's `params`. */
  params?: Omit<ChatParams, "response_format" | "tools" | "tool_choice">;
  /** The names of the tools available in this step (a subset of the agent's tools). */
  tools?: readonly string[];
  /** Extra instructions for this step, appended to the system prompt. */
  instructions?: string;
}

/**
 * The per-step hook (`AgentOptions.prepareStep`): called before every model call.
 *
 * @example No tools after step 3
 * ```ts
 * import type { PrepareStep } from "@ai-agent/orchestrator";
 * const prepareStep: PrepareStep = ({ step }) => step > 3 ? { tools: [] } : undefined;
 * ```
 */
export type PrepareStep = (
  info: PrepareStepInfo,
) => PrepareStepResult | undefined | void | Promise<PrepareStepResult | undefined | void>;
