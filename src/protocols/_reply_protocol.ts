// The reply-protocol interface: everything the step loop needs to know about how the model is
// asked to reply and how its replies are read. Two implementations: envelope.ts (one JSON
// object per reply) and native.ts (OpenAI `tools` / `tool_calls`). The loop (src/_loop.ts)
// holds no protocol-specific branch.
import type { ChatMessage, ChatParams, ChatResult } from "../chat.ts";
import type { ToolOutcome } from "../tools.ts";
export type { ToolDescription } from "../tool_schema.ts";

/** One call the model asked for. `argsError` set: the arguments could not even be parsed. */
export interface RequestedCall {
  /** The server's call id (native), or `""` (the loop then makes one). */
  id: string;
  name: string;
  args: unknown;
  argsError?: string;
}

/** What a buffered reply means. Tool-level problems (unknown tool, bad arguments) are not violations. */
export type Decision =
  | { kind: "final"; content: string }
  | { kind: "tools"; calls: RequestedCall[] }
  | { kind: "violation"; reason: string };

/** A call that ran (or failed), with the id it has in events and history. */
export interface ExecutedCall {
  call: RequestedCall;
  callId: string;
  outcome: ToolOutcome;
}

/** What live mode may show of a reply in progress. */
export interface LiveView {
  /** Reads the next content delta; returns final-answer text that is now safe to show. */
  push(delta: string): string;
}

/** How the model is asked to reply, and how its replies are read. One instance per agent. */
export interface ReplyProtocol {
  /** The system message (protocol rules, tools, the user's instructions). */
  readonly systemPrompt: string;
  /** Extra request fields for one model call (`fallback`: the max-steps call, no tools). */
  requestExtras(fallback: boolean): Partial<ChatParams>;
  /**
   * The server rejected a request that carried `extras`: if the protocol can go on without
   * what was rejected, it remembers that (for this agent) and returns a notice for the
   * `response_format_unsupported` event; the call is then repeated. Otherwise `undefined`.
   */
  rejected(error: unknown, extras: Partial<ChatParams>): string | undefined;
  /** Turns a complete reply (never cut off by the token limit) into a decision. */
  decide(reply: ChatResult): Decision;
  /** The user message after a violation. */
  correction(reason: string): ChatMessage;
  /** The history entries for a tool step: the assistant's call and the results. */
  toolTurn(
    reply: Pick<ChatResult, "text" | "toolCalls">,
    calls: readonly ExecutedCall[],
  ): ChatMessage[];
  /** The assistant turn recorded for the final answer. */
  finalTurn(content: string): ChatMessage;
  /** The user message that starts the max-steps fallback. */
  maxStepsMessage(): ChatMessage;
  /** A fresh live view for one reply. */
  live(): LiveView;
}
