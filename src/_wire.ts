// Every check of what a server sends, for generate() and stream() alike: the fields of a
// completion message and of a stream chunk's delta (one set of readers for both), the error
// shapes servers answer with (one classifier: overflow, no model, other), and the model lists
// of LM Studio's native REST API, llama.cpp and the OpenAI `/models`.
//
// Everything is read with small hand-written readers rather than a schema library: the chunk
// reader runs once per token and a schema parse per chunk costs more than the rest of the
// decode, and the client alone then bundles without zod. They are lenient: every optional field
// may be absent or null, and wrong types are ignored.
import type { ChatResult, ToolCallDelta, Usage } from "./chat.ts";
import {
  APIError,
  type APIErrorDetails,
  ContextOverflowError,
  ModelNotLoadedError,
  UnsupportedEndpointError,
} from "./errors.ts";
import type { ModelInfo, ModelInfoSource } from "./model_info.ts";
import { wholeToolCalls } from "./tool_call_accumulator.ts";
import { clip } from "./_text.ts";

type Json = Record<string, unknown>;

// ---- Completion messages and stream deltas -------------------------------------------------

/** `value` when it is a non-empty string. */
function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** `content` of a message or delta; `""` when absent or not a string. */
export function contentOf(m: Json): string {
  const c = m.content;
  return typeof c === "string" ? c : "";
}

/** `reasoning_content` (LM Studio, llama.cpp, DeepSeek) or `reasoning` (gpt-oss, Ollama). */
export function reasoningOf(m: Json): string {
  const r = m.reasoning_content;
  if (typeof r === "string") return r;
  const g = m.reasoning;
  return typeof g === "string" ? g : "";
}

/** The `tool_calls` array of a message or delta as fragments; `undefined` when none. */
export function toolCallsOf(m: Json): ToolCallDelta[] | undefined {
  const raw = m.tool_calls;
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const out: ToolCallDelta[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i] as {
      index?: unknown;
      id?: unknown;
      function?: { name?: unknown; arguments?: unknown } | null;
    } | null;
    if (!t || typeof t !== "object") continue;
    const delta: ToolCallDelta = { index: typeof t.index === "number" ? t.index : i };
    if (typeof t.id === "string") delta.id = t.id;
    const fn = t.function;
    if (fn && typeof fn === "object") {
      if (typeof fn.name === "string") delta.name = fn.name;
      if (typeof fn.arguments === "string") delta.arguments = fn.arguments;
    }
    out.push(delta);
  }
  return out.length ? out : undefined;
}

/** A choice's `finish_reason`, or `null`. */
export function finishReasonOf(choice: Json): string | null {
  const f = choice.finish_reason;
  return typeof f === "string" ? f : null;
}

/** The first entry of `choices` when it is an object; `undefined` for none / `choices: []`. */
export function firstChoice(body: Json): Json | undefined {
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length === 0) return undefined;
  const c = choices[0];
  return c !== null && typeof c === "object" ? c as Json : undefined;
}

/** `model` of a completion or chunk, when the server named it. */
export function modelOf(body: Json): string | undefined {
  return str(body.model);
}

/** `usage` of a completion or chunk as {@link Usage}; `undefined` when absent. */
export function usageOf(body: Json): Usage | undefined {
  const u = body.usage;
  if (u === null || typeof u !== "object") return undefined;
  const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = u as Json;
  const promptTokens = typeof p === "number" ? p : 0;
  const completionTokens = typeof c === "number" ? c : 0;
  return {
    promptTokens,
    completionTokens,
    totalTokens: typeof t === "number" ? t : promptTokens + completionTokens,
  };
}

/** True for a JSON object (not null, not an array). */
export function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A non-streamed `/chat/completions` body as a {@link ChatResult}, read with the same field
 * readers as a stream's deltas; a string saying what is missing when it is no completion.
 */
