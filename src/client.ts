/**
 * {@link LMStudioClient}: LM Studio's OpenAI-compatible chat API over plain `fetch`.
 *
 * @module
 */
import type {
  CallOptions,
  ChatDelta,
  ChatModel,
  ChatRequest,
  ChatResult,
  RetryInfo,
} from "./chat.ts";
import { toUsage, WireCompletion, WireModels } from "./chat.ts";
import {
  ChatStream,
  type ChatStreamState,
  decodeChatStream,
  describeServerError,
} from "./chat_stream.ts";
import {
  APIError,
  ConnectionError,
  InvalidResponseError,
  LMStudioError,
  ResponseTooLargeError,
  StreamError,
  TimeoutError,
} from "./errors.ts";
import { readEnv } from "./_env.ts";
import { anySignal } from "./_abort.ts";
import { abortableDelay, isRetryableStatus, parseRetryAfter, retryDelay } from "./_retry.ts";
import { ToolCallAccumulator, toToolCallDeltas } from "./tool_call_accumulator.ts";

/** The default base URL: LM Studio's local server. */
export const DEFAULT_BASE_URL = "http://localhost:1234/v1";

/**
 * Options for {@link LMStudioClient}. Every field is optional.
 *
 * @example
 * ```ts
 * import { LMStudioClient } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient({
 *   baseURL: "http://127.0.0.1:1234/v1",
 *   model: "qwen3-4b",
 *   maxRetries: 3,
 *   timeoutMs: 120_000,
 * });
 * ```
 */
export interface LMStudioClientOptions {
  /**
   * Server base URL, including `/v1`.
   * @default `LMSTUDIO_BASE_URL` or `"http://localhost:1234/v1"`
   */
  baseURL?: string;
  /**
   * Model id. When unset (and `LMSTUDIO_MODEL` is unset), the first model from
   * `GET /models` is used, resolved once per client.
   * @default `LMSTUDIO_MODEL`
   */
  model?: string;
  /**
   * Bearer token. Without one, no `Authorization` header is sent at all.
   * @default `LMSTUDIO_API_KEY`
   */
  apiKey?: string;
  /**
   * The `fetch` to use (tests inject the fake LM Studio here).
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /** Extra headers sent with every request. */
  headers?: HeadersInit;
  /**
   * Retries after connection errors and 408/409/429/5xx, before any body is read.
   * @default 2
   */
  maxRetries?: number;
  /**
   * Milliseconds to wait for the response to start (for `generate()`: the whole response).
   * Generous because LM Studio may load the model on the first request. `0` disables.
   * @default 300_000
   */
  timeoutMs?: number;
  /**
   * Longest the server may stay silent while `stream()` waits for data (time the caller
   * spends between reads does not count). `0` disables.
   * @default 120_000
   */
  idleTimeoutMs?: number;
  /**
   * First backoff step; doubles per retry, with jitter.
   * @default 500
   */
  retryBaseDelayMs?: number;
  /**
   * Cap on any single retry delay, including a server's `Retry-After`.
   * @default 30_000
   */
  maxRetryDelayMs?: number;
  /**
   * Fail with `ResponseTooLargeError` past this many response bytes.
   * @default Infinity
   */
  maxResponseBytes?: number;
  /**
   * Fail with `ResponseTooLargeError` past this many characters of generated text.
   * @default Infinity
   */
  maxResponseChars?: number;
}

interface Resolved {
  baseURL: string;
  maxRetries: number;
  timeoutMs: number;
  idleTimeoutMs: number;
  retryBaseDelayMs: number;
  maxRetryDelayMs: number;
  maxResponseBytes: number;
  maxResponseChars: number;
}

/**
 * A client for LM Studio's (or any OpenAI-compatible server's) chat API, built on web
 * standards only: the same module runs on Deno, Bun, Node, edge workers and browsers.
 *
 * @example Stream a reply
 * ```ts
 * import { LMStudioClient } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient(); // LMSTUDIO_BASE_URL / LMSTUDIO_MODEL / LMSTUDIO_API_KEY
 * for await (const delta of client.stream({ messages: [{ role: "user", content: "Hi!" }] })) {
 *   console.log(delta.text);
 * }
 * ```
 *
 * @example One JSON response
 * ```ts
 * import { LMStudioClient } from "@ai-agent/orchestrator";
 * const { text, usage } = await new LMStudioClient().generate({
 *   messages: [{ role: "user", content: "Name a colour." }],
 *   temperature: 0,
 * });
 * ```
 */
