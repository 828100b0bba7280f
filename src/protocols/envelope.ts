// The envelope protocol: every reply is one JSON object, a tool call or the final answer
// (`{"type":"tool_call","tool":…,"arguments":{…}}` / `{"type":"final","content":"…"}`),
// asked for in the system prompt and, where the server supports it, enforced with a
// `response_format` JSON Schema. Works with every model, trained for tool calling or not.
import type { ChatMessage, ChatParams, ChatResult } from "../chat.ts";
import { APIError } from "../errors.ts";
import { LiveFinalExtractor } from "../_live_final.ts";
import { splitReasoning } from "../_reasoning.ts";
import { readTextToolCalls } from "./_text_tool_calls.ts";
import { type Envelope, parseEnvelope } from "./_envelope_parser.ts";
import {
  buildSystemPrompt,
  correctionMessage,
  maxStepsMessage,
  toolResultMessage,
} from "./_envelope_prompt.ts";
import { buildResponseFormat } from "./_response_format.ts";
import type {
  Decision,
  ExecutedCall,
  LiveView,
  ReplyProtocol,
  ToolDescription,
} from "./_reply_protocol.ts";

/**
 * Model connections seen rejecting `response_format`: every agent on that connection then goes
 * prompt-only, instead of each one paying for a rejected request. Keyed by the connection
 * object itself (a weak set: it never keeps a client alive), so this is memory about the
 * user's own object, not state shared between unrelated clients.
 */
const formatRejected = new WeakSet<object>();

/** Options of {@link createEnvelopeProtocol}. */
export interface EnvelopeProtocolOptions {
  /** The model connection, for remembering that its server rejects `response_format`. */
  model: object;
  tools: readonly ToolDescription[];
  instructions?: string;
  /** Send `response_format` (until the server rejects it). */
  responseFormat: boolean;
  /** Typed output: the JSON Schema of the final's `content` (an object, not text). */
  output?: Record<string, unknown>;
}

/** The envelope protocol for one agent. */
export function createEnvelopeProtocol(options: EnvelopeProtocolOptions): ReplyProtocol {
  const { tools, output } = options;
  // Built once: the schema never changes for an agent.
  const formats = options.responseFormat
    ? {
      steps: buildResponseFormat(tools, { output }),
      fallback: buildResponseFormat(tools, { finalOnly: true, output }),
    }
    : undefined;
  const parseOptions = { objectContent: output !== undefined };
  return {
    systemPrompt: buildSystemPrompt(tools, options.instructions, output),
    requestExtras(fallback: boolean): Partial<ChatParams> {
      if (!formats || formatRejected.has(options.model)) return {};
      return { response_format: fallback ? formats.fallback : formats.steps };
    },
    rejected(error: unknown, extras: Partial<ChatParams>): string | undefined {
      if (!extras.response_format || !isResponseFormatRejection(error)) return undefined;
      formatRejected.add(options.model);
      return `The server rejected response_format (${error.serverMessage}); ` +
        "continuing in prompt-only mode for this client.";
    },
    decide(reply: ChatResult): Decision {
      const parsed = parseEnvelope(reply.text, parseOptions);
      if (parsed.ok) return fromEnvelope(parsed.envelope);
      // Not an envelope, but maybe unmistakably a call in the model's own template format.
      const written = readTextToolCalls(splitReasoning(reply.text).text, tools);
      if (written.kind === "calls") return { kind: "tools", calls: written.calls };
      if (written.kind === "invalid") {
        return {
          kind: "violation",
          reason:
            `The reply is a tool call written as text that cannot be used: ${written.reason}.`,
        };
      }
      return { kind: "violation", reason: parsed.reason };
    },
    correction(reason: string): ChatMessage {
      return { role: "user", content: correctionMessage(reason, tools) };
    },
    toolTurn(
      _reply: Pick<ChatResult, "text" | "toolCalls">,
      calls: readonly ExecutedCall[],
    ): ChatMessage[] {
      return envelopeToolTurn(calls);
    },
    finalTurn(content: string): ChatMessage {
      // Typed output goes back as the object the model wrote (content is its JSON text).
      if (output !== undefined) {
        let value: unknown = content;
        try {
          value = JSON.parse(content);
        } catch { /* the max-steps fallback text: kept as a string */ }
        return { role: "assistant", content: JSON.stringify({ type: "final", content: value }) };
      }
      return { role: "assistant", content: envelopeText({ type: "final", content }) };
    },
    maxStepsMessage(): ChatMessage {
      return { role: "user", content: maxStepsMessage() };
    },
    live(): LiveView {
      return new LiveFinalExtractor();
    },
  };
}

/** The decision an envelope stands for. */
export function fromEnvelope(envelope: Envelope): Decision {
  if (envelope.type === "final") return { kind: "final", content: envelope.content };
  return { kind: "tools", calls: [{ id: "", name: envelope.tool, args: envelope.arguments }] };
}

/**
 * History for an envelope tool step: the call as the envelope the model wrote (re-encoded),
 * and the result as a plain user turn, which works with chat templates that reject
 * `role: "tool"` messages. An envelope has one call; several calls (written in a model's own
 * text format) become one such pair each, in order.
 */
export function envelopeToolTurn(calls: readonly ExecutedCall[]): ChatMessage[] {
  return calls.flatMap(({ call, outcome }): ChatMessage[] => [
    {
      role: "assistant",
      content: envelopeText({
        type: "tool_call",
        tool: call.name,
        arguments: (call.args ?? {}) as Record<string, unknown>,
      }),
    },
    { role: "user", content: toolResultMessage(outcome) },
  ]);
}

function envelopeText(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

function isResponseFormatRejection(err: unknown): err is APIError {
  return err instanceof APIError && (err.status === 400 || err.status === 422) &&
    /response_format|json_schema|json schema|grammar|schema/i.test(err.serverMessage);
}
