/**
 * The chat types shared by the client and the agent: messages, request parameters, streamed
 * deltas and final results, and {@link ChatModel}, what the agent needs from a model
 * connection. (What servers send is checked in the private `_wire.ts`.)
 *
 * @module
 */
import type { LMStudioError } from "./errors.ts";
import type { ModelInfo, ModelInfoOptions } from "./model_info.ts";

/** One native tool call as it appears in an assistant message (OpenAI shape). */
export interface ToolCall {
  /** Call id; the matching `role: "tool"` message echoes it. */
  id: string;
  /** Always `"function"`. */
  type: "function";
  /** The function and its JSON-encoded arguments. */
  function: { name: string; arguments: string };
}

/**
 * One chat message (OpenAI-compatible).
 *
 * @example
 * ```ts
 * import type { ChatMessage } from "@ai-agent/orchestrator";
 * const messages: ChatMessage[] = [
 *   { role: "system", content: "Be brief." },
 *   { role: "user", content: "Hello!" },
 * ];
 * ```
 */
export interface ChatMessage {
  /** Who speaks. */
  role: "system" | "user" | "assistant" | "tool";
  /** The text; `null` only for assistant messages that carry `tool_calls`. */
  content: string | null;
  /** Native tool calls made by an assistant message. */
  tool_calls?: ToolCall[];
  /** For `role: "tool"`: the id of the call this answers. */
  tool_call_id?: string;
  /** Optional participant / tool name. */
  name?: string;
}

/** `response_format` as LM Studio accepts it (`json_object` is rejected by LM Studio). */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_schema"; json_schema: { name: string; strict?: boolean; schema: unknown } };

/** A tool offered to the model in native tool-calling mode (OpenAI shape). */
export interface ToolSpec {
  /** Always `"function"`. */
  type: "function";
  /** Name, description and JSON Schema of the arguments. */
  function: { name: string; description?: string; parameters: unknown };
}

/**
 * Sampling and request parameters. Unknown extras go in `extra` and are sent as-is.
 *
 * @example
 * ```ts
 * import type { ChatParams } from "@ai-agent/orchestrator";
 * const params: ChatParams = { temperature: 0, max_tokens: 256, top_k: 40 };
 * ```
 */
export interface ChatParams {
  /** Model id; defaults to the client's model (or the first loaded model). */
  model?: string;
  /** Sampling temperature. */
  temperature?: number;
  /** Nucleus sampling. */
  top_p?: number;
  /** LM Studio / llama.cpp: top-k sampling. */
  top_k?: number;
  /** LM Studio / llama.cpp: repetition penalty. */
  repeat_penalty?: number;
  /** Maximum tokens to generate. */
  max_tokens?: number;
  /** Stop sequences. */
  stop?: string | string[];
  /** Random seed. */
  seed?: number;
  /** Presence penalty. */
  presence_penalty?: number;
  /** Frequency penalty. */
  frequency_penalty?: number;
  /** Structured output. */
  response_format?: ResponseFormat;
  /** Native tools. */
  tools?: ToolSpec[];
  /** Native tool choice. */
  tool_choice?: "auto" | "none" | "required" | {
    type: "function";
    function: { name: string };
  };
  /** LM Studio: seconds a just-in-time loaded model stays loaded. */
  ttl?: number;
  /**
   * How much a reasoning model thinks before it answers (OpenAI's `reasoning_effort`; LM Studio
   * honours it on `/v1` for some models only, see README "Messy model output").
   */
  // deno-lint-ignore ban-types
  reasoning_effort?: "none" | "minimal" | "low" | "medium" | "high" | (string & {});
  /** Any other body fields, merged last. */
  extra?: Record<string, unknown>;
}

/**
 * What `generate()` and `stream()` take: messages, parameters and an optional signal.
 *
 * @example
 * ```ts
 * import type { ChatRequest } from "@ai-agent/orchestrator";
 * const req: ChatRequest = { messages: [{ role: "user", content: "hi" }], temperature: 0 };
 * ```
 */
export interface ChatRequest extends ChatParams {
  /** The conversation so far. */
  messages: ChatMessage[];
  /** Aborts the request and the body read. */
  signal?: AbortSignal;
}

/** Token counts as reported by the server. */
export interface Usage {
  /** Tokens in the prompt. */
  promptTokens: number;
  /** Tokens generated. */
  completionTokens: number;
  /** Sum of both. */
  totalTokens: number;
}

/** Why generation stopped: `"stop"`, `"length"` (token limit), `"tool_calls"`, … or `null`. */
// `string & {}` keeps editor completion for the known values while accepting any string.
// deno-lint-ignore ban-types
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | (string & {});

