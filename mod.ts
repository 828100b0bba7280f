/**
 * `@ai-agent/orchestrator`: a tool-calling agent for local models served by LM Studio (or
 * any OpenAI-compatible server), whose streamed output is a safe, parsed view of the final
 * answer. Web standards only: the same module runs on Deno, Bun, Node, edge workers and
 * browsers.
 *
 * @example Stream an agent's answer
 * ```ts
 * import { Agent, defineTool, LMStudioClient } from "@ai-agent/orchestrator";
 * import * as z from "zod";
 *
 * const add = defineTool({
 *   name: "add",
 *   description: "Add two numbers",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const agent = new Agent({ client: new LMStudioClient(), tools: [add], maxSteps: 10 });
 *
 * for await (const chunk of agent.stream("What is 2 + 3?")) {
 *   console.log(chunk.text);
 * }
 * ```
 *
 * @module
 */
export {
  Agent,
  type AgentOptions,
  type ResumeDecisions,
  type ResumeOptions,
  type RunOptions,
} from "./src/agent.ts";
export { ResumeError, type ResumeErrorDetails } from "./src/resume_error.ts";
export type { AgentStream } from "./src/agent_stream.ts";
export {
  type AgentEvent,
  type AgentResult,
  type AgentRunState,
  type AssistantEntry,
  type Checkpoint,
  type ChunkEvent,
  type ContextCompactedEvent,
  type FinishEvent,
  type Interruption,
  MAX_STEPS_FALLBACK_TEXT,
  type MaxStepsEvent,
  type ModelDeltaEvent,
  type ModelResponseEvent,
  type ModelRetryEvent,
  type PrepareStep,
  type PrepareStepInfo,
  type PrepareStepResult,
  type ProtocolRetryEvent,
  type RepeatedCallEvent,
  type ResponseFormatUnsupportedEvent,
  type StepStartEvent,
  type StopReason,
  type StreamChunk,
  type TokenBudgetEvent,
  type ToolCallEntry,
  type ToolCallEvent,
  type ToolErrorEntry,
  type ToolErrorEvent,
  type ToolResultEntry,
  type ToolResultEvent,
  type TranscriptEntry,
  type UserEntry,
} from "./src/agent_types.ts";
export { DEFAULT_BASE_URL, LMStudioClient, type LMStudioClientOptions } from "./src/client.ts";
export type {
  CallOptions,
  ChatCompletionStream,
  ChatDelta,
  ChatMessage,
  ChatModel,
  ChatParams,
  ChatRequest,
  ChatResult,
  FinishReason,
  ResponseFormat,
  RetryInfo,
  ToolCall,
  ToolCallDelta,
  ToolSpec,
  Usage,
} from "./src/chat.ts";
export {
  type ChatStream,
  decodeChatStream,
  type DecodeChatStreamOptions,
} from "./src/chat_stream.ts";
export {
  APIError,
  ConnectionError,
  ContextOverflowError,
  InvalidResponseError,
  LiveStreamError,
  LMStudioError,
  ModelNotLoadedError,
  ProtocolError,
  ResponseTimeoutError,
  ResponseTooLargeError,
  StreamError,
  UnsupportedEndpointError,
} from "./src/errors.ts";
export type {
  LoadedModel,
  LoadModelOptions,
  ModelInfo,
  ModelInfoOptions,
  ModelInfoSource,
} from "./src/model_info.ts";
export {
  type AnyTool,
  defineTool,
  type InferOutput,
  type ObjectSchema,
  type Tool,
  type ToolContext,
  type ToolErrorKind,
  type ToolOutcome,
  type ToolParameters,
} from "./src/tools.ts";
export { type JSONSchemaObject, ToolSchemaError } from "./src/tool_schema.ts";
export type {
  AgentTracer,
  TraceAttributeValue,
  TraceContext,
  TraceSpan,
} from "./src/tracing/tracer.ts";
export {
  type Chunking,
  type SliceOptions,
  SliceStream,
  sliceText,
  TextSlicer,
} from "./src/slice_stream.ts";
