// Native tool calling: tools go to the server as OpenAI `tools`, calls come back as
// `tool_calls`, results go back as `role: "tool"` messages; the final answer is plain text.
// For models trained for tool calling and servers whose chat template handles tools.
//
// Models often write their calls as text instead (their own template format in `content`, when
// the server did not recognize it): those are recovered by `_text_tool_calls.ts`, and go back
// into the history as native `tool_calls` with `role: "tool"` results, so the chat template
// renders them in the model's own format again. Reasoning is never sent back: the assistant
// turn of a tool step carries the reply's text without its reasoning blocks.
import type { ChatMessage, ChatParams, ChatResult, ToolCall, ToolSpec } from "../chat.ts";
import { ReasoningSplitter, splitReasoning } from "../_reasoning.ts";
import { CALL_MARKERS, readTextToolCalls } from "./_text_tool_calls.ts";
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
  /** Typed output: the JSON Schema the final answer's JSON must match. */
  output?: Record<string, unknown>;
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
  const { tools } = options;
  const specs = nativeToolSpecs(tools);
  return {
    systemPrompt: systemPrompt(specs.length > 0, options.instructions, options.output),
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
            ? "the reply ended inside a reasoning block (<think>…), with no answer after it"
            : "the reply had neither text nor a tool call",
        };
      }
      // A model may still write the JSON envelope as text: understand it.
      if (text.startsWith("{") || text.startsWith("```")) {
        const parsed = parseEnvelope(reply.text);
        if (parsed.ok) return fromEnvelope(parsed.envelope);
      }
      // Or a call in its own template's text format.
      const written = readTextToolCalls(text, tools);
      if (written.kind === "calls") return { kind: "tools", calls: written.calls };
      if (written.kind === "invalid") {
        return {
          kind: "violation",
          reason: `a tool call written as text is unusable: ${written.reason}`,
        };
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
      let toolCalls: ToolCall[];
      let content: string | null = null;
      if (reply.toolCalls?.length) {
        toolCalls = reply.toolCalls.map((c, i) => ({ ...c, id: calls[i]!.callId }));
        content = splitReasoning(reply.text).text || null;
      } else if (writtenAsEnvelope(reply.text)) {
        // Calls the model wrote as an envelope in its text go back the envelope's way.
        return envelopeToolTurn(calls);
      } else {
        // Calls recovered from the model's own text format: as native calls, without the text.
        toolCalls = calls.map(({ call, callId }) => ({
          id: callId,
          type: "function",
          function: { name: call.name, arguments: argumentsText(call) },
        }));
      }
      return [
        { role: "assistant", content, tool_calls: toolCalls },
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
      return new NativeLiveView(tools.length > 0);
    },
  };
}

function systemPrompt(
  hasTools: boolean,
  instructions?: string,
  output?: Record<string, unknown>,
): string {
  const parts = [
    hasTools
      ? "You can call the provided tools. Call a tool when you need its result; when you have " +
        "everything you need, answer the user directly in plain text."
      : "Answer the user directly in plain text.",
  ];
  if (output) {
    parts.push(
      "Your answer is one JSON object and nothing else (no markdown, no other text), " +
        `matching this JSON Schema: ${JSON.stringify(output)}`,
    );
  }
  if (instructions?.trim()) parts.push(instructions.trim());
  return parts.join("\n\n");
}

/** Whether a reply without native calls was a JSON envelope written as text. */
function writtenAsEnvelope(reply: string): boolean {
  const { text } = splitReasoning(reply);
  return (text.startsWith("{") || text.startsWith("```")) && parseEnvelope(reply).ok;
}

/** A recovered call's arguments as the JSON string `tool_calls` carry. */
function argumentsText(call: RequestedCall): string {
  // Unparsable arguments are kept as the model wrote them.
  if (call.argsError !== undefined && typeof call.args === "string") return call.args;
  return JSON.stringify(call.args ?? {});
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
 * envelope as text, the envelope's decoded content. Which one is decided by the start of the
 * answer, after the reasoning splitter. With tools, an answer that starts like a call written
 * as text (a call marker, or `[`: Mistral's markers and JSON lists) is never shown live: the
 * buffered decision may turn it into calls. An answer that only later turns out to contain a
 * call has been shown already, and ends the run with a LiveStreamError.
 */
class NativeLiveView implements LiveView {
  #splitter = new ReasoningSplitter();
  #envelope: LiveFinalExtractor | undefined;
  #tools: boolean;
  #mode: "undecided" | "text" | "held" = "undecided";
  // The answer's start, held while it may still be a call marker ("<tool_" …).
  #lead = "";

  constructor(tools: boolean) {
    this.#tools = tools;
  }

  push(delta: string): string {
    if (this.#envelope) return this.#envelope.push(delta);
    if (this.#mode === "held") return "";
    const text = this.#splitter.push(delta);
    if (this.#mode === "text" || text === "") return text;
    const lead = this.#lead + text;
    if (lead.startsWith("{") || lead.startsWith("`")) {
      this.#envelope = new LiveFinalExtractor();
      return this.#envelope.push(lead);
    }
    if (this.#tools) {
      if (lead.startsWith("[") || CALL_MARKERS.some((m) => lead.startsWith(m))) {
        this.#mode = "held";
        return "";
      }
      if (CALL_MARKERS.some((m) => m.startsWith(lead))) {
        this.#lead = lead;
        return "";
      }
    }
    this.#mode = "text";
    this.#lead = "";
    return lead;
  }
}
