/**
 * The errors this library throws. Everything it throws is an {@link LMStudioError} except
 * aborts (the signal's own `reason` is rethrown untouched) and bad arguments (built-in
 * `TypeError` / `RangeError` naming the field).
 *
 * Messages carry the method and URL, never the API key or request headers.
 *
 * @module
 */

/** What every error's details may carry: the underlying error. */
export interface ErrorDetails {
  /** The underlying error, kept as the standard `cause`. */
  cause?: unknown;
}

/** Turns `details.cause` into `ErrorOptions` only when one was given (no `cause: undefined`). */
function causeOf(details: ErrorDetails | undefined): ErrorOptions | undefined {
  return details && "cause" in details ? { cause: details.cause } : undefined;
}

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
   * @param details `cause`: the underlying error.
   */
  constructor(message: string, details?: ErrorDetails) {
    super(message, causeOf(details));
  }
}

/** Details of an {@link APIError}. */
export interface APIErrorDetails extends ErrorDetails {
  /** HTTP method of the request, e.g. `"POST"`. */
  method?: string;
  /** URL of the request, without credentials. */
  url?: string;
  /** HTTP status; absent for an error event inside a 200 stream. */
  status?: number;
  /** The server's own error message, as sent. */
  serverMessage?: string;
  /** The server's error `code` / `type`. */
  code?: string;
  /** The parsed error body (or its text when it was not JSON). */
  body?: unknown;
  /** Text already streamed before the error. */
  partialText?: string;
}

/**
 * The server answered with an error: a non-2xx status, `{"error": …}` in a 200 body, or an
 * error event inside a stream.
 *
 * @example React to a wrong API key
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
  override name: string = "APIError";
  /** HTTP method of the request (`undefined` when the error was built without one). */
  readonly method: string | undefined;
  /** URL of the request, never with credentials. */
  readonly url: string | undefined;
  /** HTTP status, or `undefined` for an error event inside a 200 stream. */
  readonly status: number | undefined;
  /** The server's own error message, as sent (`""` when there was none). */
  readonly serverMessage: string;
  /** The server's error `type` / `code`, when it sent one (e.g. `"model_not_found"`). */
  readonly code: string | undefined;
  /**
   * The whole error body (at most 64 KiB), parsed when it was JSON, while the message quotes
   * only a short excerpt.
   */
  readonly body: unknown;
  /** Text already streamed before the error event (empty for HTTP errors). */
  readonly partialText: string;

  /**
   * Creates the error.
   *
   * @param message Full message, including method and URL.
   * @param details Method, URL, status, the server's message, code, body, partial text, cause.
   */
  constructor(message: string, details: APIErrorDetails = {}) {
    super(message, details);
    this.method = details.method;
    this.url = details.url;
    this.status = details.status;
    this.serverMessage = details.serverMessage ?? "";
    this.code = details.code;
    this.body = details.body;
    this.partialText = details.partialText ?? "";
  }
}

/**
 * No model is loaded, or the one asked for is not: the server said so (LM Studio's
 * "No models loaded…", `model_not_found`, "Invalid model identifier…"), or the client found
 * `GET /models` empty when it looked for a default model.
 *
 * @example Tell the user to load a model
 * ```ts
 * import { LMStudioClient, ModelNotLoadedError } from "@ai-agent/orchestrator";
 * try {
 *   await new LMStudioClient().generate({ messages: [{ role: "user", content: "hi" }] });
 * } catch (err) {
 *   if (err instanceof ModelNotLoadedError) console.error("run `lms load <model>` first");
 * }
 * ```
 */
export class ModelNotLoadedError extends APIError {
  /** Stable error name, safe to compare against. */
  override name: string = "ModelNotLoadedError";
}

/** Details of a {@link ContextOverflowError}. */
export interface ContextOverflowErrorDetails extends APIErrorDetails {
  /** Tokens in the prompt, when the server said. */
  promptTokens?: number;
  /** The loaded context window in tokens, when the server said. */
  contextLength?: number;
}

