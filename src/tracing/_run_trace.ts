/**
 * One run's spans, per the OpenTelemetry GenAI semantic conventions, built from the agent's
 * events: `invoke_agent` for the run, `chat` per model call, `execute_tool` per tool call.
 * Created only when the agent has a tracer, so a run without one pays nothing.
 *
 * @module
 */
import type { AgentEvent } from "../agent_types.ts";
import type { AgentTracer, TraceAttributeValue, TraceContext, TraceSpan } from "./tracer.ts";

/** `@opentelemetry/api`'s span key: `createContextKey` is `Symbol.for(description)`. */
const SPAN_KEY = Symbol.for("OpenTelemetry Context Key SPAN");
const KIND_INTERNAL = 0;
const KIND_CLIENT = 2;
const STATUS_ERROR = 2;

/** What the run's spans say about the model connection. */
export interface RunTraceInfo {
  model: string | undefined;
  baseURL: string | undefined;
  recordContent: boolean;
  prompt: string;
}

/** The run's span and its children; `onEvent` is an agent event listener. */
export interface RunTrace {
  onEvent(event: AgentEvent): void;
  /** Ends every open span; with an error, they are marked failed. */
  close(error?: unknown): void;
}

/** A minimal immutable context holding the parent span (what `trace.setSpan` builds). */
function contextWith(span: TraceSpan): TraceContext {
  const values = new Map<symbol, unknown>([[SPAN_KEY, span]]);
  const make = (map: Map<symbol, unknown>): TraceContext => ({
    getValue: (key) => map.get(key),
    setValue: (key, value) => make(new Map(map).set(key, value)),
    deleteValue: (key) => {
      const next = new Map(map);
      next.delete(key);
      return make(next);
    },
  });
  return make(values);
}

function fail(span: TraceSpan, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: STATUS_ERROR, message });
  span.setAttribute("error.type", error instanceof Error ? error.name : "Error");
  span.recordException(error instanceof Error ? error : message);
}

function server(baseURL: string | undefined): Record<string, TraceAttributeValue> {
  if (baseURL === undefined) return {};
  try {
    const url = new URL(baseURL);
    const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    return { "server.address": url.hostname, "server.port": port };
  } catch {
    return {};
  }
}

/** Starts the run's `invoke_agent` span. */
export function startRunTrace(tracer: AgentTracer, info: RunTraceInfo): RunTrace {
  const model: Record<string, TraceAttributeValue> = info.model === undefined
    ? {}
    : { "gen_ai.request.model": info.model };
  const run = tracer.startSpan("invoke_agent", {
    kind: KIND_INTERNAL,
    attributes: { "gen_ai.operation.name": "invoke_agent", ...model },
  });
  if (info.recordContent) {
    run.setAttribute(
      "gen_ai.input.messages",
      JSON.stringify([{ role: "user", parts: [{ type: "text", content: info.prompt }] }]),
    );
  }
  const parent = contextWith(run);
  const address = server(info.baseURL);
  let chat: TraceSpan | undefined;
  const tools = new Map<string, TraceSpan>();
  let closed = false;

  const startChat = () => {
    chat?.end();
    chat = tracer.startSpan(info.model === undefined ? "chat" : `chat ${info.model}`, {
      kind: KIND_CLIENT,
      attributes: { "gen_ai.operation.name": "chat", ...model, ...address },
    }, parent);
  };

  return {
    onEvent(event) {
      if (closed) return;
      switch (event.type) {
        case "step_start":
        case "protocol_retry":
          startChat(); // a model call follows (another one after a correction)
          break;
        case "response_format_unsupported":
          // This call failed on the extra; it is sent again without it.
          if (chat) fail(chat, new Error(event.message));
          startChat();
          break;
        case "model_retry":
          if (chat === undefined) startChat();
          chat!.addEvent("gen_ai.client.retry", {
            attempt: event.attempt,
            "error.type": event.error.name,
            ...(event.status === undefined ? {} : { "http.response.status_code": event.status }),
          });
          break;
        case "model_response": {
          if (chat === undefined) startChat();
          const span = chat!;
          span.setAttribute("gen_ai.response.finish_reasons", [event.finishReason ?? "unknown"]);
          if (event.usage) {
            span.setAttribute("gen_ai.usage.input_tokens", event.usage.promptTokens);
            span.setAttribute("gen_ai.usage.output_tokens", event.usage.completionTokens);
          }
          if (info.recordContent) {
            span.setAttribute(
              "gen_ai.output.messages",
              JSON.stringify([{
                role: "assistant",
                parts: [{ type: "text", content: event.text }],
              }]),
            );
          }
          span.end();
          chat = undefined;
          break;
        }
        case "tool_call": {
          const span = tracer.startSpan(`execute_tool ${event.tool}`, {
            kind: KIND_INTERNAL,
            attributes: {
              "gen_ai.operation.name": "execute_tool",
              "gen_ai.tool.name": event.tool,
              "gen_ai.tool.call.id": event.callId,
              "gen_ai.tool.type": "function",
            },
          }, parent);
          if (info.recordContent) {
            span.setAttribute("gen_ai.tool.call.arguments", JSON.stringify(event.arguments ?? {}));
          }
          tools.set(event.callId, span);
          break;
        }
        case "tool_result":
        case "tool_error": {
          const span = tools.get(event.callId);
          if (span === undefined) break;
          tools.delete(event.callId);
          if (event.type === "tool_error") {
            span.setStatus({ code: STATUS_ERROR, message: event.error });
            span.setAttribute("error.type", event.kind);
            span.recordException({ name: event.kind, message: event.error } as Error);
          } else if (info.recordContent) {
            span.setAttribute("gen_ai.tool.call.result", event.output);
          }
          span.end();
          break;
        }
        case "finish": {
          const { usage } = event.result;
          run.setAttribute("gen_ai.usage.input_tokens", usage.promptTokens);
          run.setAttribute("gen_ai.usage.output_tokens", usage.completionTokens);
          if (info.recordContent) {
            run.setAttribute(
              "gen_ai.output.messages",
              JSON.stringify([{
                role: "assistant",
                parts: [{ type: "text", content: event.result.text }],
              }]),
            );
          }
          break;
        }
      }
    },
    close(error) {
      if (closed) return;
      closed = true;
      for (const span of [...(chat ? [chat] : []), ...tools.values()]) {
        if (error !== undefined) fail(span, error);
        span.end();
      }
      if (error !== undefined) fail(run, error);
      run.end();
    },
  };
}
