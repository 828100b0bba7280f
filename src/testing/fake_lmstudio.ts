/**
 * A fake LM Studio: a web-standard `(Request) => Response` handler that imitates
 * `/v1/chat/completions` (JSON and SSE), `/v1/models` and LM Studio's native model endpoints
 * (`/api/v1/models`, `/api/v1/models/load`, `/api/v1/models/unload`, `/api/v0/models`),
 * answers from a script, enforces a context window, records every request, and injects faults
 * on demand.
 *
 * Where LM Studio differs from a generic server, the fake does what LM Studio does: it serves
 * only `/v1/…` and the native `/api/…` paths at the server root; any other path or method gets
 * HTTP 200 with `{"error":"Unexpected endpoint or method. (POST /chat/completions)"}`; a
 * stream carries the `choices: []` usage chunk only when the request asked for it with
 * `stream_options: { include_usage: true }`.
 *
 * @module
 */
import { untilAborted } from "../_abort.ts";
import type { ChatMessage, ResponseFormat, ToolSpec } from "../chat.ts";
import { ModelRegistry } from "./_models.ts";
import {
  contentDeltas,
  reasoningDeltas,
  replyFinishReason,
  replyText,
  replyToolCalls,
  replyUsage,
} from "./_reply.ts";
import { countPromptTokens, overflowBody, type OverflowStyle } from "./context_window.ts";
import {
  chatCompletionEvents,
  encodeSSE,
  type FakeToolCall,
  type ServerFlavor,
  splitBytes,
  sseResponse,
  type WireUsageNumbers,
} from "./sse.ts";

/**
 * One scripted reply: what the fake server answers to one chat request, and which faults
 * to inject while doing it.
 *
 * @example A tool call, then a final answer, streamed in 1-byte pieces
 * ```ts
 * import type { FakeReply } from "@ai-agent/orchestrator/testing";
 * const replies: FakeReply[] = [
 *   { content: '{"type":"tool_call","tool":"add","arguments":{"a":2,"b":3}}', chunkBytes: 1 },
 *   { content: '{"type":"final","content":"5"}' },
 * ];
 * ```
 */
export interface FakeReply {
  /** The answer text; streamed as `deltas` (default: word-sized tokens). */
  content?: string;
  /** Explicit content deltas (their concatenation replaces `content`). */
  deltas?: readonly string[];
  /** Reasoning, streamed (or returned) separately before the content. */
  reasoning?: string;
  /** Field for reasoning. @default "reasoning_content" */
  reasoningField?: "reasoning_content" | "reasoning";
  /** Native tool calls. */
  toolCalls?: readonly FakeToolCall[];
  /** Finish reason; `null` sends no finish chunk. @default "stop" (or "tool_calls") */
  finishReason?: string | null;
  /**
   * Usage numbers; `null` sends none. A stream sends them (as a `choices: []` chunk) only when
   * the request has `stream_options.include_usage`. When unset the fake counts: `prompt_tokens` by
   * {@link countPromptTokens} (so an agent can calibrate on it), one completion token per
   * content or reasoning delta.
   */
  usage?: WireUsageNumbers | null;
  /** Framing quirks. @default "lmstudio" */
  flavor?: ServerFlavor;

  /** Answer with this HTTP status (with `body` as the error body). */
  status?: number;
  /** Response body for `status` (objects are JSON-encoded). */
  body?: unknown;
  /** Extra response headers (e.g. `{"retry-after": "1"}`). */
  headers?: Record<string, string>;
  /** Override the response content type. */
  contentType?: string;
  /** Send this exact body instead of a generated one. */
  rawBody?: string;

  /** Bytes per body piece: a number, or `"random"` for seeded 1–17-byte pieces. */
  chunkBytes?: number | "random";
  /** Seed for `chunkBytes: "random"`. @default 1 */
  seed?: number;
  /** Milliseconds before the response starts. */
  firstByteDelayMs?: number;
  /** Milliseconds between body pieces (events when `chunkBytes` is unset). */
  delayMs?: number;
  /** Stall forever (until the client gives up) after this many events. */
  stallAfterEvents?: number;
  /** Break the connection after this many events. */
  disconnectAfterEvents?: number;
  /** Leave out the final `data: [DONE]`. */
  omitDone?: boolean;
  /** After the content, send `data: {"error": …}` with this value instead of finishing. */
  errorEvent?: unknown;
  /** Insert a `data:` line that is not JSON after this many events. */
  invalidJsonAfterEvents?: number;
  /** SSE framing: CRLF line endings. */
  crlf?: boolean;
  /** SSE framing: `: keep-alive` comments. */
  comments?: boolean;
  /** SSE framing: `event:`, `id:` and `retry:` fields. */
  sseFields?: boolean;
}