/**
 * The prompt does not fit the model's loaded context window. Recognised in every shape found
 * in public reports: llama.cpp's `exceed_context_size_error`, LM Studio's "Trying to keep the
 * first N tokens…", "Cannot truncate prompt with n_keep (N) >= n_ctx (M)" and "Input does not
 * fit in context length…" (also as a 200 stream's error event), vLLM's and OpenAI's "maximum
 * context length is M tokens…" / `context_length_exceeded`, Ollama's "the input length exceeds
 * the context length". The numbers are set when the server sent them.
 *
 * @example Load the model with a larger window after an overflow
 * ```ts
 * import { ContextOverflowError, LMStudioClient } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient({ model: "qwen3-4b" });
 * try {
 *   await client.generate({ messages: [{ role: "user", content: "a very long prompt" }] });
 * } catch (err) {
 *   if (err instanceof ContextOverflowError) {
 *     console.error(err.promptTokens, ">", err.contextLength);
 *     await client.loadModel("qwen3-4b", { contextLength: 16_384 });
 *   }
 * }
 * ```
 */
export class ContextOverflowError extends APIError {
  /** Stable error name, safe to compare against. */
  override name: string = "ContextOverflowError";
  /** Tokens in the prompt, when the server said. */
  readonly promptTokens: number | undefined;
  /** The loaded context window in tokens, when the server said. */
  readonly contextLength: number | undefined;

  /**
   * Creates the error.
   *
   * @param message Full message, with a hint on how to make the prompt fit.
   * @param details As for {@link APIError}, plus the token numbers the server sent.
   */
  constructor(message: string, details: ContextOverflowErrorDetails = {}) {
    super(message, details);
    this.promptTokens = details.promptTokens;
    this.contextLength = details.contextLength;
  }
}

/**
 * The server has no such endpoint: model info or model loading asked of a server that is not
 * LM Studio 0.4+ (llama.cpp, vLLM, an older LM Studio). Raised for a 404 and for LM Studio's
 * HTTP 200 `{"error":"Unexpected endpoint or method. (…)"}`.
 *
 * @example Fall back when the server cannot load models
 * ```ts
 * import { LMStudioClient, UnsupportedEndpointError } from "@ai-agent/orchestrator";
 * try {
 *   await new LMStudioClient().loadModel("qwen3-4b", { contextLength: 8192 });
 * } catch (err) {
 *   if (err instanceof UnsupportedEndpointError) console.error("load the model by hand");
 * }
 * ```
 */
export class UnsupportedEndpointError extends APIError {
  /** Stable error name, safe to compare against. */
  override name: string = "UnsupportedEndpointError";
}

/** Details of a {@link ConnectionError}. */
export interface ConnectionErrorDetails extends ErrorDetails {
  /** The base URL the client was talking to. */
  baseURL: string;
  /** HTTP method of the request. */
  method?: string;
  /** URL of the request, without credentials. */
  url?: string;
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
  /** HTTP method of the request that failed. */
  readonly method: string | undefined;
  /** URL of the request that failed, without credentials. */
  readonly url: string | undefined;
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param details Base URL, method and URL of the request, and `cause`: the runtime's error.
   */
  constructor(message: string, details: ConnectionErrorDetails) {
    super(message, details);
    this.baseURL = details.baseURL;
    this.method = details.method;
    this.url = details.url;
  }
}

/** Details of a {@link ResponseTimeoutError}. */
export interface ResponseTimeoutErrorDetails extends ErrorDetails {
  /** Which timeout fired. */
  phase: "response" | "idle";
  /** The limit that was exceeded, in milliseconds. */
  timeoutMs: number;
  /** Text streamed before the silence. */
  partialText?: string;
}

