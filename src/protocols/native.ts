// Native tool calling: tools go to the server as OpenAI `tools`, calls come back as
// `tool_calls`, results go back as `role: "tool"` messages; the final answer is plain text.
// For models trained for tool calling and servers whose chat template handles tools.
import type { ChatMessage, ChatParams, ChatResult, ToolCall, ToolSpec } from "../chat.ts";
import { ReasoningSplitter, splitReasoning } from "../_reasoning.ts";
import { LiveFinalExtractor } from "../_live_final.ts";
import { errorMessage } from "../_text.ts";
import { argumentsTooLarge } from "./_json_scan.ts";
import { parseEnvelope } from "./_envelope_parser.ts";
import { envelopeToolTurn, fromEnvelope } from "./envelope.ts";
import type {
  Decision,
  ExecutedCall,
  LiveView,
  ReplyProtocol,
  RequestedCall,
  ToolDescription,
} from "./_reply_protocol.ts";

/** Options of {@link createNativeProtocol}. */
export interface NativeProtocolOptions {
  tools: readonly ToolDescription[];
  instructions?: string;
}

/** The OpenAI `tools` array for described tools. */
export function nativeToolSpecs(tools: readonly ToolDescription[]): ToolSpec[] {
  return tools.map((tool) => ({
    type: "function",
    function: { name: tool.name, description: tool.description, parameters: tool.schema },
  }));
}

/** The native protocol for one agent. */
export function createNativeProtocol(options: NativeProtocolOptions): ReplyProtocol {
  const specs = nativeToolSpecs(options.tools);
  return {
    systemPrompt: systemPrompt(specs.length > 0, options.instructions),
    requestExtras(fallback: boolean): Partial<ChatParams> {
      if (specs.length === 0) return {};
      return fallback ? { tools: specs, tool_choice: "none" } : { tools: specs };
    },
    rejected(): undefined {
      return undefined;
    },
    decide(reply: ChatResult): Decision {
      if (reply.toolCalls?.length) {
        return { kind: "tools", calls: reply.toolCalls.map(requestedCall) };
      }
      const { text, unclosed } = splitReasoning(reply.text);
      if (text.trim() === "") {
        return {
          kind: "violation",
          reason: unclosed
            ? "the reply ended inside a <think> block, with no answer after it"
            : "the reply had neither text nor a tool call",
        };
      }
      // A model may still write the JSON envelope as text: understand it.
      if (text.startsWith("{") || text.startsWith("```")) {
        const parsed = parseEnvelope(reply.text);
        if (parsed.ok) return fromEnvelope(parsed.envelope);
      }
      return { kind: "final", content: text };
    },
    correction(reason: string): ChatMessage {
      return {
        role: "user",
        content: `Your last reply was not usable: ${reason}. Either call one of the provided ` +
          "tools with valid JSON arguments, or answer the user in plain text.",
      };
    },
    toolTurn(
      reply: Pick<ChatResult, "text" | "toolCalls">,
      calls: readonly ExecutedCall[],
    ): ChatMessage[] {
      // Calls the model wrote as an envelope in its text go back the envelope's way.
      if (!reply.toolCalls?.length) return envelopeToolTurn(calls);
      const toolCalls: ToolCall[] = reply.toolCalls.map((c, i) => ({ ...c, id: calls[i]!.callId }));
      return [
        { role: "assistant", content: reply.text || null, tool_calls: toolCalls },
        ...calls.map(({ outcome, callId }): ChatMessage => ({
          role: "tool",
          tool_call_id: callId,
          content: outcome.ok ? outcome.output : `Error (${outcome.kind}): ${outcome.error}`,
        })),
      ];
    },
    finalTurn(content: string): ChatMessage {
      return { role: "assistant", content };
    },
    maxStepsMessage(): ChatMessage {
      return {
        role: "user",
        content: "You have used all available steps. Do not call any more tools. Answer the " +
          "user now, in plain text, with the best answer you can give from what you already know.",
      };
    },
    live(): LiveView {
      return new NativeLiveView();
    },
  };
}

function systemPrompt(hasTools: boolean, instructions?: string): string {
  const parts = [
    hasTools
      ? "You can call the provided tools. Call a tool when you need its result; when you have " +
        "everything you need, answer the user directly in plain text."
      : "Answer the user directly in plain text.",
  ];
  if (instructions?.trim()) parts.push(instructions.trim());
  return parts.join("\n\n");
}

function requestedCall(call: ToolCall): RequestedCall {
  const { id, function: { name, arguments: json } } = call;
  const tooLarge = argumentsTooLarge(json);
  if (tooLarge) return { id, name, args: `${json.slice(0, 200)}…`, argsError: tooLarge };
  try {
    return { id, name, args: JSON.parse(json || "{}") };
  } catch (err) {
    return {
      id,
      name,
      args: json,
      argsError: `arguments are not valid JSON: ${errorMessage(err)}`,
    };
  }
}

/**
 * Live text of one native reply: plain text as it comes, or, when the model writes the JSON
 * envelope as text, the envelope's decoded content. Which one is decided by the first
 * character of the answer, after the reasoning splitter.
 */
class NativeLiveView implements LiveView {
  #splitter = new ReasoningSplitter();
  #envelope: LiveFinalExtractor | undefined;
  #decided = false;

  push(delta: string): string {
    if (this.#envelope) return this.#envelope.push(delta);
    const text = this.#splitter.push(delta);
    if (this.#decided || text === "") return text;
    this.#decided = true;
    if (text.startsWith("{") || text.startsWith("`")) {
      this.#envelope = new LiveFinalExtractor();
      return this.#envelope.push(text);
    }
    return text;
  }
}