export class LMStudioClient implements ChatModel {
  // Private fields: the key can never show up in inspect(), JSON.stringify or a log.
  #apiKey: string | undefined;
  #fetch: typeof fetch;
  #headers: Headers;
  #options: Resolved;
  #model: string | undefined;
  #modelPromise: Promise<string> | undefined;
  /** True once a server rejected `response_format`; the agent then stops sending it. */
  #responseFormatUnsupported = false;

  /**
   * Creates a client; reads `LMSTUDIO_*` for anything not given.
   *
   * @param options Connection, retry and timeout settings; see {@link LMStudioClientOptions}.
   * @throws {TypeError} for an invalid `baseURL` or `fetch`.
   * @throws {RangeError} for negative or non-integer limits.
   */
  constructor(options: LMStudioClientOptions = {}) {
    const baseURL = (options.baseURL ?? readEnv("LMSTUDIO_BASE_URL") ?? DEFAULT_BASE_URL)
      .replace(/\/+$/, "");
    let url: URL;
    try {
      url = new URL(baseURL);
    } catch (cause) {
      throw new TypeError(
        `Cannot create LMStudioClient: baseURL must be an absolute http(s) URL, got ${
          JSON.stringify(baseURL)
        }`,
        { cause },
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(
        `Cannot create LMStudioClient: baseURL must use http: or https:, got ${
          JSON.stringify(url.protocol)
        }`,
      );
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") {
      throw new TypeError("Cannot create LMStudioClient: fetch must be a function");
    }
    this.#fetch = fetchImpl;
    this.#apiKey = options.apiKey ?? readEnv("LMSTUDIO_API_KEY");
    this.#model = options.model ?? readEnv("LMSTUDIO_MODEL");
    this.#headers = new Headers(options.headers);
    this.#options = {
      baseURL,
      maxRetries: integer("maxRetries", options.maxRetries ?? 2),
      timeoutMs: nonNegative("timeoutMs", options.timeoutMs ?? 300_000),
      idleTimeoutMs: nonNegative("idleTimeoutMs", options.idleTimeoutMs ?? 120_000),
      retryBaseDelayMs: nonNegative("retryBaseDelayMs", options.retryBaseDelayMs ?? 500),
      maxRetryDelayMs: nonNegative("maxRetryDelayMs", options.maxRetryDelayMs ?? 30_000),
      maxResponseBytes: positive("maxResponseBytes", options.maxResponseBytes ?? Infinity),
      maxResponseChars: positive("maxResponseChars", options.maxResponseChars ?? Infinity),
    };
  }

  /** The base URL requests go to (no trailing slash). */
  get baseURL(): string {
    return this.#options.baseURL;
  }

  /** The configured model id, or `undefined` until resolved from `GET /models`. */
  get model(): string | undefined {
    return this.#model;
  }

  /** Whether the server was seen rejecting `response_format` (the agent then goes prompt-only). */
  get responseFormatUnsupported(): boolean {
    return this.#responseFormatUnsupported;
  }

  /** Remembers that this server rejects `response_format` (called by the agent). */
  markResponseFormatUnsupported(): void {
    this.#responseFormatUnsupported = true;
  }

