/**
 * A fake LM Studio: a web-standard `(Request) => Response` handler that imitates
 * `/v1/chat/completions` (JSON and SSE) and `/v1/models`, answers from a script, records
 * every request, and injects faults on demand.
 *
 * @module
 */
import {
  chatCompletionEvents,
  encodeSSE,
  type FakeToolCall,
  type ServerFlavor,
  splitBytes,
  tokenize,
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
  /** Usage numbers; `null` sends none. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
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

/** A request the fake server received. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers. */
  headers: Headers;
  /** Parsed JSON body (or `undefined`). */
  body: Record<string, unknown> | undefined;
}

/** Options for {@link createFakeLMStudio}. */
export interface FakeLMStudioOptions {
  /**
   * Replies to chat requests, in order; or a function of (request, index). When the list
   * runs out, the server answers 500 "script exhausted".
   */
  replies?: readonly FakeReply[] | ((request: RecordedRequest, index: number) => FakeReply);
  /** Model ids listed at `/v1/models`. `[]` imitates "no model loaded". @default ["fake-model"] */
  models?: readonly string[];
  /** Require `Authorization: Bearer <apiKey>` (else 401 like LM Studio 0.4+). */
  apiKey?: string;
  /** Answer this status for `/models` (e.g. to test resolution failures). */
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
  const models = options.models ?? ["fake-model"];
  let chatIndex = 0;

  const pick = (req: RecordedRequest): FakeReply | undefined => {
    const index = chatIndex++;
    const replies = options.replies ?? [];
    return typeof replies === "function" ? replies(req, index) : replies[index];
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    let body: Record<string, unknown> | undefined;
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
    if (url.pathname.endsWith("/models") && request.method === "GET") {
      if (options.modelsStatus) {
        return json(options.modelsStatus, { error: "models unavailable" });
      }
      return json(200, {
        object: "list",
        data: models.map((id) => ({ id, object: "model", owned_by: "organization_owner" })),
      });
    }
    if (!url.pathname.endsWith("/chat/completions") || request.method !== "POST") {
      return json(404, {
        error: `Unexpected endpoint or method. (${request.method} ${url.pathname})`,
      });
    }
    if (!body || !Array.isArray(body.messages)) {
      return json(400, {
        error: { message: "'messages' is required", type: "invalid_request_error", code: 400 },
      });
    }
    if (models.length === 0) {
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
    const reply = pick(recorded);
    if (!reply) return json(500, { error: "fake LM Studio: script exhausted (no reply left)" });
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
    return body.stream === true ? streamReply(reply, request.signal) : jsonReply(reply);
  };

  const fakeFetch = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const signal = init?.signal ?? undefined;
    signal?.throwIfAborted();
    const response = await raceAbort(handler(request), signal);
    return signal ? abortableBody(response, signal) : response;
  }) as typeof fetch;

  return {
    handler,
    fetch: fakeFetch,
    requests,
    get chatRequests() {
      return requests.filter((r) => r.path.endsWith("/chat/completions"));
    },
  };
}

function contentDeltas(reply: FakeReply): string[] {
  if (reply.deltas) return [...reply.deltas];
  return tokenize(reply.content ?? "");
}

function jsonReply(reply: FakeReply): Response {
  if (reply.rawBody !== undefined) {
    return new Response(reply.rawBody, {
      headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers },
    });
  }
  const content = reply.deltas ? reply.deltas.join("") : reply.content ?? "";
  const message: Record<string, unknown> = { role: "assistant", content };
  if (reply.reasoning) message[reply.reasoningField ?? "reasoning_content"] = reply.reasoning;
  if (reply.toolCalls?.length) {
    message.tool_calls = reply.toolCalls.map((c, i) => ({
      id: c.id ?? String(100 + i),
      type: "function",
      function: {
        name: c.name,
        arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
      },
    }));
  }
  const finish = reply.finishReason === undefined
    ? (reply.toolCalls?.length ? "tool_calls" : "stop")
    : reply.finishReason;
  const tokens = tokenize(content).length;
  const usage = reply.usage === null ? undefined : reply.usage ?? {
    prompt_tokens: 10,
    completion_tokens: tokens,
    total_tokens: 10 + tokens,
  };
  return new Response(
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "fake-model",
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    }),
    {
      status: reply.status ?? 200,
      headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers },
    },
  );
}

function streamReply(reply: FakeReply, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let events: string[];
  if (reply.rawBody !== undefined) {
    events = [reply.rawBody];
  } else {
    const data = chatCompletionEvents({
      deltas: contentDeltas(reply),
      reasoningDeltas: reply.reasoning ? tokenize(reply.reasoning) : undefined,
      reasoningField: reply.reasoningField,
      toolCalls: reply.toolCalls,
      finishReason: reply.errorEvent !== undefined ? null : reply.finishReason,
      usage: reply.errorEvent !== undefined ? null : reply.usage,
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

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
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
