/**
 * The errors this library throws. Everything it throws is an {@link LMStudioError} except
 * aborts (the signal's own `reason` is rethrown untouched) and bad arguments (built-in
 * `TypeError` / `RangeError` naming the field).
 *
 * Messages carry the method and URL, never the API key or request headers.
 *
 * @module
 */

/**
 * Root of every error the library throws on purpose.
 *
 * @example Catch anything the library throws
 * ```ts
 * import { LMStudioClient, LMStudioError } from "@ai-agent/orchestrator";
 * try {
 *   await new LMStudioClient().generate({ messages: [{ role: "user", content: "hi" }] });
 * } catch (err) {
 *   if (err instanceof LMStudioError) console.error(err.name, err.message);
 * }
 * ```
 */
export class LMStudioError extends Error {
  /** Stable error name, safe to compare against. */
  override name: string = "LMStudioError";
  /**
   * Creates the error.
   *
   * @param message What went wrong, for people.
   * @param options `cause`: the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The server answered with a non-2xx status, or sent `{"error": …}` inside a stream.
 *
 * @example React to a missing model
 * ```ts
 * import { APIError, LMStudioClient } from "@ai-agent/orchestrator";
 * try {
 *   await new LMStudioClient().models();
 * } catch (err) {
 *   if (err instanceof APIError && err.status === 401) console.error("wrong API key");
 * }
 * ```
 */
export class APIError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "APIError" = "APIError" as const;
  /** HTTP status, or `undefined` for an error event inside a 200 stream. */
  readonly status: number | undefined;
  /** The server's own error message, as sent. */
  readonly serverMessage: string;
  /** The server's error `type` / `code`, when it sent one (e.g. `"model_not_found"`). */
  readonly code: string | undefined;
  /** The parsed error body, if it was JSON. */
  readonly body: unknown;
  /** Text already streamed before the error event (empty for HTTP errors). */
  readonly partialText: string;

  /**
   * Creates the error.
   *
   * @param message Full message, including method and URL.
   * @param details Status, the server's message, code, body and partial text.
   * @param options `cause`.
   */
  constructor(
    message: string,
    details: {
      status?: number;
      serverMessage: string;
      code?: string;
      body?: unknown;
      partialText?: string;
    },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = details.status;
    this.serverMessage = details.serverMessage;
    this.code = details.code;
    this.body = details.body;
    this.partialText = details.partialText ?? "";
  }
}

/**
 * `fetch` itself failed: refused, reset, DNS. The message asks whether LM Studio's server
 * is running at the configured URL; `cause` holds the runtime's error.
 *
 * @example
 * ```ts
 * import { ConnectionError, LMStudioClient } from "@ai-agent/orchestrator";
 * try {
 *   await new LMStudioClient({ baseURL: "http://127.0.0.1:9/v1", maxRetries: 0 }).models();
 * } catch (err) {
 *   if (err instanceof ConnectionError) console.error(err.message);
 * }
 * ```
 */
export class ConnectionError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "ConnectionError" = "ConnectionError" as const;
  /** The base URL the client was talking to. */
  readonly baseURL: string;
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param baseURL Base URL of the server.
   * @param options `cause`: the runtime's fetch error.
   */
  constructor(message: string, baseURL: string, options?: ErrorOptions) {
    super(message, options);
    this.baseURL = baseURL;
  }
}

/**
 * No response within `timeoutMs` (`phase: "response"`), or silence between stream events
 * longer than `idleTimeoutMs` (`phase: "idle"`).
 *
 * @example
 * ```ts
 * import { LMStudioClient, TimeoutError } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient({ timeoutMs: 5_000, idleTimeoutMs: 2_000 });
 * try {
 *   for await (const d of client.stream({ messages: [{ role: "user", content: "hi" }] })) {
 *     console.log(d.text);
 *   }
 * } catch (err) {
 *   if (err instanceof TimeoutError) console.error(err.phase, err.partialText.length);
 * }
 * ```
 */
export class TimeoutError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "TimeoutError" = "TimeoutError" as const;
  /** Which timeout fired. */
  readonly phase: "response" | "idle";
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  /** Text streamed before the silence (empty for `phase: "response"`). */
  readonly partialText: string;
  /**
   * Creates the error.
   *
   * @param message What timed out.
   * @param details Phase, limit and partial text.
   * @param options `cause`.
   */
  constructor(
    message: string,
    details: { phase: "response" | "idle"; timeoutMs: number; partialText?: string },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.phase = details.phase;
    this.timeoutMs = details.timeoutMs;
    this.partialText = details.partialText ?? "";
  }
}