  /**
   * The model ids the server lists at `GET /models`.
   *
   * @param options `signal` aborts the request.
   * @returns Model ids, in the server's order.
   *
   * @example
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * console.log(await new LMStudioClient().models());
   * ```
   */
  async models(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const { response, clear, timeout } = await this.#send(
      "GET",
      "/models",
      undefined,
      options.signal,
    );
    try {
      const body = await readJson(response, this.#label("GET", "/models"), [
        options.signal,
        timeout,
      ], this.#options.maxResponseBytes);
      const parsed = WireModels.safeParse(body);
      if (!parsed.success) {
        throw new InvalidResponseError(
          `${this.#label("GET", "/models")}: response has no "data" array of models`,
          "",
          { cause: parsed.error },
        );
      }
      return parsed.data.data.map((m) => m.id);
    } finally {
      clear();
    }
  }

  /**
   * The model id requests use: the configured one, else the first listed by the server
   * (looked up once per client).
   *
   * @param signal Aborts the lookup.
   * @throws {LMStudioError} when the server lists no model.
   */
  resolveModel(signal?: AbortSignal): Promise<string> {
    if (this.#model) return Promise.resolve(this.#model);
    this.#modelPromise ??= this.models({ signal }).then((ids) => {
      const first = ids[0];
      if (!first) {
        throw new LMStudioError(
          `No model is loaded at ${this.baseURL}: load one in LM Studio (Developer tab, or ` +
            "`lms load <model>`), or set LMSTUDIO_MODEL / the model option",
        );
      }
      this.#model = first;
      return first;
    }).finally(() => {
      // Failures are not cached: the next call asks again (the server may be up by then).
      if (!this.#model) this.#modelPromise = undefined;
    });
    return this.#modelPromise;
  }

  /**
   * One non-streamed chat completion.
   *
   * @param request Messages, sampling parameters and an optional `signal`.
   * @param options `onRetry` observes retries.
   * @returns Text, finish reason, usage and reasoning.
   *
   * @example
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * const r = await new LMStudioClient().generate({
   *   messages: [{ role: "user", content: "2+2?" }],
   *   max_tokens: 20,
   * });
   * console.log(r.text, r.finishReason);
   * ```
   */
  async generate(request: ChatRequest, options: CallOptions = {}): Promise<ChatResult> {
    const body = await this.#body(request, false);
    const label = this.#label("POST", "/chat/completions");
    const { response, clear, timeout } = await this.#send(
      "POST",
      "/chat/completions",
      body,
      request.signal,
      options.onRetry,
    );
    try {
      const json = await readJson(
        response,
        label,
        [request.signal, timeout],
        this.#options.maxResponseBytes,
      );
      if (json && typeof json === "object" && "error" in json) {
        const { message, code } = describeServerError((json as { error: unknown }).error);
        throw new APIError(`${label}: server returned an error: ${message}`, {
          status: response.status,
          serverMessage: message,
          code,
          body: json,
        });
      }
      const parsed = WireCompletion.safeParse(json);
      if (!parsed.success) {
        throw new InvalidResponseError(
          `${label}: response is not a chat completion: ${parsed.error.issues[0]?.message}`,
          "",
          { cause: parsed.error },
        );
      }
      const choice = parsed.data.choices[0]!;
      const result: ChatResult = {
        text: choice.message.content ?? "",
        reasoning: choice.message.reasoning_content ?? choice.message.reasoning ?? "",
        finishReason: choice.finish_reason ?? null,
      };
      const usage = toUsage(parsed.data.usage);
      if (usage) result.usage = usage;
      if (parsed.data.model) result.model = parsed.data.model;
      const calls = toToolCallDeltas(choice.message.tool_calls);
      if (calls) {
        const acc = new ToolCallAccumulator();
        acc.add(calls);
        result.toolCalls = acc.result();
      }
      const max = this.#options.maxResponseChars;
      if (result.text.length + result.reasoning.length > max) {
        throw new ResponseTooLargeError(
          `${label}: response exceeded maxResponseChars (${max})`,
          { limit: max, unit: "chars", partialText: result.text.slice(0, max) },
        );
      }
      return result;
    } finally {
      clear();
    }
  }

  /**
   * A streamed chat completion (SSE), delivered delta by delta as events arrive.
   * Sends `stream: true` and `stream_options: { include_usage: true }`.
   *
   * The request starts when iteration starts. Retries happen only before any body byte is
   * read; once text has been delivered a failure is thrown, never retried.
   *
   * @param request Messages, sampling parameters and an optional `signal`.
   * @param options `onRetry` observes retries.
   * @returns A {@link ChatStream}: iterate it, then `await stream.finalResult()`.
   *
   * @example
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * const stream = new LMStudioClient().stream({ messages: [{ role: "user", content: "Hi" }] });
   * for await (const d of stream) {
   *   if (d.reasoning) console.log("[thinking]", d.reasoning);
   *   else console.log(d.text);
   * }
   * console.log((await stream.finalResult()).usage);
   * ```
   */
  stream(request: ChatRequest, options: CallOptions = {}): ChatStream {
    // #streamDeltas is a generator: nothing is sent until iteration starts.
    return new ChatStream((state: ChatStreamState, cancelled: AbortSignal) =>
      this.#streamDeltas(request, options, state, cancelled)
    );
  }

  async *#streamDeltas(
    request: ChatRequest,
    options: CallOptions,
    state: ChatStreamState,
    cancelled: AbortSignal,
  ): AsyncGenerator<ChatDelta, void, undefined> {
    const body = await this.#body(request, true);
    const label = this.#label("POST", "/chat/completions");
    // Our own controller, so that breaking out of the loop also aborts the fetch.
    const own = new AbortController();
    const signal = anySignal(request.signal, own.signal, cancelled);
    const { response, clear } = await this.#send(
      "POST",
      "/chat/completions",
      body,
      signal,
      options.onRetry,
    );
    clear();
    let completed = false;
    try {
      const type = response.headers.get("content-type") ?? "";
      if (type && !/text\/event-stream/i.test(type)) {
        const text = await readText(response, 4096, label, "truncate").catch(() => "");
        throw new InvalidResponseError(
          `${label}: expected an SSE stream (text/event-stream) but got ${JSON.stringify(type)}: ${
            text.slice(0, 200)
          }`,
          "",
        );
      }
      if (!response.body) throw new InvalidResponseError(`${label}: response has no body`, "");
      yield* decodeChatStream(response.body, state, {
        signal,
        label,
        idleTimeoutMs: this.#options.idleTimeoutMs,
        maxResponseBytes: this.#options.maxResponseBytes,
        maxResponseChars: this.#options.maxResponseChars,
      });
      completed = true;
    } finally {
      // Also after success: that releases the fallback anySignal()'s listeners on the caller's
      // signal. Not with the default reason then: its DOMException's captured stack would keep
      // this stream (and all its text) reachable for as long as the aborted signal lives.
      own.abort(completed ? "completed" : undefined);
    }
  }

  async #body(request: ChatRequest, stream: boolean): Promise<string> {
    const { messages, signal, extra, model, ...params } = request;
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new TypeError("messages must be a non-empty array of chat messages");
    }
    const body: Record<string, unknown> = {
      model: model ?? await this.resolveModel(signal),
      messages,
      ...params,
    };
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return JSON.stringify(extra ? { ...body, ...extra } : body);
  }

  #label(method: string, path: string): string {
    return `${method} ${this.#options.baseURL}${path}`;
  }

  #requestHeaders(hasBody: boolean): Headers {
    const headers = new Headers(this.#headers);
    if (hasBody) headers.set("content-type", "application/json");
    headers.set("accept", hasBody ? "application/json, text/event-stream" : "application/json");
    if (this.#apiKey) headers.set("authorization", `Bearer ${this.#apiKey}`);
    return headers;
  }

  /**
   * Sends a request with retries and the response timeout. Resolves with a 2xx response;
   * `clear()` stops the response timer (call it once the body has been read or handed on);
   * `timeout` aborts, with the {@link TimeoutError} as reason, if the timer fires first.
   */
  async #send(
    method: string,
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
    onRetry?: (info: RetryInfo) => void,
  ): Promise<{ response: Response; clear: () => void; timeout: AbortSignal }> {
    const o = this.#options;
    const label = this.#label(method, path);
    for (let attempt = 0;; attempt++) {
      signal?.throwIfAborted();
      const timeout = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (o.timeoutMs > 0 && Number.isFinite(o.timeoutMs)) {
        timer = setTimeout(() => {
          timeout.abort(
            new TimeoutError(
              `${label}: no response within ${o.timeoutMs} ms (timeoutMs). LM Studio may still ` +
                "be loading the model; raise timeoutMs if the first request needs longer",
              { phase: "response", timeoutMs: o.timeoutMs },
            ),
          );
        }, o.timeoutMs);
      }
      const clear = () => clearTimeout(timer);
      const combined = signal ? anySignal(signal, timeout.signal) : timeout.signal;
      let failure: LMStudioError;
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      try {
        // Called unbound: `this.#fetch(...)` would pass the client as `this`, and browsers'
        // fetch throws "Illegal invocation" unless `this` is the global object or undefined.
        const fetchImpl = this.#fetch;
        const response = await fetchImpl(`${o.baseURL}${path}`, {
          method,
          headers: this.#requestHeaders(body !== undefined),
          body,
          signal: combined,
        });
        if (response.ok) return { response, clear, timeout: timeout.signal };
        status = response.status;
        retryAfterMs = parseRetryAfter(response.headers);
        failure = await httpError(response, label, this.#apiKey);
        if (!isRetryableStatus(response.status)) {
          clear();
          throw failure;
        }
      } catch (cause) {
        clear();
        if (signal?.aborted) throw signal.reason;
        if (timeout.signal.aborted) throw timeout.signal.reason;
        if (cause instanceof LMStudioError) throw cause;
        failure = new ConnectionError(
          `${label} failed: ${networkFailure(cause, o.baseURL)}`,
          o.baseURL,
          { cause },
        );
      }
      clear();
      if (attempt >= o.maxRetries) throw failure;
      const delayMs = retryDelay(attempt, {
        baseDelayMs: o.retryBaseDelayMs,
        maxDelayMs: o.maxRetryDelayMs,
        retryAfterMs,
      });
      onRetry?.({ attempt: attempt + 1, delayMs, status, error: failure });
      await abortableDelay(delayMs, signal);
    }
  }
}

