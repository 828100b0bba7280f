/**
 * How the fake LM Studio measures a prompt against its context window, and the error bodies
 * it answers with when a prompt does not fit.
 *
 * @module
 */
import type { ChatRequestBody } from "./fake_lmstudio.ts";

/**
 * The fake's prompt-token count for a chat request body: the UTF-8 bytes of the JSON of
 * `messages`, plus those of `tools` when present, divided by 4 and rounded up. Like a real
 * server, `response_format` does not count: LM Studio and llama.cpp turn it into a grammar
 * that constrains sampling, not into prompt text, while a chat template writes `tools` into
 * the prompt. A stand-in for a tokenizer (about 4 bytes per token, as for English text with
 * a BPE tokenizer), simple enough for a test to compute the expected number. The fake
 * reports it as `usage.prompt_tokens` when a reply scripts no usage, and compares it with
 * the loaded context length.
 *
 * @param body The request body (`messages`, and optionally `tools`).
 * @returns ceil((bytes(JSON(messages)) + bytes(JSON(tools))) / 4)
 *
 * @example Know in advance whether a prompt fits a 512-token window
 * ```ts
 * import { countPromptTokens } from "@ai-agent/orchestrator/testing";
 * const tokens = countPromptTokens({ messages: [{ role: "user", content: "x".repeat(2000) }] });
 * console.log(tokens, tokens > 512); // 508 false
 * ```
 */
export function countPromptTokens(
  body: Pick<ChatRequestBody, "messages" | "tools">,
): number {
  const encoder = new TextEncoder();
  let bytes = encoder.encode(JSON.stringify(body.messages ?? [])).length;
  if (body.tools !== undefined) bytes += encoder.encode(JSON.stringify(body.tools)).length;
  return Math.ceil(bytes / 4);
}

/**
 * Which server's overflow answer to imitate.
 *
 * - `"lmstudio"`: HTTP 400 `{"error":"Trying to keep the first N tokens when context the
 *   overflows. However, the model is loaded with context length of only M tokens, which is
 *   not enough. Try to load the model with a larger context length, or provide a shorter
 *   input"}`, before any byte of a stream (LM Studio checks the prompt before it starts
 *   streaming, so `stream: true` gets the same 400).
 * - `"lmstudio-stream"`: as `"lmstudio"`, except that a streamed request gets HTTP 200 and an
 *   SSE body whose only event is `data: {"error":"Trying to keep…"}` (as users have also
 *   reported it).
 * - `"llamacpp"`: llama.cpp's `llama-server`: HTTP 400 `{"error":{"code":400,"message":
 *   "request (N tokens) exceeds the available context size (M tokens), try increasing it",
 *   "type":"exceed_context_size_error","n_prompt_tokens":N,"n_ctx":M}}`, plain JSON even
 *   when streaming.
 */
export type OverflowStyle = "lmstudio" | "lmstudio-stream" | "llamacpp";

/** The message LM Studio sends when the prompt (`promptTokens`) overflows the window. */
function lmStudioOverflowMessage(promptTokens: number, contextLength: number): string {
  return `Trying to keep the first ${promptTokens} tokens when context the overflows. ` +
    `However, the model is loaded with context length of only ${contextLength} tokens, ` +
    "which is not enough. Try to load the model with a larger context length, or provide a " +
    "shorter input";
}

/** The JSON error body of an overflow in `style`. */
export function overflowBody(
  style: OverflowStyle,
  promptTokens: number,
  contextLength: number,
): unknown {
  if (style === "llamacpp") {
    return {
      error: {
        code: 400,
        message: `request (${promptTokens} tokens) exceeds the available context size ` +
          `(${contextLength} tokens), try increasing it`,
        type: "exceed_context_size_error",
        n_prompt_tokens: promptTokens,
        n_ctx: contextLength,
      },
    };
  }
  return { error: lmStudioOverflowMessage(promptTokens, contextLength) };
}
