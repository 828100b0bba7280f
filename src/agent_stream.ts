/**
 * {@link AgentStream}: what `agent.stream()` returns.
 *
 * @module
 */
import type { AgentResult, StreamChunk } from "./agent_types.ts";
import { iteratorStream } from "./_iterator_stream.ts";

/** How a run settles {@link AgentStream.result}. Internal. */
export interface RunSettlement<O> {
  /** The run finished (answered or interrupted). */
  resolve(result: AgentResult<O>): void;
  /** The run failed, or its consumer stopped it. */
  reject(error: unknown): void;
}

/**
 * The chunks of an agent's final answer, as an async iterable, plus the run's
 * {@link AgentResult}, a web `ReadableStream`, and ready-made HTTP `Response`s.
 *
 * The run starts when you begin consuming: iterating, converting, or reading `result`.
 * `result` is passive: reading it never takes the chunks from an iteration, in any order
 * (`const r = s.result; for await (const c of s) …`, `Promise.all([s.result, consume(s)])`).
 * If nothing iterates the stream by the next macrotask after `result` is read, the run goes on
 * alone (chunks still reach `onEvent`); iterating after that yields the answer re-sliced from
 * `result.text` once the run has ended (same text, step and chunking, without pacing).
 *
 * Breaking out of `for await` (or cancelling the `ReadableStream`, or the HTTP client going
 * away) aborts the in-flight model request and running tools. It can be iterated once.
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
 *   fetch: (req: Request) => agent.stream("Hello").toSSEResponse(),
 * };
 * ```
 */
export class AgentStream<O = undefined> implements AsyncIterable<StreamChunk> {
  #start: (
    cancelled: AbortSignal,
    settle: RunSettlement<O>,
  ) => AsyncGenerator<StreamChunk, void, undefined>;
  #slice: (text: string) => Iterable<string>;
  // Aborted when a ReadableStream/Response view is cancelled: `return()` on the iterator would
  // queue behind a pending `next()` (a model call on a silent server), so the run is stopped
  // through this signal instead.
  #cancel = new AbortController();
  /** Someone took the iterator (at most one consumer). */
  #consumed = false;
  /** The run began: for a consumer, or alone because only `result` was read. */
  #started = false;
  #drainScheduled = false;
  #settled: Promise<AgentResult<O>>;
  #resolve!: (r: AgentResult<O>) => void;
  #reject!: (e: unknown) => void;

  /**
   * Wraps a run that starts on first consumption.
   *
   * @param start Starts the run (called once, on first consumption), yielding its chunks; it
   *   must settle the result through `settle` exactly once: `resolve` with the result,
   *   `reject` with its error, or, when the consumer stops early (`return()`), `reject` with
   *   an `AbortError`. `cancelled` aborts when a `ReadableStream` or `Response` view is
   *   cancelled, and must stop the run.
   * @param slice Cuts a finished answer into chunk texts, for an iteration that begins after
   *   the run went on alone (default: the whole text as one chunk).
   */
  constructor(
    start: (
      cancelled: AbortSignal,
      settle: RunSettlement<O>,
    ) => AsyncGenerator<StreamChunk, void, undefined>,
    slice: (text: string) => Iterable<string> = (text) => [text],
  ) {
    this.#start = start;
    this.#slice = slice;
    this.#settled = new Promise<AgentResult<O>>((resolve, reject) => {
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
    if (this.#consumed) throw new TypeError("AgentStream can only be iterated once");
    this.#consumed = true;
    if (this.#started) return this.#replay();
    this.#started = true;
    return this.#iterate();
  }

  /**
   * The live iteration: the run's own generator, handed out as is (no wrapper resumed per
   * chunk); it settles `result`.
   */
  #iterate(): AsyncGenerator<StreamChunk, void, undefined> {
    return this.#start(this.#cancel.signal, { resolve: this.#resolve, reject: this.#reject });
  }

  /**
   * An iteration that began after the run went on alone: the finished answer, re-sliced. No
   * chunk is buffered meanwhile (an answer can be large); the text is in the result anyway.
   */
  async *#replay(): AsyncGenerator<StreamChunk, void, undefined> {
    const result = await this.#settled;
    // An interrupted run has no answer yet: no chunk at all.
    if (result.stopReason === "interrupted") return;
    // A fallback's step follows the last counted one.
    const fallback = result.stopReason === "max_steps" || result.stopReason === "token_budget";
    const step = fallback ? result.steps + 1 : result.steps;
    const slices = this.#slice(result.text)[Symbol.iterator]();
    let next = slices.next();
    if (next.done) next = { done: false, value: "" }; // an empty answer is still one chunk
    while (!next.done) {
      const text = next.value;
      next = slices.next();
      yield { text, step, isFinal: next.done === true };
    }
  }

  /**
   * The run's result. Passive: it never takes chunks from an iteration. If nothing iterates
   * the stream by the next macrotask, the run goes on alone to the end (chunks discarded).
   */
  get result(): Promise<AgentResult<O>> {
    if (!this.#started && !this.#drainScheduled) {
      this.#drainScheduled = true;
      // A macrotask, not a microtask: `const r = s.result; await x; for await (…)` still
      // gets the chunks live.
      setTimeout(() => {
        if (this.#started) return;
        this.#started = true;
        const it = this.#iterate();
        (async () => {
          while (!(await it.next()).done) { /* the chunks reach onEvent only */ }
        })().catch(() => {/* the error settles `result` */});
      }, 0);
    }
    return this.#settled;
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