/**
 * The JSON body of a chat request, as the fake received it: the fields a client of
 * `/v1/chat/completions` sends, and any other field through the index signature.
 *
 * @example Read what the agent sent
 * ```ts
 * import type { ChatRequestBody } from "@ai-agent/orchestrator/testing";
 * const lastUserMessage = (body: ChatRequestBody) =>
 *   body.messages.findLast((m) => m.role === "user")?.content;
 * ```
 */
export interface ChatRequestBody {
  /** Model id. */
  model?: string;
  /**
   * The conversation. Typed as present because chat requests are what tests read; the fake
   * answers 400 to a chat request without an array here, and the bodies of other endpoints
   * (`/api/v1/models/load`, …) do not have it.
   */
  messages: ChatMessage[];
  /** Native tools. */
  tools?: ToolSpec[];
  /** Native tool choice. */
  tool_choice?: unknown;
  /** Structured output. */
  response_format?: ResponseFormat;
  /** `true` for an SSE answer. */
  stream?: boolean;
  /** `{ include_usage: true }` asks for a usage chunk. */
  stream_options?: { include_usage?: boolean };
  /** Reply budget; counted against the context window when positive. */
  max_tokens?: number;
  /** Sampling temperature. */
  temperature?: number;
  /** LM Studio: seconds a just-in-time loaded model stays loaded. */
  ttl?: number;
  /** Any other field the client sent. */
  [field: string]: unknown;
}

/** A request the fake server received. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers. */
  headers: Headers;
  /** Parsed JSON body (or `undefined` when there was none). */
  body: ChatRequestBody | undefined;
}

/**
 * One model the fake knows. A plain string in `models` is `{ id }` with every default.
 *
 * @example A model loaded with a 4k window that could take 32k
 * ```ts
 * import { createFakeLMStudio } from "@ai-agent/orchestrator/testing";
 * const fake = createFakeLMStudio({
 *   models: [{ id: "qwen3-4b", contextLength: 4096, maxContextLength: 32768 }],
 * });
 * ```
 */
export interface FakeModel {
  /** Model key: the `id` at `/v1/models`, the `key` at `/api/v1/models`. */
  id: string;
  /** Whether it starts loaded (one instance, whose id is the key). @default true */
  loaded?: boolean;
  /**
   * Context window of its loaded instances (and of a load without `context_length`).
   * @default the server's `contextLength`, else `maxContextLength`
   */
  contextLength?: number;
  /** The largest window it can be loaded with. @default max(1_048_576, contextLength) */
  maxContextLength?: number;
  /** `capabilities.trained_for_tool_use`. @default true */
  toolUse?: boolean;
  /** `capabilities.vision`. @default false */
  vision?: boolean;
}

