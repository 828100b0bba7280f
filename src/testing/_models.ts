/**
 * The fake LM Studio's models: which are loaded, with which context window, and LM Studio's
 * native model endpoints over them (`/api/v1/models`, `/api/v1/models/load`,
 * `/api/v1/models/unload`, `/api/v0/models`). Shapes follow LM Studio's REST API docs
 * (developer/rest/list, load, unload; the v0 page).
 *
 * @module
 */
import type { FakeModel } from "./fake_lmstudio.ts";

/** Largest window a model takes when nothing says otherwise (no test reaches it by accident). */
const DEFAULT_MAX_CONTEXT_LENGTH = 1_048_576;

/** One loaded instance of a model. */
export interface Instance {
  id: string;
  contextLength: number;
}

interface Entry {
  model: FakeModel;
  maxContextLength: number;
  /** The window a load without `context_length` gets. */
  defaultContextLength: number;
  instances: Instance[];
}

/** What a native endpoint answers: a status and a JSON body. */
export interface NativeAnswer {
  status: number;
  body: unknown;
}

/** The models of one fake server and their loaded instances. */
export class ModelRegistry {
  #entries: Entry[];

  constructor(models: readonly (string | FakeModel)[], contextLength: number | undefined) {
    this.#entries = models.map((m) => {
      const model = typeof m === "string" ? { id: m } : m;
      const window = model.contextLength ?? contextLength;
      const maxContextLength = model.maxContextLength ??
        Math.max(DEFAULT_MAX_CONTEXT_LENGTH, window ?? 0);
      const defaultContextLength = window ?? maxContextLength;
      return {
        model,
        maxContextLength,
        defaultContextLength,
        instances: model.loaded === false
          ? []
          : [{ id: model.id, contextLength: defaultContextLength }],
      };
    });
  }

  /** Keys of the models with at least one loaded instance (what `/v1/models` lists). */
  loadedIds(): string[] {
    return this.#entries.filter((e) => e.instances.length > 0).map((e) => e.model.id);
  }

  /**
   * The instance that serves a chat request for `model`: the instance of that id, else the
   * first instance of the model with that key, else (LM Studio serves an unknown name with a
   * loaded model) the first loaded instance; `undefined` when nothing is loaded.
   */
  serving(model: unknown): Instance | undefined {
    const all = this.#entries.flatMap((e) => e.instances);
    return all.find((i) => i.id === model) ??
      this.#entries.find((e) => e.model.id === model)?.instances[0] ?? all[0];
  }

  /** `GET /api/v1/models` (LM Studio 0.4+). */
  listV1(): NativeAnswer {
    return {
      status: 200,
      body: {
        models: this.#entries.map((e) => ({
          type: "llm",
          publisher: "fake-publisher",
          key: e.model.id,
          display_name: e.model.id,
          architecture: "llama",
          quantization: { name: "Q4_K_M", bits_per_weight: 4 },
          size_bytes: 1_000_000,
          params_string: "1B",
          loaded_instances: e.instances.map((i) => ({
            id: i.id,
            config: {
              context_length: i.contextLength,
              eval_batch_size: 512,
              flash_attention: false,
              offload_kv_cache_to_gpu: true,
            },
          })),
          max_context_length: e.maxContextLength,
          format: "gguf",
          capabilities: {
            vision: e.model.vision ?? false,
            trained_for_tool_use: e.model.toolUse ?? true,
          },
          description: null,
        })),
      },
    };
  }

  /** `GET /api/v0/models` (LM Studio 0.3.6+). */
  listV0(): NativeAnswer {
    return {
      status: 200,
      body: {
        object: "list",
        data: this.#entries.map((e) => ({
          id: e.model.id,
          object: "model",
          type: (e.model.vision ?? false) ? "vlm" : "llm",
          publisher: "fake-publisher",
          arch: "llama",
          compatibility_type: "gguf",
          quantization: "Q4_K_M",
          state: e.instances.length > 0 ? "loaded" : "not-loaded",
          max_context_length: e.maxContextLength,
          ...(e.instances[0] ? { loaded_context_length: e.instances[0].contextLength } : {}),
        })),
      },
    };
  }

  /**
   * `POST /api/v1/models/load`: a new instance (LM Studio loads another instance even when
   * one exists; the second is named `<key>:2`). A `context_length` above the model's maximum
   * is refused with 400 (the fake's choice; LM Studio's answer to it is not documented).
   */
  load(body: Record<string, unknown> | undefined): NativeAnswer {
    const key = body?.model;
    const entry = this.#entries.find((e) => e.model.id === key);
    if (typeof key !== "string" || !entry) {
      return bad(404, `Model not found: ${JSON.stringify(key)}`, "model_not_found");
    }
    const requested = body?.context_length;
    if (requested !== undefined) {
      if (typeof requested !== "number" || !Number.isInteger(requested) || requested < 1) {
        return bad(400, "'context_length' must be a positive integer", "invalid_request");
      }
      if (requested > entry.maxContextLength) {
        return bad(
          400,
          `'context_length' ${requested} exceeds the model's maximum of ${entry.maxContextLength}`,
          "invalid_request",
        );
      }
    }
    const contextLength = (requested as number | undefined) ?? entry.defaultContextLength;
    const taken = new Set(entry.instances.map((i) => i.id));
    let id = key;
    for (let n = 2; taken.has(id); n++) id = `${key}:${n}`;
    entry.instances.push({ id, contextLength });
    return {
      status: 200,
      body: {
        type: "llm",
        instance_id: id,
        load_time_seconds: 0.001,
        status: "loaded",
        ...(body?.echo_load_config === true
          ? {
            load_config: {
              context_length: contextLength,
              eval_batch_size: 512,
              flash_attention: false,
              offload_kv_cache_to_gpu: true,
            },
          }
          : {}),
      },
    };
  }

  /** `POST /api/v1/models/unload`. An unknown `instance_id` gets 404 (the fake's choice). */
  unload(body: Record<string, unknown> | undefined): NativeAnswer {
    const id = body?.instance_id;
    for (const e of this.#entries) {
      const at = e.instances.findIndex((i) => i.id === id);
      if (at >= 0) {
        e.instances.splice(at, 1);
        return { status: 200, body: { instance_id: id } };
      }
    }
    return bad(404, `No loaded model instance with id ${JSON.stringify(id)}`, "model_not_found");
  }
}

function bad(status: number, message: string, code: string): NativeAnswer {
  return { status, body: { error: { message, type: "invalid_request_error", code } } };
}
