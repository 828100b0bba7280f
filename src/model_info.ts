/**
 * What a server says about its models: the loaded context window, the most it could take,
 * capabilities ({@link ModelInfo}); and the internal catalog that asks for it, trying the
 * sources one server after another may offer and remembering which one answered.
 *
 * @module
 */
import {
  APIError,
  InvalidResponseError,
  ModelNotLoadedError,
  UnsupportedEndpointError,
} from "./errors.ts";
import type { Http } from "./_http.ts";
import {
  isErrorBody,
  isUnexpectedEndpoint,
  lmStudioV0Models,
  lmStudioV1Models,
  loadedModel,
  openAIModels,
  propsContextLength,
  serverError,
} from "./_wire.ts";

/**
 * Where a {@link ModelInfo} came from:
 * - `"lmstudio-v1"`: LM Studio 0.4+'s native `GET /api/v1/models` (loaded window per instance);
 * - `"lmstudio-v0"`: LM Studio 0.3.6+'s `GET /api/v0/models`;
 * - `"llama.cpp"`: llama.cpp's `llama-server` (`/v1/models` `meta.n_ctx`, or `/props`);
 * - `"openai"`: only the ids of `GET /v1/models`; everything else unknown.
 */
export type ModelInfoSource = "lmstudio-v1" | "lmstudio-v0" | "llama.cpp" | "openai";

/**
 * One model as the server describes it. Fields the server did not say are absent. The loaded
 * window can change behind the client's back (LM Studio loads models just in time and unloads
 * them after an idle TTL), so ask again with `refresh: true` when it matters (after a
 * `ContextOverflowError`, or after loading).
 *
 * @example Size a prompt by the loaded window
 * ```ts
 * import { LMStudioClient, type ModelInfo } from "@ai-agent/orchestrator";
 * const info: ModelInfo = await new LMStudioClient().modelInfo();
 * console.log(info.id, info.contextLength ?? "unknown", info.source);
 * ```
 */
export interface ModelInfo {
  /** The model id (LM Studio's model key; what `model` in a chat request names). */
  id: string;
  /** Whether the model is loaded now; absent when the source cannot tell. */
  loaded?: boolean;
  /** The context window the loaded model has, in tokens: what a prompt must fit. */
  contextLength?: number;
  /** The largest window the model supports (not what it was loaded with). */
  maxContextLength?: number;
  /** LM Studio: the model was trained for tool use. */
  toolUse?: boolean;
  /** LM Studio: the model takes images. */
  vision?: boolean;
  /** The server's model type, e.g. `"llm"`, `"embedding"`, `"vlm"`. */
  type?: string;
  /** LM Studio: the id of the (first) loaded instance, for `unloadModel()`. */
  instanceId?: string;
  /** Which endpoint said so. */
  source: ModelInfoSource;
}

/**
 * What `loadModel()` reports: the model as really loaded (LM Studio echoes its load config).
 *
 * @example
 * ```ts
 * import { LMStudioClient, type LoadedModel } from "@ai-agent/orchestrator";
 * const client = new LMStudioClient();
 * const loaded: LoadedModel = await client.loadModel("qwen3-4b", { contextLength: 16_384 });
 * await client.unloadModel(loaded.instanceId);
 * ```
 */
export interface LoadedModel extends ModelInfo {
  /** Id of the new instance; pass it to `unloadModel()`. */
  instanceId: string;
  /** Seconds the load took, when the server said. */
  loadTimeSeconds?: number;
}

/** Options of `modelInfo()` and `listModels()`. */
export interface ModelInfoOptions {
  /** Aborts the requests. */
  signal?: AbortSignal;
  /**
   * Ask the server again instead of answering from this client's cache.
   * @default false
   */
  refresh?: boolean;
}

/** Options of `loadModel()`. */
export interface LoadModelOptions {
  /** Context window to load the model with, in tokens. */
  contextLength?: number;
  /** Seconds of idle time after which LM Studio unloads the model. */
  ttl?: number;
  /** Aborts the request (the server may still finish loading). */
  signal?: AbortSignal;
}

/** The server root the native APIs hang off: the base URL without its trailing `/v1`. */
export function serverRoot(baseURL: string): string {
  return baseURL.replace(/\/v1$/, "");
}

// What to ask, in order. The last covers both llama.cpp and plain OpenAI-compatible servers:
// both answer `/v1/models`, only llama.cpp's entries (or its `/props`) carry a window.
type Probe = "lmstudio-v1" | "lmstudio-v0" | "v1-models";
const ORDER: readonly Probe[] = ["lmstudio-v1", "lmstudio-v0", "v1-models"];

/**
 * The model info of one client: tries the sources in order, remembers which one answered,
 * caches the list until asked to refresh, and loads / unloads models on LM Studio.
 */
export class ModelCatalog {
  #http: Http;
  #probe: Probe | undefined;
  #source: ModelInfoSource | undefined;
  #cache: ModelInfo[] | undefined;

  /** Creates the catalog over the client's transport. */
  constructor(http: Http) {
    this.#http = http;
  }

  get #root(): string {
    return serverRoot(this.#http.baseURL);
  }