/** Options for {@link createFakeLMStudio}. */
export interface FakeLMStudioOptions {
  /**
   * Replies to chat requests, in order; or a function of (request, index). When the list
   * runs out, the server answers 400 "script exhausted (… chat request #N)" (not a 5xx: the
   * client does not retry it, so the test fails at once, naming the request).
   */
  replies?: readonly FakeReply[] | ((request: RecordedRequest, index: number) => FakeReply);
  /**
   * The models the server knows. `/v1/models` lists the loaded ones, the native endpoints all
   * of them. `[]` imitates "no model loaded".
   * @default ["fake-model"]
   */
  models?: readonly (string | FakeModel)[];
  /**
   * The context window, in the fake's tokens (see {@link countPromptTokens}), of every loaded
   * model that does not set its own. A chat request whose prompt tokens plus its positive
   * `max_tokens` exceed the window of the model serving it is refused (see `overflow`).
   * Loading a model with `context_length` (`POST /api/v1/models/load`) sets the window of
   * that instance, and the native endpoints report it. A chat request goes to the instance
   * whose id is its `model`, else to the first instance of the model with that key, else to
   * the first loaded instance; so loading an already loaded model (a second instance,
   * `<key>:2`) leaves requests for `<key>` on the first one until it is unloaded.
   * @default each model's `maxContextLength` (1_048_576 unless set)
   */
  contextLength?: number;
  /**
   * How a prompt that does not fit is refused: LM Studio's HTTP 400 "Trying to keep the first
   * N tokens when context the overflows…" (also for streamed requests, as LM Studio checks
   * before streaming), the same message as an SSE error event for streamed requests, or
   * llama.cpp's 400 `exceed_context_size_error`. See {@link OverflowStyle}.
   * @default "lmstudio"
   */
  overflow?: OverflowStyle;
  /**
   * Which of LM Studio's native REST APIs to serve at the server root: `"v1"` serves
   * `/api/v1/models`, `/api/v1/models/load`, `/api/v1/models/unload` and `/api/v0/models`
   * (LM Studio 0.4+); `"v0"` only `/api/v0/models` (0.3.6–0.3.x); `false` none (an older
   * LM Studio, or another OpenAI-compatible server). Paths not served get LM Studio's HTTP 200
   * `{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}`.
   * @default "v1"
   */
  nativeApi?: "v1" | "v0" | false;
  /** Require `Authorization: Bearer <apiKey>` (else 401 like LM Studio 0.4+). */
  apiKey?: string;
  /** Answer this status for every model listing (`/v1/models`, `/api/v1/models`, `/api/v0/models`). */
  modelsStatus?: number;
}

/** The fake server: its handler, a matching `fetch`, and what it received. */
export interface FakeLMStudio {
  /** The web-standard handler; serve it with `Deno.serve`, `Bun.serve`, or call it. */
  handler: (request: Request) => Promise<Response>;
  /** A `fetch` that calls the handler in-process (abort signals honoured). */
  fetch: typeof fetch;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Only the chat requests. */
  readonly chatRequests: RecordedRequest[];
}

/**
 * Creates a fake LM Studio server for offline tests.
 *
 * @param options Script, models, auth.
 * @returns The handler, an in-process `fetch`, and the recorded requests.
 *
 * @example Test an agent offline
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { createFakeLMStudio } from "@ai-agent/orchestrator/testing";
 * const fake = createFakeLMStudio({
 *   replies: [{ content: '{"type":"final","content":"Hello!"}' }],
 * });
 * const agent = new Agent({ client: new LMStudioClient({ fetch: fake.fetch, model: "m" }) });
 * const result = await agent.run("Say hello");
 * console.log(result.text, fake.chatRequests.length); // "Hello!" 1
 * ```
 */