/**
 * A stream ended early (no `[DONE]` and no finish reason), broke mid-body, or grew past
 * the configured maximum. Carries the text received so far: never a silently short answer.
 *
 * @example
 * ```ts
 * import { StreamError } from "@ai-agent/orchestrator";
 * function report(err: unknown) {
 *   if (err instanceof StreamError) console.error(`cut off after ${err.partialText.length} chars`);
 * }
 * ```
 */
export class StreamError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: string = "StreamError";
  /** Text received before the stream broke. */
  readonly partialText: string;
  /**
   * Creates the error.
   *
   * @param message What broke.
   * @param partialText Text received so far.
   * @param options `cause`.
   */
  constructor(message: string, partialText: string, options?: ErrorOptions) {
    super(message, options);
    this.partialText = partialText;
  }
}

/**
 * The response grew past `maxResponseBytes` / `maxResponseChars`; reading stopped there.
 *
 * @example
 * ```ts
 * import { LMStudioClient, ResponseTooLargeError } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient({ maxResponseChars: 100_000 });
 * const isTooLarge = (e: unknown) => e instanceof ResponseTooLargeError;
 * ```
 */
export class ResponseTooLargeError extends StreamError {
  /** Stable error name, safe to compare against. */
  override name: "ResponseTooLargeError" = "ResponseTooLargeError" as const;
  /** The limit that was hit. */
  readonly limit: number;
  /** Which unit the limit counts. */
  readonly unit: "bytes" | "chars";
  /**
   * Creates the error.
   *
   * @param message What was exceeded.
   * @param details Limit, unit and partial text.
   */
  constructor(
    message: string,
    details: { limit: number; unit: "bytes" | "chars"; partialText: string },
  ) {
    super(message, details.partialText);
    this.limit = details.limit;
    this.unit = details.unit;
  }
}

/**
 * The server sent something that is not an OpenAI-compatible response: a 200 that is not
 * JSON / SSE, a `data:` line that is not JSON, a body without `choices`.
 *
 * @example
 * ```ts
 * import { InvalidResponseError } from "@ai-agent/orchestrator";
 * const explain = (e: unknown) => e instanceof InvalidResponseError ? e.message : String(e);
 * ```
 */
export class InvalidResponseError extends StreamError {
  /** Stable error name, safe to compare against. */
  override name: "InvalidResponseError" = "InvalidResponseError" as const;
}

/**
 * The model broke the agent's JSON protocol twice in a row (the first violation gets one
 * corrective retry). `rawText` holds the last response exactly as the model wrote it.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "@ai-agent/orchestrator";
 * const raw = (e: unknown) => e instanceof ProtocolError ? e.rawText : undefined;
 * ```
 */
export class ProtocolError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "ProtocolError" = "ProtocolError" as const;
  /** The model's last reply exactly as written (`<think>` blocks included; reasoning sent in separate fields is not). */
  readonly rawText: string;
  /** What was wrong with it. */
  readonly reason: string;
  /** The step (1-based) in which it happened. */
  readonly step: number;
  /**
   * Creates the error.
   *
   * @param message Summary.
   * @param details Raw text, reason and step.
   * @param options `cause`.
   */
  constructor(
    message: string,
    details: { rawText: string; reason: string; step: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.rawText = details.rawText;
    this.reason = details.reason;
    this.step = details.step;
  }
}

/**
 * Live streaming (`live: true`) had already shown part of the final answer when the
 * response failed (cut off by the token limit, connection lost, a later violation).
 * It cannot be retried invisibly, so the run ends here. `deliveredText` is what the
 * user already received; `cause` is the underlying failure.
 *
 * @example
 * ```ts
 * import { LiveStreamError } from "@ai-agent/orchestrator";
 * const delivered = (e: unknown) => e instanceof LiveStreamError ? e.deliveredText.length : 0;
 * ```
 */
export class LiveStreamError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "LiveStreamError" = "LiveStreamError" as const;
  /** The final-answer text already emitted as chunks. */
  readonly deliveredText: string;
  /**
   * Creates the error.
   *
   * @param message Summary, including how much was delivered.
   * @param deliveredText Text already emitted.
   * @param options `cause`: the underlying failure.
   */
  constructor(message: string, deliveredText: string, options?: ErrorOptions) {
    super(message, options);
    this.deliveredText = deliveredText;
  }
}