/**
 * No response within `timeoutMs` (`phase: "response"`), or silence between stream events
 * longer than `idleTimeoutMs` (`phase: "idle"`). Not named `TimeoutError`: that is the name of
 * the `DOMException` that `AbortSignal.timeout()` aborts with, which stays distinct.
 *
 * @example
 * ```ts
 * import { LMStudioClient, ResponseTimeoutError } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient({ timeoutMs: 5_000, idleTimeoutMs: 2_000 });
 * try {
 *   for await (const d of client.stream({ messages: [{ role: "user", content: "hi" }] })) {
 *     console.log(d.text);
 *   }
 * } catch (err) {
 *   if (err instanceof ResponseTimeoutError) console.error(err.phase, err.partialText.length);
 * }
 * ```
 */
export class ResponseTimeoutError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "ResponseTimeoutError" = "ResponseTimeoutError" as const;
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
   * @param details Phase, limit, partial text and `cause`.
   */
  constructor(message: string, details: ResponseTimeoutErrorDetails) {
    super(message, details);
    this.phase = details.phase;
    this.timeoutMs = details.timeoutMs;
    this.partialText = details.partialText ?? "";
  }
}

/** Details of a {@link StreamError}. */
export interface StreamErrorDetails extends ErrorDetails {
  /** Text received before the stream broke. */
  partialText?: string;
}

/**
 * A stream ended early (no `[DONE]`), broke mid-body, or grew past the configured maximum.
 * Carries the text received so far: never a silently short answer.
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
   * @param details Text received so far, and `cause`.
   */
  constructor(message: string, details: StreamErrorDetails = {}) {
    super(message, details);
    this.partialText = details.partialText ?? "";
  }
}

/** Details of a {@link ResponseTooLargeError}. */
export interface ResponseTooLargeErrorDetails extends StreamErrorDetails {
  /** The limit that was hit. */
  limit: number;
  /** Which unit the limit counts. */
  unit: "bytes" | "chars";
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
   * @param details Limit, unit, partial text and `cause`.
   */
  constructor(message: string, details: ResponseTooLargeErrorDetails) {
    super(message, details);
    this.limit = details.limit;
    this.unit = details.unit;
  }
}

/** Details of an {@link InvalidResponseError}. */
export interface InvalidResponseErrorDetails extends ErrorDetails {
  /** Text received before the malformed part (empty for a non-streamed body). */
  partialText?: string;
}

/**
 * The server sent something that is not an OpenAI-compatible response: a 200 that is not
 * JSON / SSE, a `data:` line that is not JSON, a body without `choices`. Not a
 * {@link StreamError}: the stream did not break, the server spoke another format.
 *
 * @example
 * ```ts
 * import { InvalidResponseError } from "@ai-agent/orchestrator";
 * const explain = (e: unknown) => e instanceof InvalidResponseError ? e.message : String(e);
 * ```
 */
export class InvalidResponseError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "InvalidResponseError" = "InvalidResponseError" as const;
  /** Text received before the malformed part (empty for a non-streamed body). */
  readonly partialText: string;
  /**
   * Creates the error.
   *
   * @param message What was wrong.
   * @param details Partial text and `cause`.
   */
  constructor(message: string, details: InvalidResponseErrorDetails = {}) {
    super(message, details);
    this.partialText = details.partialText ?? "";
  }
}

/** Details of a {@link ProtocolError}. */
export interface ProtocolErrorDetails extends ErrorDetails {
  /** The model's last reply exactly as written. */
  rawText: string;
  /** What was wrong with it. */
  reason: string;
  /** The step (1-based) in which it happened. */
  step: number;
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
   * @param details Raw text, reason, step, and `cause`.
   */
  constructor(message: string, details: ProtocolErrorDetails) {
    super(message, details);
    this.rawText = details.rawText;
    this.reason = details.reason;
    this.step = details.step;
  }
}

/** Details of a {@link LiveStreamError}. */
export interface LiveStreamErrorDetails extends ErrorDetails {
  /** The final-answer text already emitted as chunks. */
  deliveredText: string;
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
   * @param details The text already emitted, and `cause`: the underlying failure.
   */
  constructor(message: string, details: LiveStreamErrorDetails) {
    super(message, details);
    this.deliveredText = details.deliveredText;
  }
}
