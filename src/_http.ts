// Sending requests for the client: headers and the key, retries with backoff, the response
// timeout, and reading bodies within a byte limit. Turns every failure into the library's
// typed errors (server error bodies through _wire.ts's one classifier). Knows nothing of chat.
import type { RetryInfo } from "./chat.ts";
import {
  type APIError,
  ConnectionError,
  InvalidResponseError,
  LMStudioError,
  ResponseTimeoutError,
  ResponseTooLargeError,
  StreamError,
} from "./errors.ts";
import { anySignal } from "./_abort.ts";
import { abortableDelay, isRetryableStatus, parseRetryAfter, retryDelay } from "./_retry.ts";
import { errorMessage } from "./_text.ts";
import { excerpt, serverError } from "./_wire.ts";

/** Settings of the transport, validated by the client's constructor. */
export interface HttpSettings {
  /** Base URL without a trailing slash, e.g. `http://localhost:1234/v1`. */
  baseURL: string;
  /** Said once at the end of a {@link ConnectionError} (why this base URL was used). */
  connectionHint?: string | undefined;
  /** Bearer token; never appears in a message. */
  apiKey: string | undefined;
  /** The `fetch` to call (unbound). */
  fetch: typeof fetch;
  /** Headers sent with every request. */
  headers: Headers;
  /** Retries after connection errors and retryable statuses. */
  maxRetries: number;
  /** Milliseconds to wait for the response to start; `0` disables. */
  timeoutMs: number;
  /** First backoff step in milliseconds. */
  retryBaseDelayMs: number;
  /** Cap on one retry delay in milliseconds. */
  maxRetryDelayMs: number;
  /** Largest body read, in bytes. */
  maxResponseBytes: number;
}

/** A 2xx response, with the timer that still guards it. */
export interface Sent {
  /** The response (status 2xx). */
  response: Response;
  /** Stops the response timer: call once the body has been read or handed on. */
  clear: () => void;
  /** Aborts, with the {@link ResponseTimeoutError} as reason, if the timer fires first. */
  timeout: AbortSignal;
}

/** How a numeric option must look. */
export type LimitRule = "integer" | "positive-integer" | "non-negative" | "positive";

const WANT: Record<LimitRule, string> = {
  "integer": "a non-negative integer",
  "positive-integer": "a positive integer",
  "non-negative": "a number ≥ 0",
  "positive": "> 0",
};

/**
 * Checks a numeric option: `"integer"` (≥ 0, whole), `"positive-integer"` (> 0, whole),
 * `"non-negative"` (≥ 0, may be Infinity) or `"positive"` (> 0, may be Infinity).
 *
 * @param where Starts the message, e.g. `"Cannot create LMStudioClient"`.
 * @throws {RangeError} naming the option and the value.
 */
export function checkLimit(
  name: string,
  value: number,
  rule: LimitRule,
  where = "Cannot create LMStudioClient",
): number {
  const whole = rule === "integer" || rule === "positive-integer";
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    (!whole || Number.isInteger(value)) &&
    (rule === "positive" || rule === "positive-integer" ? value > 0 : value >= 0);
  if (!ok) throw new RangeError(`${where}: ${name} must be ${WANT[rule]}, got ${value}`);
  return value;
}

