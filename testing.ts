/**
 * Test kit: a fake LM Studio for testing agents and clients offline, plus SSE helpers.
 *
 * @example Run an agent against a scripted model
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { createFakeLMStudio } from "@ai-agent/orchestrator/testing";
 *
 * const fake = createFakeLMStudio({
 *   replies: [{ content: '{"type":"final","content":"Hi there"}' }],
 * });
 * const client = new LMStudioClient({ fetch: fake.fetch, model: "fake-model" });
 * const result = await new Agent({ client }).run("Say hi");
 * console.log(result.text); // "Hi there"
 * ```
 *
 * @module
 */
export {
  createFakeLMStudio,
  type FakeLMStudio,
  type FakeLMStudioOptions,
  type FakeReply,
  type RecordedRequest,
} from "./src/testing/fake_lmstudio.ts";
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
} from "./src/testing/sse.ts";
