/**
 * {@link LMStudioClient}: LM Studio's OpenAI-compatible chat API over plain `fetch`, plus what
 * the server knows about its models (loaded context window) and, on LM Studio, loading them.
 * Sending, retries and body reading live in `_http.ts`; every wire-format check in `_wire.ts`.
 *
 * @module
 */
import type { CallOptions, ChatModel, ChatRequest, ChatResult } from "./chat.ts";
import { ChatStream, type ChatStreamState, decodeDeltas } from "./chat_stream.ts";
import { InvalidResponseError, ModelNotLoadedError, ResponseTooLargeError } from "./errors.ts";
import { checkLimit, Http, publicURL, readText } from "./_http.ts";
import {
  type LoadedModel,
  type LoadModelOptions,
  ModelCatalog,
  type ModelInfo,
  type ModelInfoOptions,
} from "./model_info.ts";
import { checkClientOptionKeys } from "./_options.ts";
import { readEnv, readEnvVar } from "./_env.ts";
import { anySignal } from "./_abort.ts";
import { completionResult, excerpt, isErrorBody, modelIds, serverError } from "./_wire.ts";

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
   * Server base URL, including `/v1`. No credentials (pass `apiKey`), no query string or
   * fragment: request paths are appended to it.
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
  headers?: ConstructorParameters<typeof Headers>[0];
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
  // The transport holds the key in a private field: it never shows up in inspect(),
  // JSON.stringify or a log.
  #http: Http;
  #catalog: ModelCatalog;
  #idleTimeoutMs: number;
  #maxResponseBytes: number;
  #maxResponseChars: number;
  #model: string | undefined;
  #modelPromise: Promise<string> | undefined;

  /**
   * Creates a client; reads `LMSTUDIO_*` for anything not given.
   *
   * @param options Connection, retry and timeout settings; see {@link LMStudioClientOptions}.
   * @throws {TypeError} for an invalid `baseURL` (or `LMSTUDIO_BASE_URL`: the message names
   *   the variable, quotes its value and suggests a fix): not an absolute http(s) URL, with
   *   credentials (`user:password@`; pass `apiKey` instead, the message does not repeat them),
   *   or with a query string or fragment. Also for a `fetch` that is not a function.
   * @throws {RangeError} for negative or non-integer limits.
   */
  constructor(options: LMStudioClientOptions = {}) {
    checkClientOptionKeys(options);
    const { baseURL, hint } = chooseBaseURL(options.baseURL);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") {
      throw new TypeError("Cannot create LMStudioClient: fetch must be a function");
    }
    this.#model = options.model ?? readEnv("LMSTUDIO_MODEL");
    this.#idleTimeoutMs = checkLimit(
      "idleTimeoutMs",
      options.idleTimeoutMs ?? 120_000,
      "non-negative",
    );
    this.#maxResponseBytes = checkLimit(
      "maxResponseBytes",
      options.maxResponseBytes ?? Infinity,
      "positive",
    );
    this.#maxResponseChars = checkLimit(
      "maxResponseChars",
      options.maxResponseChars ?? Infinity,
      "positive",
    );
    this.#http = new Http({
      baseURL,
      connectionHint: hint,
      apiKey: options.apiKey ?? readEnv("LMSTUDIO_API_KEY"),
      fetch: fetchImpl,
      headers: new Headers(options.headers),
      maxRetries: checkLimit("maxRetries", options.maxRetries ?? 2, "integer"),
      timeoutMs: checkLimit("timeoutMs", options.timeoutMs ?? 300_000, "non-negative"),
      retryBaseDelayMs: checkLimit(
        "retryBaseDelayMs",
        options.retryBaseDelayMs ?? 500,
        "non-negative",
      ),
      maxRetryDelayMs: checkLimit(
        "maxRetryDelayMs",
        options.maxRetryDelayMs ?? 30_000,
        "non-negative",
      ),
      maxResponseBytes: this.#maxResponseBytes,
    });
    this.#catalog = new ModelCatalog(this.#http);
  }

  /** The base URL requests go to (no trailing slash). */
  get baseURL(): string {
    return this.#http.baseURL;
  }

  /** The configured model id, or `undefined` until resolved from `GET /models`. */
  get model(): string | undefined {
    return this.#model;
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
    const url = `${this.baseURL}/models`;
    const { json, status } = await this.#http.json("GET", url, undefined, options.signal);
    // A 200 whose body is an error: LM Studio's "Unexpected endpoint" for a base URL without
    // /v1, say.
    if (isErrorBody(json)) {
      throw serverError(json, {
        prefix: `${this.#http.label("GET", url)}: server returned an error: `,
        method: "GET",
        url: publicURL(url),
        status,
      });
    }
    const ids = modelIds(json);
    if (!ids) {
      throw new InvalidResponseError(
        `${this.#http.label("GET", url)}: response has no "data" array of models`,
      );
    }
    return ids;
  }

  /**
   * The model id requests use: the configured one, else the first listed by the server
   * (looked up once per client).
   *
   * @param signal Aborts the lookup.
   * @throws {ModelNotLoadedError} when the server lists no model.
   */
  resolveModel(signal?: AbortSignal): Promise<string> {
    if (this.#model) return Promise.resolve(this.#model);
    this.#modelPromise ??= this.models({ signal }).then((ids) => {
      const first = ids[0];
      if (!first) {
        const url = publicURL(`${this.baseURL}/models`);
        throw new ModelNotLoadedError(
          `No model is loaded at ${publicURL(this.baseURL)}: load one in LM Studio (Developer ` +
            "tab, or `lms load <model>`), or set LMSTUDIO_MODEL / the model option",
          { method: "GET", url, status: 200, body: { data: [] } },
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
    const url = `${this.baseURL}/chat/completions`;
    const label = this.#http.label("POST", url);
    const { json, status } = await this.#http.json(
      "POST",
      url,
      body,
      request.signal,
      options.onRetry,
    );
    // A 200 whose body is an error (LM Studio answers some failures that way).
    if (isErrorBody(json)) {
      throw serverError(json, {
        prefix: `${label}: server returned an error: `,
        method: "POST",
        url: publicURL(url),
        status,
      });
    }
    const result = completionResult(json);
    if (typeof result === "string") {
      throw new InvalidResponseError(`${label}: response is not a chat completion: ${result}`);
    }
    const max = this.#maxResponseChars;
    if (result.text.length + result.reasoning.length > max) {
      throw new ResponseTooLargeError(
        `${label}: response exceeded maxResponseChars (${max})`,
        { limit: max, unit: "chars", partialText: result.text.slice(0, max) },
      );
    }
    return result;
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
    // One generator per stream (decodeDeltas), which makes the request when iteration starts:
    // nothing is sent before that, and no wrapping generator is resumed per delta.
    return new ChatStream((state: ChatStreamState, cancelled: AbortSignal) => {
      const url = `${this.baseURL}/chat/completions`;
      const label = this.#http.label("POST", url);
      // Our own controller, so that breaking out of the loop also aborts the fetch.
      const own = new AbortController();
      const signal = anySignal(request.signal, own.signal, cancelled);
      return decodeDeltas(
        () => this.#openStream(request, options, url, label, signal),
        state,
        {
          signal,
          label,
          method: "POST",
          url: publicURL(url),
          idleTimeoutMs: this.#idleTimeoutMs,
          maxResponseBytes: this.#maxResponseBytes,
          maxResponseChars: this.#maxResponseChars,
          // Also after success: that releases the fallback anySignal()'s listeners on the
          // caller's signal. Not with the default reason then: its DOMException's captured stack
          // would keep this stream (and all its text) reachable for as long as the aborted
          // signal lives.
          onEnd: (completed) => own.abort(completed ? "completed" : undefined),
        },
      );
    });
  }

  /** Sends a streaming request; resolves to the SSE body once the server has answered with one. */
  async #openStream(
    request: ChatRequest,
    options: CallOptions,
    url: string,
    label: string,
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const body = await this.#body(request, true);
    const { response, clear } = await this.#http.send("POST", url, body, signal, options.onRetry);
    clear();
    const type = response.headers.get("content-type") ?? "";
    if (type && !/text\/event-stream/i.test(type)) {
      const text = await readText(response, 65_536, label, "truncate").catch(() => "");
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch { /* not JSON: said below */ }
      // A 200 whose body is an error (e.g. an overflow answered as plain JSON).
      if (isErrorBody(json)) {
        throw serverError(json, {
          prefix: `${label}: server returned an error: `,
          method: "POST",
          url: publicURL(url),
          status: response.status,
        });
      }
      throw new InvalidResponseError(
        `${label}: expected an SSE stream (text/event-stream) but got ${JSON.stringify(type)}: ${
          JSON.stringify(excerpt(text))
        }`,
      );
    }
    if (!response.body) throw new InvalidResponseError(`${label}: response has no body`);
    return response.body;
  }

  /**
   * What the server says about one model: above all `contextLength`, the window the model is
   * loaded with (what a prompt must fit), and `maxContextLength`, the most it could take.
   *
   * Sources, tried in this order and remembered per client: LM Studio 0.4+'s native
   * `GET /api/v1/models`, LM Studio 0.3's `GET /api/v0/models` (both at the server root, the
   * base URL without `/v1`), llama.cpp's `GET /v1/models` (`meta.n_ctx`) or `GET /props`,
   * else the plain `GET /v1/models` ids with everything else unknown.
   *
   * The answer is cached per client. LM Studio loads models just in time and unloads them
   * after an idle TTL, so the loaded window can change behind the client's back: pass
   * `refresh: true` to ask again (after a `ContextOverflowError`, say).
   *
   * @param model Model id; defaults to the client's model (see {@link resolveModel}).
   * @param options `signal` aborts the requests; `refresh` bypasses the cache.
   * @returns The model's info; a model the server does not list has only `id` and `source`
   *   (and `loaded: false` on LM Studio, which lists every downloaded model).
   *
   * @example Read the loaded context window
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * const client = new LMStudioClient();
   * const { contextLength, maxContextLength } = await client.modelInfo();
   * console.log(`loaded with ${contextLength ?? "?"} of ${maxContextLength ?? "?"} tokens`);
   * ```
   */
  async modelInfo(model?: string, options: ModelInfoOptions = {}): Promise<ModelInfo> {
    const id = model ?? await this.resolveModel(options.signal);
    return await this.#catalog.info(id, options);
  }

  /**
   * Every model the server lists, as {@link ModelInfo} records (the same sources, order and
   * cache as {@link modelInfo}).
   *
   * @param options `signal` aborts the requests; `refresh` bypasses the cache.
   * @returns The models, in the server's order.
   *
   * @example List the loaded models and their windows
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * for (const m of await new LMStudioClient().listModels()) {
   *   if (m.loaded) console.log(m.id, m.contextLength);
   * }
   * ```
   */
  async listModels(options: ModelInfoOptions = {}): Promise<ModelInfo[]> {
    return await this.#catalog.list(options);
  }

  /**
   * Loads a model on LM Studio 0.4+ (`POST /api/v1/models/load` with `echo_load_config`),
   * with the context window you ask for, and reports what was really loaded. Clears the
   * model-info cache.
   *
   * @param model Model key, e.g. `"qwen/qwen3-4b"`.
   * @param options `contextLength` (tokens), `ttl` (idle seconds before unloading), `signal`.
   * @returns The new instance: `instanceId`, `contextLength` as loaded.
   * @throws {UnsupportedEndpointError} on a server without this endpoint (llama.cpp, vLLM,
   *   LM Studio before 0.4).
   *
   * @example Load a model with a 16k window
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * const client = new LMStudioClient();
   * const loaded = await client.loadModel("qwen/qwen3-4b", { contextLength: 16_384 });
   * console.log(loaded.instanceId, loaded.contextLength);
   * ```
   */
  async loadModel(model: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
    if (typeof model !== "string" || model === "") {
      throw new TypeError(
        `loadModel: model must be a non-empty string, got ${JSON.stringify(model)}`,
      );
    }
    if (options.contextLength !== undefined) {
      checkLimit("contextLength", options.contextLength, "positive-integer", "loadModel");
    }
    return await this.#catalog.load(model, options);
  }

  /**
   * Unloads a model instance on LM Studio 0.4+ (`POST /api/v1/models/unload`). Clears the
   * model-info cache.
   *
   * @param instanceId The instance, from {@link loadModel} or `ModelInfo.instanceId`.
   * @param options `signal` aborts the request.
   * @throws {UnsupportedEndpointError} on a server without this endpoint.
   *
   * @example
   * ```ts
   * import { LMStudioClient } from "@ai-agent/orchestrator";
   * const client = new LMStudioClient();
   * const { instanceId } = await client.loadModel("qwen/qwen3-4b");
   * await client.unloadModel(instanceId);
   * ```
   */
  async unloadModel(instanceId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (typeof instanceId !== "string" || instanceId === "") {
      throw new TypeError(
        `unloadModel: instanceId must be a non-empty string, got ${JSON.stringify(instanceId)}`,
      );
    }
    await this.#catalog.unload(instanceId, options.signal);
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
}

/**
 * The base URL to use and where it came from (the option, `LMSTUDIO_BASE_URL`, the default),
 * checked: an absolute http(s) URL without credentials, query or fragment. `hint` is set when
 * Deno denied reading the variable, for the ConnectionError that may follow.
 */
function chooseBaseURL(option: string | undefined): { baseURL: string; hint?: string } {
  let raw: unknown = option;
  let name = "baseURL";
  let hint: string | undefined;
  if (raw === undefined) {
    const env = readEnvVar("LMSTUDIO_BASE_URL");
    if (env.value !== undefined) {
      raw = env.value;
      name = "LMSTUDIO_BASE_URL";
    } else {
      raw = DEFAULT_BASE_URL;
      if (env.denied) {
        hint = "LMSTUDIO_BASE_URL could not be read (Deno denied access to the environment), " +
          `so the default ${DEFAULT_BASE_URL} was used: run with --allow-env or pass baseURL`;
      }
    }
  }
  const fail = (problem: string, suggestion?: string) => {
    const fix = suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : "";
    return new TypeError(`Cannot create LMStudioClient: ${name} ${problem}${fix}`);
  };
  if (typeof raw !== "string") throw fail(`must be a string, got ${typeof raw}`);
  const value = raw.trim().replace(/\/+$/, "");
  // Quoted without any `user:password@`: the value may hold credentials.
  const quoted = JSON.stringify(publicURL(value));
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // No `cause`: Node's URL error carries the input, credentials and all.
  }
  if (!url) {
    throw fail(
      `must be an absolute http(s) URL such as ${DEFAULT_BASE_URL}, got ${quoted}`,
      suggestBaseURL(value),
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw fail(
      `must use http: or https:, got ${JSON.stringify(url.protocol)} in ${quoted}`,
      suggestBaseURL(value),
    );
  }
  if (url.username || url.password || /^[^/?#]*\/\/[^/?#]*@/.test(value)) {
    throw fail(
      "must not contain credentials (user:password@…): pass the token as apiKey (or " +
        "LMSTUDIO_API_KEY) instead",
    );
  }
  if (/[?#]/.test(value)) {
    throw fail(
      `must not have a query string or fragment (request paths are appended to it), got ${quoted}`,
      suggestBaseURL(value),
    );
  }
  return hint ? { baseURL: value, hint } : { baseURL: value };
}

/** A corrected base URL for a near miss (`localhost:1234` → `http://localhost:1234/v1`). */
function suggestBaseURL(value: string): string | undefined {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value)
    ? value
    : `http://${value.replace(/^\/+/, "")}`;
  try {
    const url = new URL(withScheme);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    const out = url.href.replace(/\/+$/, "");
    return url.pathname === "/" ? `${out}/v1` : out;
  } catch {
    return undefined;
  }
}
