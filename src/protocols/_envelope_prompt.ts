// What the envelope protocol tells the model: the system prompt, the correction after a
// violation, tool results and the max-steps message, and the reply shapes they all quote.
import type { ToolOutcome } from "../tools.ts";
import type { ToolDescription } from "./_reply_protocol.ts";

/** The final-answer shape, as the model is shown it. */
export const FINAL_SHAPE = '{"type":"final","content":"<your answer>"}';
/** The tool-call shape, as the model is shown it. */
export const TOOL_CALL_SHAPE = '{"type":"tool_call","tool":"<tool name>","arguments":{...}}';
/** The rule every reply breaks when it is not an envelope. */
export const ONE_OBJECT = "Reply with exactly one JSON object and nothing else.";

/**
 * Builds the system prompt: the two reply shapes, the tools (name, description, JSON Schema of
 * the arguments) and then the caller's instructions, if any, under an "Instructions" heading.
 * With no tools, only the final-answer shape is offered.
 *
 * @param tools The tools the model may call.
 * @param instructions The caller's own system instructions (task, persona, rules).
 * @returns The system message text.
 */
export function buildSystemPrompt(
  tools: readonly ToolDescription[],
  instructions?: string,
  output?: Record<string, unknown>,
): string {
  const finalRules = output ? outputRules(output) : FINAL_RULES;
  const lines: string[] = [
    "You complete the user's task step by step.",
    "",
    "# Reply format",
    "",
    `${ONE_OBJECT} No text before or after it, no markdown.`,
  ];
  if (tools.length === 0) {
    lines.push(
      "No tools are available, so every reply has this shape:",
      "",
      FINAL_SHAPE,
      "",
      ...finalRules,
    );
  } else {
    lines.push(
      "Each reply has one of these two shapes.",
      "",
      "1. Call a tool:",
      "",
      TOOL_CALL_SHAPE,
      "",
      '- "tool" is the exact name of one of the tools listed below.',
      `- "arguments" is a JSON object that matches that tool's arguments schema.`,
      "- Call one tool per reply. Its result comes back in the next message; then reply again.",
      "",
      "2. Give the final answer:",
      "",
      FINAL_SHAPE,
      "",
      ...finalRules,
      "",
      "# Tools",
    );
    for (const tool of tools) {
      lines.push(
        "",
        `## ${tool.name}`,
        "",
        tool.description.trim(),
        "",
        `Arguments schema: ${JSON.stringify(tool.schema)}`,
      );
    }
  }
  if (instructions !== undefined && instructions.trim() !== "") {
    lines.push("", "# Instructions", "", instructions.trim());
  }
  return lines.join("\n");
}

/** The final-answer rules with typed output: `content` is a JSON object of the schema. */
function outputRules(output: Record<string, unknown>): string[] {
  return [
    '- "content" is not text: it is a JSON object (not a string) matching this JSON Schema:',
    `  ${JSON.stringify(output)}`,
    "- The final answer ends the task.",
  ];
}

const FINAL_RULES = [
  '- "content" is a string: your complete answer for the user (write line breaks as \\n).',
  "- The final answer ends the task.",
];

/**
 * The user message sent after a protocol violation: what was wrong, then the allowed shapes
 * again (the tool-call shape only when there are tools, with their names).
 *
 * @param reason Why the last reply could not be used.
 * @param tools The tools the model may call.
 * @returns The message text.
 */
export function correctionMessage(reason: string, tools: readonly ToolDescription[]): string {
  const lines = [`Your last reply could not be used: ${reason}`, ""];
  if (tools.length === 0) {
    lines.push(`Reply again with exactly one JSON object and nothing else, shaped like this:`);
    lines.push(FINAL_SHAPE);
  } else {
    lines.push(
      "Reply again with exactly one JSON object and nothing else, in one of these shapes:",
      TOOL_CALL_SHAPE,
      FINAL_SHAPE,
      `Available tools: ${tools.map((tool) => tool.name).join(", ")}.`,
    );
  }
  return lines.join("\n");
}

/**
 * The user message that brings a tool's outcome back to the model. It is a plain user turn
 * (not `role: "tool"`), so it works with chat templates that reject tool messages.
 *
 * - success: `Tool "add" returned:\n5`
 * - failure: `Tool "add" failed (invalid_arguments): <error>` plus what to do next (for an
 *   unknown tool, the error already lists the available tools)
 *
 * followed by a reminder to reply with one JSON object.
 *
 * @param outcome What `runTool` returned.
 * @returns The message text.
 */
export function toolResultMessage(outcome: ToolOutcome): string {
  const reminder =
    `Reply with exactly one JSON object: another ${TOOL_CALL_SHAPE} or ${FINAL_SHAPE}.`;
  const tool = JSON.stringify(outcome.tool);
  if (outcome.ok) return `Tool ${tool} returned:\n${outcome.output}\n\n${reminder}`;
  const advice = outcome.kind === "unknown_tool"
    ? "Call one of the available tools or give the final answer."
    : outcome.kind === "rejected" || outcome.kind === "repeated_call"
    ? "Choose another action or give the final answer."
    : "Fix the arguments or choose another action.";
  return `Tool ${tool} failed (${outcome.kind}): ${outcome.error}\n${advice}\n\n${reminder}`;
}

/**
 * The user message for the max-steps fallback: the step budget is used up, no more tool calls;
 * answer now with the final shape from what is known.
 *
 * @returns The message text.
 */
export function maxStepsMessage(): string {
  return [
    "You have used all available steps: no more tool calls are possible.",
    `Reply now with exactly one JSON object and nothing else, ${FINAL_SHAPE},`,
    "giving the best answer you can from what you have found so far.",
  ].join("\n");
}
