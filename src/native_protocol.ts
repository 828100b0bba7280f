/**
 * Native tool calling (`protocol: "native"`): tools go to the server as OpenAI `tools`,
 * calls come back as `tool_calls`, results go back as `role: "tool"` messages.
 *
 * @module
 */
import * as z from "zod";
import type { ChatMessage, ToolSpec } from "./chat.ts";
import type { AnyTool, ToolOutcome } from "./tools.ts";

/**
 * The OpenAI `tools` array for a set of tools (JSON Schemas from zod).
 *
 * @param tools The agent's tools.
 * @returns One `{type: "function", function: {name, description, parameters}}` per tool.
 *
 * @example
 * ```ts
 * import { defineTool, toNativeTools } from "@ai-agent/orchestrator";
 * import * as z from "zod";
 * const add = defineTool({
 *   name: "add",
 *   description: "Add two numbers",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * console.log(toNativeTools([add])[0]?.function.name); // "add"
 * ```
 */
export function toNativeTools(tools: readonly AnyTool[]): ToolSpec[] {
  return tools.map((tool) => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.parameters) as Record<
      string,
      unknown
    >;
    return {
      type: "function" as const,
      function: { name: tool.name, description: tool.description, parameters },
    };
  });
}

/** The system prompt in native mode: the user's instructions plus a short nudge. */
export function nativeSystemPrompt(tools: readonly AnyTool[], instructions?: string): string {
  const parts = [
    tools.length
      ? "You can call the provided tools. Call a tool when you need its result; when you have " +
        "everything you need, answer the user directly in plain text."
      : "Answer the user directly in plain text.",
  ];
  if (instructions?.trim()) parts.push(instructions.trim());
  return parts.join("\n\n");
}

/** The `role: "tool"` message that answers one native call. */
export function nativeToolMessage(outcome: ToolOutcome, callId: string): ChatMessage {
  const content = outcome.ok ? outcome.output : `Error (${outcome.kind}): ${outcome.error}`;
  return { role: "tool", tool_call_id: callId, content };
}

/** The user message for the max-steps fallback in native mode. */
export function nativeMaxStepsMessage(): string {
  return "You have used all available steps. Do not call any more tools. Answer the user now, " +
    "in plain text, with the best answer you can give from what you already know.";
}

/** The corrective message after an empty native response. */
export function nativeCorrectionMessage(reason: string): string {
  return `Your last reply was not usable: ${reason}. Either call one of the provided tools ` +
    "with valid JSON arguments, or answer the user in plain text.";
}
