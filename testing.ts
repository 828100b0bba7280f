/**
 * Test kit: a fake LM Studio for testing agents and clients offline (chat completions, model
 * listings, LM Studio's native model endpoints, a context window), a scripted model that
 * needs no HTTP at all, reply builders for both agent protocols, and SSE helpers.
 *
 * @example Run an agent against a scripted server
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { createFakeLMStudio, envelope } from "@ai-agent/orchestrator/testing";
 *
 * const fake = createFakeLMStudio({ replies: [envelope.final("Hi there")] });
 * const client = new LMStudioClient({ fetch: fake.fetch, model: "fake-model" });
 * const result = await new Agent({ client }).run("Say hi");
 * console.log(result.text); // "Hi there"
 * ```
 *
 * @example Run an agent against a scripted model, without HTTP
 * ```ts
 * import { Agent } from "@ai-agent/orchestrator";
 * import { createScriptedModel, envelope } from "@ai-agent/orchestrator/testing";
 *
 * const model = createScriptedModel([envelope.final("Hi there")]);
 * const result = await new Agent({ client: model }).run("Say hi");
 * console.log(result.text, model.requests.length); // "Hi there" 1
 * ```
 *
 * @module
 */
export {
  type ChatRequestBody,
  createFakeLMStudio,
  type FakeLMStudio,
  type FakeLMStudioOptions,
  type FakeModel,
  type FakeReply,
  type RecordedRequest,
} from "./src/testing/fake_lmstudio.ts";
export { countPromptTokens, type OverflowStyle } from "./src/testing/context_window.ts";
export {
  envelope,
  type EnvelopeReplies,
  native,
  type NativeReplies,
  type ReplyOptions,
} from "./src/testing/replies.ts";
export {
  createScriptedModel,
  type ScriptedCall,
  type ScriptedModel,
  type ScriptedReply,
  ScriptExhaustedError,
} from "./src/testing/scripted_model.ts";
export {
  chatCompletionEvents,
  type CompletionSpec,
  encodeSSE,
  type EncodeSSEOptions,
  everySplit,
  type FakeToolCall,
  seededRandom,
  type ServerFlavor,
  splitBytes,
  sseResponse,
  tokenize,
  type WireUsageNumbers,
} from "./src/testing/sse.ts";
export { type AgentSSEResult, readAgentSSE } from "./src/testing/read_agent_sse.ts";
export { type Handler, serve, type Served } from "./src/testing/serve.ts";