/** `url` as it may appear in messages and errors: without `user:password@` (scheme or not). */
export function publicURL(url: string): string {
  return url.replace(/^((?:[a-z][a-z0-9+.-]*:)?\/\/)?[^/@?#]*@/i, "$1");
}

/** The transport one client uses. */
export class Http {
  // Private: the key can never show up in inspect(), JSON.stringify or a log.
  #settings: HttpSettings;

  /** Creates the transport. */
  constructor(settings: HttpSettings) {
    this.#settings = settings;
  }

  /** The base URL (no trailing slash). */
  get baseURL(): string {
    return this.#settings.baseURL;
  }

  /** `"METHOD url"` for messages, without credentials. */
  label(method: string, url: string): string {
    return `${method} ${publicURL(url)}`;
  }

  /** The credentials this transport sends, longest first, as they might be echoed. */
  #secrets(): string[] {
    const out: string[] = [];
    const key = this.#settings.apiKey;
    if (key) out.push(key);
    const auth = this.#settings.headers.get("authorization");
    if (auth) {
      out.push(auth);
      const token = auth.replace(/^\S+\s+/, "");
      if (token.length >= 8) out.push(token);
    }
    return out.sort((a, b) => b.length - a.length);
  }

  #requestHeaders(hasBody: boolean): Headers {
    const headers = new Headers(this.#settings.headers);
    if (hasBody) headers.set("content-type", "application/json");
    headers.set("accept", hasBody ? "application/json, text/event-stream" : "application/json");
    const key = this.#settings.apiKey;
    if (key) headers.set("authorization", `Bearer ${key}`);
    return headers;
  }

  /**
   * Sends a request with retries and the response timeout. Resolves with a 2xx response;
   * rejects with {@link APIError} (or a subclass), {@link ConnectionError},
   * {@link ResponseTimeoutError}, or the caller's abort reason.
   */
  async send(
    method: string,
    url: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
    onRetry?: (info: RetryInfo) => void,
  ): Promise<Sent> {
    const o = this.#settings;
    const label = this.label(method, url);
    for (let attempt = 0;; attempt++) {
      signal?.throwIfAborted();
      const timeout = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (o.timeoutMs > 0 && Number.isFinite(o.timeoutMs)) {
        timer = setTimeout(() => {
          timeout.abort(
            new ResponseTimeoutError(
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
        // Called unbound: `this.fetch(...)` would pass an object as `this`, and browsers'
        // fetch throws "Illegal invocation" unless `this` is the global object or undefined.
        const fetchImpl = o.fetch;
        const response = await fetchImpl(url, {
          method,
          headers: this.#requestHeaders(body !== undefined),
          body,
          signal: combined,
        });
        if (response.ok) return { response, clear, timeout: timeout.signal };
        status = response.status;
        retryAfterMs = parseRetryAfter(response.headers);
        failure = await this.#httpError(response, method, url);
        if (!isRetryableStatus(response.status)) {
          clear();
          throw failure;
        }
      } catch (cause) {
        clear();
        if (signal?.aborted) throw signal.reason;
        if (timeout.signal.aborted) throw timeout.signal.reason;
        if (cause instanceof LMStudioError) throw cause;
        const hint = o.connectionHint ? ` ${o.connectionHint}.` : "";
        failure = new ConnectionError(
          `${label} failed: ${networkFailure(cause, o.baseURL)}${hint}`,
          {
            baseURL: publicURL(o.baseURL),
            method,
            url: publicURL(url),
            cause,
          },
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

  /**
   * Sends a request and reads its JSON body (within `maxResponseBytes`). A 2xx body is
   * returned as parsed, error key or not: callers decide what a 200 error means to them.
   */
  async json(
    method: string,
    url: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
    onRetry?: (info: RetryInfo) => void,
  ): Promise<{ json: unknown; status: number }> {
    const { response, clear, timeout } = await this.send(method, url, body, signal, onRetry);
    try {
      const label = this.label(method, url);
      // An event stream never is one JSON value, and may never end: not read at all.
      const type = response.headers.get("content-type") ?? "";
      if (/text\/event-stream/i.test(type)) {
        response.body?.cancel().catch(() => {});
        throw new InvalidResponseError(`${label}: expected JSON but got ${JSON.stringify(type)}`);
      }
      const json = await this.readJson(response, label, [signal, timeout]);
      return { json, status: response.status };
    } finally {
      clear();
    }
  }

  /** Reads a body as JSON within `maxResponseBytes`; aborts surface as their reason. */
  async readJson(
    response: Response,
    label: string,
    signals: ReadonlyArray<AbortSignal | undefined>,
  ): Promise<unknown> {
    let text: string;
    try {
      text = await readText(response, this.#settings.maxResponseBytes, label, "throw");
    } catch (cause) {
      if (cause instanceof ResponseTooLargeError) throw cause;
      // An abort or the response timeout surfaces as itself; anything else broke the body.
      for (const signal of signals) if (signal?.aborted) throw signal.reason;
      throw new StreamError(
        `${label}: connection lost while reading the response: ${errorMessage(cause)}`,
        { cause },
      );
    }
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new InvalidResponseError(
        `${label}: response is not JSON: ${JSON.stringify(excerpt(text))}`,
        { cause },
      );
    }
  }

  async #httpError(response: Response, method: string, url: string): Promise<APIError> {
    const label = this.label(method, url);
    let text = "";
    try {
      // Error bodies are short; an endless one must not hold the request up.
      text = await readText(response, 65_536, label, "truncate");
    } catch { /* body unreadable: the status says enough */ }
    // Some servers echo the credentials they rejected ("Invalid API key: Bearer sk-…"): the key
    // (from apiKey, or an Authorization header the caller set) must not travel on in the
    // error's message, serverMessage or body.
    for (const secret of this.#secrets()) text = text.replaceAll(secret, "[redacted]");
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    return serverError(body, {
      prefix: `${label} failed with status ${response.status}: `,
      fallback: response.statusText,
      method,
      url: publicURL(url),
      status: response.status,
    });
  }
}

/**
 * Reads a body as text, at most `maxBytes` of it: past that, `"throw"` fails with
 * ResponseTooLargeError and `"truncate"` returns what was read. The rest is never read, so a
 * huge or endless body cannot exhaust memory. Decoded once at the end (Deno's streaming
 * decoder drops a U+FEFF whose bytes arrive split across reads).
 */
export async function readText(
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

/**
 * What a rejected `fetch` says, with the hint that fits. Node and Deno reject with a bare
 * "fetch failed" and keep the detail in `cause` ("connect ECONNREFUSED …", "other side
 * closed", "connection closed before message completed"); Bun puts it in the message.
 */
function networkFailure(err: unknown, baseURL: string): string {
  let text = errorMessage(err);
  const inner = err instanceof Error ? err.cause : undefined;
  if (inner instanceof Error && inner.message && !text.includes(inner.message)) {
    text += ` (${inner.message})`;
  }
  // Bun's message ends in "?" ("…access the url?"): no period after it.
  text = text.replace(/[.\s]+$/, "");
  const stop = /[?!]$/.test(text) ? "" : ".";
  // A connection that was open and then closed before the reply began: a server restart, or
  // a pooled keep-alive connection the server had already closed. Retried like any failure.
  if (
    /ECONNRESET|closed unexpectedly|other side closed|connection closed|socket hang up|reset by peer/i
      .test(text)
  ) {
    return `${text}${stop} The server closed the connection before its reply began`;
  }
  return `${text}${stop} Is LM Studio's server running at ${publicURL(baseURL)}? Start it in ` +
    "LM Studio's Developer tab or with `lms server start`.";
}
