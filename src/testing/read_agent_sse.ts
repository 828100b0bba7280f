/**
 * {@link readAgentSSE}: the client side of `AgentStream.toSSEResponse()`, for testing edge
 * handlers without hand-written SSE parsing.
 *
 * @module
 */
import { createParser } from "eventsource-parser";
import type { StreamChunk } from "../agent_types.ts";

/** What an agent's SSE response carried. */
export interface AgentSSEResult {
  /** The `data:` chunks, in order. */
  chunks: StreamChunk[];
  /** Every chunk's text, joined: the answer (or what arrived of it before an error). */
  text: string;
  /** The final `event: error`, if the run failed: the error's name and message. */
  error?: { name: string; message: string };
  /** `true` when the last chunk had `isFinal` (the answer arrived whole). */
  complete: boolean;
}

/**
 * Reads a response made by `agentStream.toSSEResponse()` to its end: the chunks, the joined
 * text, and the error event of a failed run.
 *
 * @param response The response (status and content type are checked).
 * @param options `signal` stops reading (the body is cancelled; rejects with its reason).
 * @returns The chunks, text, error and whether the answer was complete.
 * @throws {TypeError} When the response is not a 2xx `text/event-stream`, or an event is not
 *   what `toSSEResponse()` writes.
 *
 * @example Test an edge handler end to end
 * ```ts
 * import { Agent } from "@ai-agent/orchestrator";
 * import { createScriptedModel, envelope, readAgentSSE } from "@ai-agent/orchestrator/testing";
 *
 * const agent = new Agent({ client: createScriptedModel([envelope.final("Hi there")]) });
 * const handler = (req: Request) =>
 *   agent.stream(new URL(req.url).searchParams.get("q") || "Hello").toSSEResponse();
 * const { text, error } = await readAgentSSE(await handler(new Request("http://x/?q=hi")));
 * console.log(text, error); // "Hi there" undefined
 * ```
 */
export async function readAgentSSE(
  response: Response,
  options: { signal?: AbortSignal } = {},
): Promise<AgentSSEResult> {
  const type = response.headers.get("content-type") ?? "";
  if (!response.ok || !type.startsWith("text/event-stream") || response.body === null) {
    await response.body?.cancel().catch(() => {});
    throw new TypeError(
      `readAgentSSE: expected a 2xx text/event-stream response, got ${response.status} ${
        type || "(no content type)"
      }${response.body === null ? " without a body" : ""}`,
    );
  }
  const chunks: StreamChunk[] = [];
  let error: AgentSSEResult["error"];
  let problem: TypeError | undefined;
  const parser = createParser({
    onEvent(message) {
      if (problem) return;
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        problem = new TypeError(`readAgentSSE: an event's data is not JSON: ${message.data}`);
        return;
      }
      if (message.event === "error") {
        const e = data as { name?: unknown; message?: unknown };
        error = { name: String(e.name), message: String(e.message) };
      } else if (isChunk(data)) {
        chunks.push(data);
      } else {
        problem = new TypeError(`readAgentSSE: not a StreamChunk: ${message.data}`);
      }
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const signal = options.signal;
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.throwIfAborted();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      parser.feed(value);
      if (problem) {
        await reader.cancel(problem).catch(() => {});
        throw problem;
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const text = chunks.map((c) => c.text).join("");
  return {
    chunks,
    text,
    ...(error ? { error } : {}),
    complete: chunks.at(-1)?.isFinal === true,
  };
}

function isChunk(data: unknown): data is StreamChunk {
  const c = data as Partial<StreamChunk> | null;
  return c !== null && typeof c === "object" && typeof c.text === "string" &&
    typeof c.step === "number" && typeof c.isFinal === "boolean";
}