/**
 * Reads a body as text, at most `maxBytes` of it: past that, `"throw"` fails with
 * ResponseTooLargeError and `"truncate"` returns what was read. The rest is never read, so a
 * huge or endless body cannot exhaust memory. Decoded once at the end (Deno's streaming
 * decoder drops a U+FEFF whose bytes arrive split across reads).
 */
async function readText(
  response: Response,
  maxBytes: number,
  label: string,
  over: "throw" | "truncate",
): Promise<string> {
  if (!response.body || !Number.isFinite(maxBytes)) return await response.text();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > maxBytes) {
        if (over === "throw") {
          throw new ResponseTooLargeError(
            `${label}: response exceeded maxResponseBytes (${maxBytes}); reading stopped`,
            { limit: maxBytes, unit: "bytes", partialText: "" },
          );
        }
        chunks.push(value.subarray(0, maxBytes - size));
        size = maxBytes;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {}); // releases the connection; a no-op once done
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

async function readJson(
  response: Response,
  label: string,
  signals: ReadonlyArray<AbortSignal | undefined>,
  maxBytes: number,
): Promise<unknown> {
  let text: string;
  try {
    text = await readText(response, maxBytes, label, "throw");
  } catch (cause) {
    if (cause instanceof ResponseTooLargeError) throw cause;
    // An abort or the response timeout surfaces as itself; anything else broke the body.
    for (const signal of signals) if (signal?.aborted) throw signal.reason;
    throw new StreamError(
      `${label}: connection lost while reading the response: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      "",
      { cause },
    );
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new InvalidResponseError(
      `${label}: response is not JSON: ${text.slice(0, 200)}`,
      "",
      { cause },
    );
  }
}

async function httpError(
  response: Response,
  label: string,
  apiKey: string | undefined,
): Promise<APIError> {
  let text = "";
  try {
    // Error bodies are short; an endless one must not hold the request up.
    text = await readText(response, 65_536, label, "truncate");
  } catch { /* body unreadable: the status says enough */ }
  // Some servers echo the credentials they rejected ("Invalid API key: Bearer sk-…"): the key
  // must not travel on in the error's message, serverMessage or body.
  if (apiKey) text = text.replaceAll(apiKey, "[redacted]");
  let body: unknown = text;
  let message = text.trim() || response.statusText || "no message";
  let code: string | undefined;
  try {
    body = JSON.parse(text);
    const err = (body as { error?: unknown } | null)?.error ??
      (body as { message?: unknown } | null)?.message ?? body;
    ({ message, code } = describeServerError(err));
  } catch { /* not JSON: keep the text */ }
  let hint = "";
  if (
    /no models? loaded|model_not_found|invalid model identifier|model.*not (found|loaded)/i.test(
      `${message} ${code ?? ""}`,
    )
  ) {
    hint =
      " — load a model in LM Studio (Developer tab, or `lms load <model>`) or set LMSTUDIO_MODEL";
  } else if (response.status === 401 || response.status === 403) {
    hint = " — check the API key (LMSTUDIO_API_KEY / apiKey)";
  }
  return new APIError(
    `${label} failed with status ${response.status}: ${message}${hint}`,
    { status: response.status, serverMessage: message, code, body },
  );
}

/**
 * What a rejected `fetch` says, with the hint that fits. Node and Deno reject with a bare
 * "fetch failed" and keep the detail in `cause` ("connect ECONNREFUSED …", "other side
 * closed", "connection closed before message completed"); Bun puts it in the message.
 */
function networkFailure(err: unknown, baseURL: string): string {
  let text = err instanceof Error ? err.message : String(err);
  const inner = err instanceof Error ? err.cause : undefined;
  if (inner instanceof Error && inner.message && !text.includes(inner.message)) {
    text += ` (${inner.message})`;
  }
  text = text.replace(/\.+$/, "");
  // A connection that was open and then closed before the reply began: a server restart, or
  // a pooled keep-alive connection the server had already closed. Retried like any failure.
  if (
    /ECONNRESET|closed unexpectedly|other side closed|connection closed|socket hang up|reset by peer/i
      .test(text)
  ) {
    return `${text}. The server closed the connection before its reply began`;
  }
  return `${text}. Is LM Studio's server running at ${baseURL}? Start it in LM Studio's ` +
    "Developer tab or with `lms server start`.";
}

function integer(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create LMStudioClient: ${name} must be a non-negative integer, got ${value}`,
    );
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Cannot create LMStudioClient: ${name} must be a number ≥ 0, got ${value}`,
    );
  }
  return value;
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw new RangeError(`Cannot create LMStudioClient: ${name} must be > 0, got ${value}`);
  }
  return value;
}