  /** Every model the server lists, from the cache unless `refresh`. */
  async list(options: ModelInfoOptions = {}): Promise<ModelInfo[]> {
    if (this.#cache && !options.refresh) return this.#cache;
    const { signal } = options;
    // The remembered source first; if it stopped answering (another server on the port),
    // probe again from the top.
    const first = this.#probe;
    const order = first ? [first, ...ORDER.filter((p) => p !== first)] : ORDER;
    for (const probe of order) {
      const answer = await this.#ask(probe, signal);
      if (answer) {
        this.#probe = probe;
        this.#source = answer.source;
        this.#cache = answer.models;
        return answer.models;
      }
    }
    // Unreachable: "v1-models" either answers or throws.
    throw new TypeError("no model source answered");
  }

  /** One model's info; a model the server does not list comes back with only its id. */
  async info(model: string, options: ModelInfoOptions = {}): Promise<ModelInfo> {
    const models = await this.list(options);
    const found = models.find((m) => m.id === model || m.instanceId === model);
    if (found) return found;
    const source = this.#source ?? "openai";
    // llama-server serves its one model under any name.
    if (source === "llama.cpp" && models.length === 1) return { ...models[0]!, id: model };
    // LM Studio lists every downloaded model: one it does not list is not there at all.
    return source.startsWith("lmstudio")
      ? { id: model, loaded: false, source }
      : { id: model, source };
  }

  /** Forgets the cached list (after a load or unload). */
  invalidate(): void {
    this.#cache = undefined;
  }

  /** `POST /api/v1/models/load` with `echo_load_config`; what was really loaded. */
  async load(model: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
    const body: Record<string, unknown> = { model, echo_load_config: true };
    if (options.contextLength !== undefined) body.context_length = options.contextLength;
    if (options.ttl !== undefined) body.ttl = options.ttl;
    const url = `${this.#root}/api/v1/models/load`;
    const json = await this.#native(
      "POST",
      url,
      JSON.stringify(body),
      options.signal,
      "loading models",
    );
    this.invalidate();
    const loaded = loadedModel(model, json);
    if (!loaded) {
      throw new UnsupportedEndpointError(
        `${this.#http.label("POST", url)}: the answer is not a model load (no instance id); ` +
          "loading models is not supported by this server",
        { method: "POST", url, status: 200, body: json },
      );
    }
    this.#probe = "lmstudio-v1";
    return loaded;
  }

  /** `POST /api/v1/models/unload`. */
  async unload(instanceId: string, signal?: AbortSignal): Promise<void> {
    const url = `${this.#root}/api/v1/models/unload`;
    await this.#native(
      "POST",
      url,
      JSON.stringify({ instance_id: instanceId }),
      signal,
      "unloading models",
    );
    this.invalidate();
  }

  /**
   * Calls a native LM Studio endpoint; a server without it (404, or LM Studio's 200
   * "Unexpected endpoint") is an {@link UnsupportedEndpointError}.
   */
  async #native(
    method: string,
    url: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<unknown> {
    const label = this.#http.label(method, url);
    const unsupported = (status: number, serverBody: unknown, cause?: unknown) =>
      new UnsupportedEndpointError(
        `${label}: ${what} is not supported by this server (it needs LM Studio 0.4 or newer's ` +
          "native REST API at /api/v1)",
        { method, url, status, body: serverBody, cause },
      );
    let json: unknown;
    try {
      ({ json } = await this.#http.json(method, url, body, signal));
    } catch (err) {
      // A 404 that names a model ("model not found") is about the model, not the endpoint.
      if (isMissingEndpoint(err) && !(err instanceof ModelNotLoadedError)) {
        throw unsupported((err as APIError).status!, (err as APIError).body, err);
      }
      throw err;
    }
    if (isUnexpectedEndpoint(json)) throw unsupported(200, json);
    return json;
  }

  /** One source's model list, or `undefined` when the server does not offer that source. */
  async #ask(
    probe: Probe,
    signal?: AbortSignal,
  ): Promise<{ source: ModelInfoSource; models: ModelInfo[] } | undefined> {
    const root = this.#root;
    if (probe === "lmstudio-v1") {
      const models = lmStudioV1Models(await this.#get(`${root}/api/v1/models`, signal));
      return models && { source: probe, models };
    }
    if (probe === "lmstudio-v0") {
      const models = lmStudioV0Models(await this.#get(`${root}/api/v0/models`, signal));
      return models && { source: probe, models };
    }
    const url = `${this.#http.baseURL}/models`;
    const { json, status } = await this.#http.json("GET", url, undefined, signal);
    // A 200 error (LM Studio's "Unexpected endpoint" for a base URL without /v1) says why.
    if (isErrorBody(json)) {
      throw serverError(json, {
        prefix: `${this.#http.label("GET", url)}: server returned an error: `,
        method: "GET",
        url,
        status,
      });
    }
    const models = openAIModels(json);
    if (!models) {
      throw new InvalidResponseError(
        `${this.#http.label("GET", url)}: response has no "data" array of models`,
      );
    }
    if (models[0]?.source === "llama.cpp") return { source: "llama.cpp", models };
    // A llama-server whose /v1/models lacks `meta` keeps its window in /props.
    const nCtx = propsContextLength(await this.#get(`${root}/props`, signal));
    if (nCtx === undefined) return { source: "openai", models };
    return {
      source: "llama.cpp",
      models: models.map((m) => ({ ...m, loaded: true, contextLength: nCtx, source: "llama.cpp" })),
    };
  }

  /** A GET whose 404 / 405 / 501 / "Unexpected endpoint" means "not this source" (`undefined`). */
  async #get(url: string, signal?: AbortSignal): Promise<unknown> {
    try {
      const { json } = await this.#http.json("GET", url, undefined, signal);
      return isUnexpectedEndpoint(json) ? undefined : json;
    } catch (err) {
      // A 404, or a 200 that is not JSON (a web UI's page on that path): not this source.
      if (isMissingEndpoint(err) || err instanceof InvalidResponseError) return undefined;
      throw err;
    }
  }
}

/** An HTTP answer that says the path or method does not exist here. */
function isMissingEndpoint(err: unknown): boolean {
  return err instanceof APIError &&
    (err.status === 404 || err.status === 405 || err.status === 501);
}