export function completionResult(body: unknown): ChatResult | string {
  if (!isObject(body)) return "the body is not a JSON object";
  if (!Array.isArray(body.choices)) return 'there is no "choices" array';
  const choice = firstChoice(body);
  if (!choice) return '"choices" is empty';
  const message = choice.message;
  if (!isObject(message)) return 'choices[0] has no "message" object';
  const result: ChatResult = {
    text: contentOf(message),
    reasoning: reasoningOf(message),
    finishReason: finishReasonOf(choice),
  };
  const usage = usageOf(body);
  if (usage) result.usage = usage;
  const model = modelOf(body);
  if (model) result.model = model;
  // A message holds whole calls: no fragment merging, only the same id fallback.
  const calls = toolCallsOf(message);
  if (calls) result.toolCalls = wholeToolCalls(calls);
  return result;
}

// ---- Server errors -------------------------------------------------------------------------

/** Reads `message` and `code`/`type` out of either error shape servers send. */
export function describeServerError(err: unknown): { message: string; code?: string } {
  if (typeof err === "string") return { message: err };
  if (err && typeof err === "object") {
    const e = err as { message?: unknown; code?: unknown; type?: unknown };
    const message = typeof e.message === "string" ? e.message : JSON.stringify(err);
    const code = typeof e.code === "string"
      ? e.code
      : typeof e.type === "string"
      ? e.type
      : typeof e.code === "number"
      ? String(e.code)
      : undefined;
    return code === undefined ? { message } : { message, code };
  }
  return { message: String(err) };
}

/** True when a parsed body is an error and not a completion/chunk: it has an `error` key. */
export function isErrorBody(body: unknown): boolean {
  return body !== null && typeof body === "object" && "error" in body;
}

const UNEXPECTED_ENDPOINT = /unexpected endpoint or method/i;

/** How many characters of a server's error text go into a message. */
export const EXCERPT_CHARS = 300;

const TAG = /<[a-z!/?][^>]*>/i;
const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  "#39": "'",
};

/**
 * A server's text as it may appear in a message: HTML tags (and scripts, styles, comments)
 * stripped when `html`, whitespace collapsed, at most `max` characters. The whole text stays
 * available on the error (`body`); a 7 KB nginx error page must not become the message.
 */