export function createFakeLMStudio(options: FakeLMStudioOptions = {}): FakeLMStudio {
  const requests: RecordedRequest[] = [];
  const registry = new ModelRegistry(options.models ?? ["fake-model"], options.contextLength);
  const nativeApi = options.nativeApi ?? "v1";
  let chatIndex = 0;

  const pick = (req: RecordedRequest): FakeReply | undefined => {
    const index = chatIndex++;
    const replies = options.replies ?? [];
    return typeof replies === "function" ? replies(req, index) : replies[index];
  };

  // LM Studio serves its native REST API at the server root, the OpenAI-compatible one under
  // /v1; nothing else.
  const native = (method: string, path: string, body: ChatRequestBody | undefined) => {
    const v1 = nativeApi === "v1";
    const v0 = v1 || nativeApi === "v0";
    const route = `${method} ${path}`;
    if (route === "GET /api/v1/models" && v1) return registry.listV1();
    if (route === "GET /api/v0/models" && v0) return registry.listV0();
    if (route === "POST /api/v1/models/load" && v1) return registry.load(body);
    if (route === "POST /api/v1/models/unload" && v1) return registry.unload(body);
    return undefined;
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    let body: ChatRequestBody | undefined;
    const text = request.method === "GET" ? "" : await request.text();
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return json(500, { error: { code: 500, message: "[json.exception] bad JSON body" } });
      }
    }
    const recorded: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      headers: request.headers,
      body,
    };
    requests.push(recorded);

    if (options.apiKey !== undefined) {
      if (request.headers.get("authorization") !== `Bearer ${options.apiKey}`) {
        return json(401, {
          error: { message: "Invalid API Key", type: "authentication_error", code: 401 },
        });
      }
    }
    const path = url.pathname;
    const isListing = request.method === "GET" &&
      (path === "/v1/models" || path === "/api/v1/models" || path === "/api/v0/models");
    if (isListing && options.modelsStatus) {
      return json(options.modelsStatus, { error: "models unavailable" });
    }
    if (path.startsWith("/api/")) {
      const answer = native(request.method, path, body);
      return answer ? json(answer.status, answer.body) : unexpected(request.method, url);
    }
    if (request.method === "GET" && path === "/v1/models") {
      return json(200, {
        object: "list",
        data: registry.loadedIds().map((id) => ({
          id,
          object: "model",
          owned_by: "organization_owner",
        })),
      });
    }
    if (request.method !== "POST" || path !== CHAT_PATH) return unexpected(request.method, url);
    if (!body || !Array.isArray(body.messages)) {
      return json(400, {
        error: { message: "'messages' is required", type: "invalid_request_error", code: 400 },
      });
    }
    const instance = registry.serving(body.model);
    if (!instance) {
      return json(400, {
        error: {
          message:
            "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
          type: "invalid_request_error",
          param: "model",
          code: "model_not_found",
        },
      });
    }
    const promptTokens = countPromptTokens(body);
    const reserve = typeof body.max_tokens === "number" && body.max_tokens > 0
      ? body.max_tokens
      : 0;
    if (promptTokens + reserve > instance.contextLength) {
      const style = options.overflow ?? "lmstudio";
      const error = overflowBody(style, promptTokens, instance.contextLength);
      if (style === "lmstudio-stream" && body.stream === true) {
        return sseResponse([encodeSSE([JSON.stringify(error)])]);
      }
      return json(400, error);
    }
    const reply = pick(recorded);
    if (!reply) {
      // 400, not a 5xx: a test whose script ran out fails at once, naming the request, instead
      // of after the client's retries.
      return json(400, {
        error: `fake LM Studio: script exhausted (no reply left for chat request #${chatIndex})`,
      });
    }
    if (reply.firstByteDelayMs) await sleep(reply.firstByteDelayMs, request.signal);
    if (reply.status !== undefined && (reply.status < 200 || reply.status > 299)) {
      return new Response(
        typeof reply.body === "string"
          ? reply.body
          : JSON.stringify(reply.body ?? { error: "fake error" }),
        {
          status: reply.status,
          headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers },
        },
      );
    }
    // Like LM Studio 0.3.18+ and OpenAI: the usage chunk only when the request asked for it.
    const includeUsage = body.stream_options?.include_usage === true;
    return body.stream === true
      ? streamReply(reply, promptTokens, includeUsage, request.signal)
      : jsonReply(reply, promptTokens);
  };

  const fakeFetch = (async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const request = new Request(input, init);
    const signal = init?.signal ?? undefined;
    signal?.throwIfAborted();
    const response = await untilAborted(handler(request), signal);
    return signal ? abortableBody(response, signal) : response;
  }) as typeof fetch;

  return {
    handler,
    fetch: fakeFetch,
    requests,
    get chatRequests() {
      return requests.filter((r) => r.method === "POST" && r.path === CHAT_PATH);
    },
  };
}

function jsonReply(reply: FakeReply, promptTokens: number): Response {
  if (reply.rawBody !== undefined) {
    return new Response(reply.rawBody, {
      headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers },
    });
  }
  const message: Record<string, unknown> = { role: "assistant", content: replyText(reply) };
  if (reply.reasoning) message[reply.reasoningField ?? "reasoning_content"] = reply.reasoning;
  const toolCalls = replyToolCalls(reply);
  if (toolCalls.length) message.tool_calls = toolCalls;
  const usage = replyUsage(reply, promptTokens);
  return new Response(
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "fake-model",
      choices: [{ index: 0, message, logprobs: null, finish_reason: replyFinishReason(reply) }],
      ...(usage ? { usage } : {}),
    }),
    {
      status: reply.status ?? 200,
      headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers },
    },
  );
}

