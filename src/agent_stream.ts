/**
 * {@link AgentStream}: what `agent.stream()` returns.
 *
 * @module
 */
import type { AgentResult, StreamChunk } from "./agent_types.ts";
import { iteratorStream } from "./_iterator_stream.ts";

/**
 * The chunks of an agent's final answer, as an async iterable, plus the run's
 * {@link AgentResult}, a web `ReadableStream`, and ready-made HTTP `Response`s.
 *
 * The run starts when you begin consuming (iterating, reading `result`, or converting).
 * Breaking out of `for await` (or cancelling the `ReadableStream`, or the HTTP client going
 * away) aborts the in-flight model request and running tools. It can be consumed once.
 *
 * @example Print the answer as it streams, then the stats
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * const agent = new Agent({ client: new LMStudioClient() });
 * const stream = agent.stream("Tell me a joke");
 * for await (const chunk of stream) console.log(chunk.text);
 * const { steps, usage } = await stream.result;
 * ```
 *
 * @example Stream into an HTTP response (edge function)
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * const agent = new Agent({ client: new LMStudioClient() });
 * export default {
 *   fetch: (req: Request) => agent.stream("Hello", { signal: req.signal }).toSSEResponse(),
 * };
 * ```
 */
export class AgentStream implements AsyncIterable<StreamChunk> {
  #start: (cancelled: AbortSignal) => AsyncGenerator<StreamChunk, AgentResult, undefined>;
  // Aborted when a ReadableStream/Response view is cancelled: `return()` on the iterator would
  // queue behind a pending `next()` (a model call on a silent server), so the run is stopped
  // through this signal instead.
  #cancel = new AbortController();
  #consumed = false;
  #settled: Promise<AgentResult>;
  #resolve!: (r: AgentResult) => void;
  #reject!: (e: unknown) => void;
  #result: Promise<AgentResult> | undefined;

  /**
   * Wraps a run that starts on first consumption.
   *
   * @param start Starts the run (called once, on first consumption); `cancelled` aborts when a
   *   `ReadableStream` or `Response` view is cancelled, and must stop the run.
   */
  constructor(
    start: (cancelled: AbortSignal) => AsyncGenerator<StreamChunk, AgentResult, undefined>,
  ) {
    this.#start = start;
    this.#settled = new Promise<AgentResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody may ever ask for `result`: never report its rejection as unhandled.
    this.#settled.catch(() => {});
  }

  /**
   * Iterates the chunks. Throws the run's error (a `ProtocolError`, an `LMStudioError` from
   * the client, a `LiveStreamError`, or the abort reason).
   */
  [Symbol.asyncIterator](): AsyncGenerator<StreamChunk, void, undefined> {
    if (this.#consumed) throw new TypeError("AgentStream can only be consumed once");
    this.#consumed = true;
    const inner = this.#start(this.#cancel.signal);
    const resolve = this.#resolve;
    const reject = this.#reject;
    return (async function* () {
      let finished = false;
      try {
        for (;;) {
          const next = await inner.next();
          if (next.done) {
            finished = true;
            resolve(next.value);
            return;
          }
          yield next.value;
        }
      } catch (err) {
        finished = true;
        reject(err);
        throw err;
      } finally {
        if (!finished) {
          // The consumer stopped early: stop the run (aborts the model request and tools).
          reject(new DOMException("The agent stream was cancelled", "AbortError"));
          await inner.return(undefined as never);
        }
      }
    })();
  }

  /**
   * The run's result. If nothing is iterating the stream, reading this runs it to the end
   * (chunks are discarded).
   */
  get result(): Promise<AgentResult> {
    if (!this.#result) {
      if (!this.#consumed) {
        const it = this[Symbol.asyncIterator]();
        this.#result = (async () => {
          while (!(await it.next()).done) { /* drain */ }
          return this.#settled;
        })();
      } else {
        this.#result = this.#settled;
      }
    }
    return this.#result;
  }

  /** The chunks as a web `ReadableStream`; cancelling it stops the run. */
  toReadableStream(): ReadableStream<StreamChunk> {
    const cancel = this.#cancel;
    // highWaterMark 0: the run starts with the first read, not when the view is made.
    return iteratorStream(
      this[Symbol.asyncIterator](),
      (reason) => cancel.abort(cancelReason(reason)),
      { highWaterMark: 0 },
    );
  }

  /**
   * A `text/plain` streaming `Response` of the answer text. If the run fails, the body
   * errors (the client sees a broken transfer, not a short success).
   *
   * @param init Extra status/headers.
   */
  toTextResponse(init: ResponseInit = {}): Response {
    const encoder = new TextEncoder();
    const body = this.toReadableStream().pipeThrough(
      new TransformStream<StreamChunk, Uint8Array>({
        transform(chunk, controller) {
          if (chunk.text) controller.enqueue(encoder.encode(chunk.text));
        },
      }),
    );
    return new Response(body, withHeaders(init, "text/plain; charset=utf-8"));
  }

  /**
   * A `text/event-stream` `Response`: one `data: {"text","step","isFinal"}` event per chunk.
   * If the run fails, a final `event: error` carries `{"name","message"}` and the stream
   * ends (no API key or headers are ever included).
   *
   * @param init Extra status/headers.
   */
  toSSEResponse(init: ResponseInit = {}): Response {
    const encoder = new TextEncoder();
    const it = this[Symbol.asyncIterator]();
    const cancel = this.#cancel;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await it.next();
          if (done) return controller.close();
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(value)}\n\n`));
        } catch (err) {
          if (cancel.signal.aborted) return; // the reader went away: nobody to tell
          const e = err instanceof Error ? err : new Error(String(err));
          controller.enqueue(
            encoder.encode(
              `event: error\ndata: ${JSON.stringify({ name: e.name, message: e.message })}\n\n`,
            ),
          );
          controller.close();
        }
      },
      async cancel(reason) {
        cancel.abort(cancelReason(reason));
        await it.return();
      },
    }, { highWaterMark: 0 });
    const response = withHeaders(init, "text/event-stream; charset=utf-8");
    const headers = new Headers(response.headers);
    if (!headers.has("cache-control")) headers.set("cache-control", "no-cache");
    return new Response(body, { ...response, headers });
  }
}

function cancelReason(reason: unknown): unknown {
  return reason ?? new DOMException("The agent stream was cancelled", "AbortError");
}

function withHeaders(init: ResponseInit, contentType: string): ResponseInit {
  const headers = new Headers(init.headers);
  if (!headers.has("content-type")) headers.set("content-type", contentType);
  return { ...init, headers };
}