export function excerpt(
  text: string,
  max: number = EXCERPT_CHARS,
  options: { html?: boolean } = {},
): string {
  let plain = text;
  if (options.html !== false && TAG.test(plain)) {
    plain = plain
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
      .replace(/<!--[\s\S]*?-->/g, " ")
      .replace(/<[^>]*>/g, " ")
      .replace(/&(amp|lt|gt|quot|apos|nbsp|#39);/g, (_, e: string) => ENTITIES[e] ?? "");
  }
  return clip(plain.replace(/\s+/g, " ").trim(), max);
}

/**
 * LM Studio's answer to a path or method it does not serve: HTTP 200 with
 * `{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}`.
 */
export function isUnexpectedEndpoint(body: unknown): boolean {
  if (!isErrorBody(body)) return false;
  const { message } = describeServerError((body as Json).error);
  return UNEXPECTED_ENDPOINT.test(message);
}

const NO_MODEL =
  /no models? (are |is )?loaded|model_not_found|invalid model identifier|model.*not (found|loaded)/i;

/** Token numbers an overflow message states; either may be missing. */
interface Overflow {
  promptTokens?: number;
  contextLength?: number;
}

// Each known overflow wording, with where its numbers are. Sources: tests/fixtures/
// context_overflow/*.json (one fixture per shape, each naming where it was reported).
const OVERFLOW_MESSAGES: ReadonlyArray<{ re: RegExp; prompt?: number; context?: number }> = [
  // llama.cpp: "request (590 tokens) exceeds the available context size (512 tokens), …";
  // older builds and llama-box: "the request exceeds the available context size".
  {
    re: /request (?:\((\d+) tokens\) )?exceeds the available context size(?: \((\d+) tokens\))?/i,
    prompt: 1,
    context: 2,
  },
  // LM Studio: "Trying to keep the first N tokens when context the overflows. However, the
  // model is loaded with context length of only M tokens, which is not enough. …"
  {
    re:
      /trying to keep the first (\d+) tokens when context the overflows[\s\S]*?context length of only (\d+) tokens/i,
    prompt: 1,
    context: 2,
  },
  { re: /trying to keep the first (\d+) tokens when context the overflows/i, prompt: 1 },
  // LM Studio (llama.cpp engine): "Cannot truncate prompt with n_keep (X) >= n_ctx (Y)".
  { re: /n_keep:? \(?([\d,]+)\)? >= n_ctx:? \(?([\d,]+)\)?/i, prompt: 1, context: 2 },
  // LM Studio: "The number of tokens to keep from the initial prompt is greater than the
  // context length. …" (no numbers).
  { re: /tokens to keep from the initial prompt is greater than the context length/i },
  // LM Studio 0.4.21 (HTTP 200 stream): "Input does not fit in context length. The input has
  // N tokens, but the context length only supports M tokens."
  {
    re:
      /input does not fit in context length\.?(?: the input has (\d+) tokens, but the context length only supports (\d+) tokens)?/i,
    prompt: 1,
    context: 2,
  },
  // LM Studio, mid-generation: "Reached context length of M tokens with model … that does not
  // currently support mid-generation context overflow."
  { re: /reached context length of (\d+) tokens/i, context: 1 },
  // vLLM and OpenAI: "This model's maximum context length is M tokens. However, you requested
  // N tokens (P in the messages, C in the completion)." / "…your messages resulted in N tokens."
  { re: /maximum context length is (\d+) tokens/i, context: 1 },
  // vLLM (older): "The prompt (total length N) is too long to fit into the model (context
  // length M)."
  {
    re: /prompt \(total length (\d+)\) is too long to fit into the model \(context length (\d+)\)/i,
    prompt: 1,
    context: 2,
  },
  // Ollama: "the input length exceeds the context length".
  { re: /input length exceeds the context length/i },
];

// Where OpenAI/vLLM wordings put the prompt's own size (the "requested" total includes the
// completion, so it is not the prompt).
const PROMPT_TOKENS =
  /(\d+) in the messages|messages resulted in (\d+) tokens|prompt contains at least (\d+) input tokens/i;

const count = (s: string | undefined): number | undefined =>
  s === undefined ? undefined : Number(s.replaceAll(",", ""));

/**
 * Whether an error says the prompt overflowed the context window, and the numbers it gives.
 * The one place that knows the shapes: HTTP errors, mid-stream error events and 200 bodies
 * all come through here.
 */
export function contextOverflow(
  err: unknown,
  message: string,
  code?: string,
): Overflow | undefined {
  const e = isObject(err) ? err : undefined;
  const numbers: Overflow = {};
  if (e && typeof e.n_prompt_tokens === "number") numbers.promptTokens = e.n_prompt_tokens;
  if (e && typeof e.n_ctx === "number") numbers.contextLength = e.n_ctx;
  let known = e?.type === "exceed_context_size_error" || code === "context_length_exceeded" ||
    code === "exceed_context_size_error";
  for (const shape of OVERFLOW_MESSAGES) {
    const m = shape.re.exec(message);
    if (!m) continue;
    known = true;
    if (shape.prompt) numbers.promptTokens ??= count(m[shape.prompt]);
    if (shape.context) numbers.contextLength ??= count(m[shape.context]);
    break;
  }
  if (!known) return undefined;
  if (numbers.promptTokens === undefined) {
    const p = PROMPT_TOKENS.exec(message);
    if (p) numbers.promptTokens = count(p[1] ?? p[2] ?? p[3]);
  }
  const out: Overflow = {};
  if (numbers.promptTokens !== undefined) out.promptTokens = numbers.promptTokens;
  if (numbers.contextLength !== undefined) out.contextLength = numbers.contextLength;
  return out;
}

/** The hint an overflow message ends with. */
export function overflowHint(numbers: Overflow): string {
  const window = numbers.contextLength === undefined
    ? "the model's loaded context window"
    : `the model's loaded context window (${numbers.contextLength} tokens)`;
  const prompt = numbers.promptTokens === undefined
    ? "The prompt"
    : `The prompt (${numbers.promptTokens} tokens)`;
  return ` — ${prompt} does not fit ${window}. Load the model with a larger context ` +
    "(client.loadModel(model, { contextLength })), use fewer or shorter tool descriptions, or " +
    "a smaller max_tokens";
}

/** Where an error body was found, for {@link serverError}. */
export interface ErrorSite extends Omit<APIErrorDetails, "serverMessage" | "code" | "body"> {
  /** The message up to the server's own words, e.g. `"POST …/chat/completions failed with status 400: "`. */
  prefix: string;
  /** Used as the message when the body is an empty string (e.g. the HTTP status text). */
  fallback?: string;
}

/**
 * The typed error for a server's error body: {@link ContextOverflowError} when the prompt
 * did not fit, {@link ModelNotLoadedError} when no (such) model is loaded, else
 * {@link APIError}. `body` is the parsed JSON (`{"error": …}`, vLLM's `{"object":"error",
 * "message": …}`, …) or the raw text when it was not JSON.
 */
export function serverError(body: unknown, site: ErrorSite): APIError {
  const { prefix, fallback, ...where } = site;
  const err = isObject(body) && "error" in body ? body.error : body;
  let message: string;
  let code: string | undefined;
  if (typeof err === "string") message = err.trim() || fallback || "no message";
  else ({ message, code } = describeServerError(err));
  const details: APIErrorDetails = { ...where, serverMessage: message, code, body };
  // The message quotes a short excerpt; the whole text is `serverMessage` / `body`. Tags are
  // stripped only from a body that was not JSON (an HTML error page): a JSON message is text.
  const said = excerpt(message, typeof body === "string" ? EXCERPT_CHARS : 2 * EXCERPT_CHARS, {
    html: typeof body === "string",
  });
  const overflow = contextOverflow(err, message, code);
  if (overflow) {
    return new ContextOverflowError(`${prefix}${said}${overflowHint(overflow)}`, {
      ...details,
      ...overflow,
    });
  }
  if (UNEXPECTED_ENDPOINT.test(message)) {
    return new UnsupportedEndpointError(`${prefix}${said}${endpointHint(site.url)}`, details);
  }
  if (NO_MODEL.test(`${message} ${code ?? ""}`)) {
    return new ModelNotLoadedError(
      `${prefix}${said} — load a model in LM Studio (Developer tab, or \`lms load <model>\`) ` +
        "or set LMSTUDIO_MODEL",
      details,
    );
  }
  const hint = site.status === 401 || site.status === 403
    ? " — check the API key (LMSTUDIO_API_KEY / apiKey)"
    : "";
  return new APIError(`${prefix}${said}${hint}`, details);
}

/**
 * What to do about LM Studio's "Unexpected endpoint or method": the OpenAI API lives under
 * `/v1`, so a request outside it almost always means a base URL without `/v1`.
 */
function endpointHint(url: string | undefined): string {
  let path = "";
  try {
    path = url ? new URL(url).pathname : "";
  } catch { /* no usable URL: the generic hint */ }
  if (path.startsWith("/v1/") || path.startsWith("/api/")) {
    return " — the server does not serve this endpoint (LM Studio's OpenAI-compatible API is " +
      "/v1/chat/completions and /v1/models)";
  }
  return " — the server does not serve this path: the base URL probably lacks /v1 (LM Studio " +
    'serves the OpenAI-compatible API under /v1, e.g. baseURL: "http://localhost:1234/v1")';
}

// ---- Model lists ---------------------------------------------------------------------------
// Read with the same kind of readers as the chat bodies, so that the client needs no schema
// library: a body is a model list when its required fields have their types (`data` / `models`
// an array of objects, each with a string id); optional fields are read when they have the
// right type and ignored otherwise.

/** `value` when it is a number. */
function num(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/** `value` when it is a JSON object, else an empty one (absent optional objects read as empty). */
function obj(value: unknown): Json {
  return isObject(value) ? value : {};
}

/** `body[key]` when it is an array of objects each with a string `idKey`. */
function entries(body: unknown, key: string, idKey: string): Json[] | undefined {
  if (!isObject(body)) return undefined;
  const list = body[key];
  if (!Array.isArray(list)) return undefined;
  return list.every((m) => isObject(m) && typeof m[idKey] === "string") ? list : undefined;
}

/** Sets `key` only when `value` is a number / boolean (an unknown stays absent, never `undefined`). */
function put<T extends object>(target: T, key: keyof T & string, value: unknown): void {
  if (typeof value === "number" || typeof value === "boolean") {
    (target as Record<string, unknown>)[key] = value;
  }
}

/** The model ids of a `/models` body, or `undefined` when it has no `data` array of models. */
export function modelIds(body: unknown): string[] | undefined {
  return entries(body, "data", "id")?.map((m) => m.id as string);
}

/**
 * `/v1/models` as {@link ModelInfo}s: llama.cpp's when its entries carry `meta.n_ctx` (the
 * window one request gets), plain OpenAI ids otherwise. `undefined` when it is no model list.
 */
export function openAIModels(body: unknown): ModelInfo[] | undefined {
  const list = entries(body, "data", "id");
  if (!list) return undefined;
  const llama = list.some((m) => num(obj(m.meta).n_ctx) !== undefined);
  return list.map((m) => {
    const info: ModelInfo = { id: m.id as string, source: llama ? "llama.cpp" : "openai" };
    if (llama) {
      const meta = obj(m.meta);
      info.loaded = true;
      put(info, "contextLength", meta.n_ctx);
      put(info, "maxContextLength", meta.n_ctx_train);
    }
    return info;
  });
}

/** llama.cpp's `/props` window (`default_generation_settings.n_ctx`), if the body has one. */
export function propsContextLength(body: unknown): number | undefined {
  return num(obj(obj(body).default_generation_settings).n_ctx);
}

/** LM Studio's `GET /api/v1/models` as {@link ModelInfo}s; `undefined` when it is not one. */
export function lmStudioV1Models(body: unknown): ModelInfo[] | undefined {
  return entries(body, "models", "key")?.map((m) => {
    const instances = Array.isArray(m.loaded_instances) ? m.loaded_instances.map(obj) : [];
    const info: ModelInfo = {
      id: m.key as string,
      loaded: instances.length > 0,
      source: "lmstudio-v1",
    };
    const first = instances[0];
    const instanceId = str(first?.id);
    if (instanceId) info.instanceId = instanceId;
    put(info, "contextLength", obj(first?.config).context_length);
    put(info, "maxContextLength", m.max_context_length);
    const capabilities = obj(m.capabilities);
    put(info, "toolUse", capabilities.trained_for_tool_use);
    put(info, "vision", capabilities.vision);
    const type = str(m.type);
    if (type) info.type = type;
    return info;
  });
}

/** LM Studio's `GET /api/v0/models` as {@link ModelInfo}s; `undefined` when it is not one. */
export function lmStudioV0Models(body: unknown): ModelInfo[] | undefined {
  return entries(body, "data", "id")?.map((m) => {
    const info: ModelInfo = { id: m.id as string, source: "lmstudio-v0" };
    const state = str(m.state);
    if (state) info.loaded = state === "loaded";
    put(info, "contextLength", m.loaded_context_length);
    put(info, "maxContextLength", m.max_context_length);
    if (Array.isArray(m.capabilities)) info.toolUse = m.capabilities.includes("tool_use");
    const type = str(m.type);
    if (type === "vlm") info.vision = true;
    if (type) info.type = type;
    return info;
  });
}

/**
 * What `POST /api/v1/models/load` reports it loaded; `undefined` when the body is not a load
 * answer (no instance id).
 */
export function loadedModel(
  model: string,
  body: unknown,
): (ModelInfo & { instanceId: string; loadTimeSeconds?: number }) | undefined {
  const r = obj(body);
  const instanceId = str(r.instance_id) ?? str(r.model_instance_id);
  if (!instanceId) return undefined;
  const source: ModelInfoSource = "lmstudio-v1";
  const info: ModelInfo & { instanceId: string; loadTimeSeconds?: number } = {
    id: model,
    instanceId,
    loaded: true,
    source,
  };
  put(
    info,
    "contextLength",
    num(obj(r.load_config).context_length) ?? obj(r.config).context_length,
  );
  put(info, "loadTimeSeconds", r.load_time_seconds);
  const type = str(r.type);
  if (type) info.type = type;
  return info;
}