function streamReply(
  reply: FakeReply,
  promptTokens: number,
  includeUsage: boolean,
  signal: AbortSignal,
): Response {
  const encoder = new TextEncoder();
  let events: string[];
  if (reply.rawBody !== undefined) {
    events = [reply.rawBody];
  } else {
    const data = chatCompletionEvents({
      deltas: contentDeltas(reply),
      reasoningDeltas: reasoningDeltas(reply),
      reasoningField: reply.reasoningField,
      toolCalls: reply.toolCalls,
      finishReason: reply.errorEvent !== undefined ? null : replyFinishReason(reply),
      usage: reply.errorEvent !== undefined || !includeUsage
        ? null
        : replyUsage(reply, promptTokens) ?? null,
      flavor: reply.flavor,
    });
    if (reply.errorEvent !== undefined) {
      data.splice(data.length - 1, 1, JSON.stringify({ error: reply.errorEvent }));
    }
    if (reply.omitDone && data[data.length - 1] === "[DONE]") data.pop();
    if (reply.invalidJsonAfterEvents !== undefined) {
      data.splice(reply.invalidJsonAfterEvents, 0, "{not json");
    }
    events = data.map((d, i) =>
      encodeSSE([d], {
        crlf: reply.crlf,
        comments: reply.comments,
        fields: reply.sseFields,
        firstId: i,
      })
    );
  }

  // Events (or byte pieces), then the configured fault.
  const faultAt = Math.min(
    reply.stallAfterEvents ?? Infinity,
    reply.disconnectAfterEvents ?? Infinity,
  );
  const head = events.slice(0, Number.isFinite(faultAt) ? faultAt : events.length);
  let pieces: Uint8Array[];
  if (reply.chunkBytes !== undefined) {
    const bytes = encoder.encode(head.join(""));
    pieces = splitBytes(
      bytes,
      reply.chunkBytes === "random" ? { min: 1, max: 17, seed: reply.seed ?? 1 } : reply.chunkBytes,
    );
  } else {
    pieces = head.map((e) => encoder.encode(e));
  }
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < pieces.length) {
        if (reply.delayMs && i > 0) {
          await new Promise<void>((r) => timer = setTimeout(r, reply.delayMs));
        }
        controller.enqueue(pieces[i++]!);
        return;
      }
      if (reply.disconnectAfterEvents !== undefined && faultAt === reply.disconnectAfterEvents) {
        controller.error(new TypeError("fake LM Studio: connection reset"));
        return;
      }
      if (reply.stallAfterEvents !== undefined) {
        // Stall: never enqueue again. Resolve only when the request is aborted, so no timer
        // or pending work keeps the process alive.
        await new Promise<void>((resolve) => {
          if (signal.aborted) return resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return;
      }
      controller.close();
    },
    cancel() {
      clearTimeout(timer);
    },
  });
  return new Response(body, {
    headers: {
      "content-type": reply.contentType ?? "text/event-stream",
      "cache-control": "no-cache",
      ...reply.headers,
    },
  });
}

const CHAT_PATH = "/v1/chat/completions";

/**
 * LM Studio's answer to a path or method it does not serve: HTTP **200** with this exact body
 * (so a base URL without `/v1` fails against the fake as it does against LM Studio).
 */
function unexpected(method: string, url: URL): Response {
  return json(200, { error: `Unexpected endpoint or method. (${method} ${url.pathname})` });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Like real fetch: aborting the request signal errors the body stream. */
function abortableBody(response: Response, signal: AbortSignal): Response {
  if (!response.body) return response;
  const reader = response.body.getReader();
  const onAbort = () => {
    reader.cancel(signal.reason).catch(() => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (signal.aborted) {
          signal.removeEventListener("abort", onAbort);
          return controller.error(signal.reason);
        }
        if (done) {
          signal.removeEventListener("abort", onAbort);
          return controller.close();
        }
        controller.enqueue(value);
      } catch (err) {
        signal.removeEventListener("abort", onAbort);
        controller.error(err);
      }
    },
    cancel(reason) {
      signal.removeEventListener("abort", onAbort);
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