/**
 * A fragment of a native tool call, as streamed. Merge fragments by `index`.
 */
export interface ToolCallDelta {
  /** Which call this fragment belongs to. */
  index: number;
  /** Call id (often only on the first fragment; may be `""` later). */
  id?: string;
  /** Function name (may repeat as `""` later). */
  name?: string;
  /** A piece of the JSON arguments. */
  arguments?: string;
}

/**
 * One streamed piece of a completion.
 *
 * @example
 * ```ts
 * import type { ChatDelta } from "@ai-agent/orchestrator";
 * const show = (d: ChatDelta) => d.reasoning ? `(${d.reasoning})` : d.text;
 * ```
 */
export interface ChatDelta {
  /** New answer text (may be `""`). */
  text: string;
  /** New reasoning text from `reasoning_content` / `reasoning` (`""` when none). */
  reasoning: string;
  /** Native tool-call fragments, when the server streams them. */
  toolCalls?: ToolCallDelta[];
}

/**
 * A finished completion: the whole text, why it stopped and what it cost.
 *
 * @example
 * ```ts
 * import { LMStudioClient } from "@ai-agent/orchestrator";
 * const r = await new LMStudioClient().generate({ messages: [{ role: "user", content: "hi" }] });
 * console.log(r.text, r.finishReason, r.usage?.totalTokens);
 * ```
 */
export interface ChatResult {
  /** The answer text. */
  text: string;
  /** Reasoning text, when the server sent it separately (`""` otherwise). */
  reasoning: string;
  /** Why generation stopped; `null` when the server did not say. */
  finishReason: FinishReason | null;
  /** Token usage, when the server reported it. */
  usage?: Usage;
  /** Native tool calls, merged. */
  toolCalls?: ToolCall[];
  /** The model that answered, as the server named it. */
  model?: string;
}

/** Details of one retry, passed to `onRetry`. */
export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  /** Milliseconds until the retry. */
  delayMs: number;
  /** HTTP status that caused it, if any. */
  status?: number;
  /** The error that caused it. */
  error: LMStudioError;
}

/** Per-call extras beyond {@link ChatRequest}. */
export interface CallOptions {
  /** Called before each retry (for progress events and logs). */
  onRetry?: (info: RetryInfo) => void;
}

/**
 * A streamed completion as the agent reads it: deltas as they arrive, then the whole result.
 * `client.stream()` returns a `ChatStream`, which is one.
 *
 * @example Read a stream to the end
 * ```ts
 * import type { ChatCompletionStream } from "@ai-agent/orchestrator";
 * async function text(stream: ChatCompletionStream): Promise<string> {
 *   for await (const delta of stream) console.log(delta.text);
 *   return (await stream.finalResult()).text;
 * }
 * ```
 */
export interface ChatCompletionStream extends AsyncIterable<ChatDelta> {
  /** The whole completion; reads whatever the iteration has not read yet. */
  finalResult(): Promise<ChatResult>;
}

/**
 * Exactly what an `Agent` needs from a model connection. `LMStudioClient` implements it; so
 * can any object of yours (a wrapper that logs, caches or routes between servers, or a
 * scripted model in tests). The agent checks it structurally, never with `instanceof`.
 *
 * @example Log every model call
 * ```ts
 * import { Agent, type ChatModel, LMStudioClient } from "@ai-agent/orchestrator";
 * const inner = new LMStudioClient();
 * const logged: ChatModel = {
 *   stream(request, options) {
 *     console.log("stream", request.messages.length, "messages");
 *     return inner.stream(request, options);
 *   },
 *   generate(request, options) {
 *     console.log("generate", request.messages.length, "messages");
 *     return inner.generate(request, options);
 *   },
 * };
 * const agent = new Agent({ client: logged });
 * ```
 */
export interface ChatModel {
  /** A streamed completion; nothing is sent until iteration starts. */
  stream(request: ChatRequest, options?: CallOptions): ChatCompletionStream;
  /** One non-streamed completion. */
  generate(request: ChatRequest, options?: CallOptions): Promise<ChatResult>;
  /**
   * Optional: what the server says about a model (`undefined`: the connection's default
   * model). The agent reads `contextLength`, the loaded window, to keep prompts inside it,
   * and asks again with `refresh: true` after an overflow.
   */
  modelInfo?(model?: string, options?: ModelInfoOptions): Promise<ModelInfo>;
}

/** Adds two usages; `undefined` counts as nothing. */
export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
}
