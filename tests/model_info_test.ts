// Model info and lifecycle against stub servers built from fixtures (tests/fixtures/model_info/,
// each naming its source): which endpoint each server kind answers, what the loaded window is,
// what is remembered and cached per client, and what a server without LM Studio's native API
// says when asked to load a model.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { APIError, InvalidResponseError, LMStudioClient } from "../mod.ts";
import { UnsupportedEndpointError } from "../src/errors.ts";
import {
  lmStudioV0Models,
  lmStudioV1Models,
  loadedModel,
  modelIds,
  openAIModels,
  propsContextLength,
} from "../src/_wire.ts";
import { assertInstance, fixture } from "./_kit/client_kit.ts";
import { rejection } from "./_kit/async_kit.ts";

const BASE = "http://127.0.0.1:1234/v1";
const ROOT = "http://127.0.0.1:1234";

/** A fixture's `{ status?, body }`. */
function load(name: string): { status?: number; body: unknown } {
  return JSON.parse(new TextDecoder().decode(fixture(`model_info/${name}`)));
}

/** A reply: a fixture name, or a status alone (404 with llama-server's body). */
type Route = string | number;

interface Sent {
  method: string;
  url: string;
  body: unknown;
}

/** A client on a stub server that answers `routes["GET /path"]`, 404 for everything else. */
function stub(routes: Record<string, Route>, model = "m") {
  const sent: Sent[] = [];
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    sent.push({
      method,
      url,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    });
    const route = routes[`${method} ${new URL(url).pathname}`];
    if (route === undefined || typeof route === "number") {
      const status = typeof route === "number" ? route : 404;
      return Promise.resolve(Response.json(load("llamacpp_404.json").body, { status }));
    }
    const f = load(route);
    return Promise.resolve(Response.json(f.body, { status: f.status ?? 200 }));
  }) as typeof globalThis.fetch;
  const client = new LMStudioClient({ fetch, baseURL: BASE, model, maxRetries: 0 });
  return { client, sent, urls: () => sent.map((s) => `${s.method} ${s.url}`) };
}

const LMSTUDIO_V1 = {
  "GET /api/v1/models": "lmstudio_v1_models.json",
  "POST /api/v1/models/load": "lmstudio_load_response.json",
  "POST /api/v1/models/unload": "lmstudio_unload_response.json",
};
// LM Studio before 0.4: the v1 paths get its 200 "Unexpected endpoint" body.
const LMSTUDIO_V0 = {
  "GET /api/v1/models": "lmstudio_unexpected_endpoint.json",
  "POST /api/v1/models/load": "lmstudio_unexpected_endpoint.json",
  "POST /api/v1/models/unload": "lmstudio_unexpected_endpoint.json",
  "GET /api/v0/models": "lmstudio_v0_models.json",
};
const LLAMACPP = { "GET /v1/models": "llamacpp_models_512.json" };

describe("modelInfo() and listModels()", () => {
  test("LM Studio 0.4+: the loaded window from /api/v1/models at the server root", async () => {
    const { client, urls } = stub(LMSTUDIO_V1);
    const info = await client.modelInfo("gemma-3-270m-it-qat");
    assert.deepEqual(info, {
      id: "gemma-3-270m-it-qat",
      loaded: true,
      instanceId: "gemma-3-270m-it-qat",
      contextLength: 4096,
      maxContextLength: 32768,
      toolUse: false,
      vision: false,
      type: "llm",
      source: "lmstudio-v1",
    });
    assert.deepEqual(urls(), [`GET ${ROOT}/api/v1/models`]);
    const all = await client.listModels();
    assert.deepEqual(all.map((m) => [m.id, m.loaded, m.contextLength]), [
      ["gemma-3-270m-it-qat", true, 4096],
      ["text-embedding-nomic-embed-text-v1.5-embedding", false, undefined],
    ]);
    assert.equal(urls().length, 1, "listModels() answered from the cache");
  });

  test("the answer is cached per client; refresh asks again, the remembered source first", async () => {
    const { client, urls } = stub(LMSTUDIO_V0);
    const first = await client.modelInfo("meta-llama-3.1-8b-instruct");
    assert.equal(first.source, "lmstudio-v0");
    assert.deepEqual(urls(), [`GET ${ROOT}/api/v1/models`, `GET ${ROOT}/api/v0/models`]);
    await client.modelInfo("meta-llama-3.1-8b-instruct");
    assert.equal(urls().length, 2, "cached");
    await client.modelInfo("meta-llama-3.1-8b-instruct", { refresh: true });
    assert.deepEqual(urls().slice(2), [`GET ${ROOT}/api/v0/models`], "v0 is remembered");
  });

  test("LM Studio 0.3: its 200 'Unexpected endpoint' on v1 means 'try v0'", async () => {
    const { client } = stub(LMSTUDIO_V0);
    assert.deepEqual(await client.modelInfo("meta-llama-3.1-8b-instruct"), {
      id: "meta-llama-3.1-8b-instruct",
      loaded: true,
      contextLength: 8192,
      maxContextLength: 131072,
      type: "llm",
      source: "lmstudio-v0",
    });
    const vlm = await client.modelInfo("qwen2-vl-7b-instruct");
    assert.equal(vlm.loaded, false);
    assert.equal(vlm.contextLength, undefined);
    assert.equal(vlm.vision, true);
  });

  test("llama.cpp: meta.n_ctx of /v1/models is the window (-c 768 serves 512)", async () => {
    const { client, urls } = stub(LLAMACPP, "tiny-peer");
    const info = await client.modelInfo();
    assert.deepEqual(info, {
      id: "tiny-peer",
      loaded: true,
      contextLength: 512,
      maxContextLength: 8192,
      source: "llama.cpp",
    });
    assert.deepEqual(urls(), [
      `GET ${ROOT}/api/v1/models`,
      `GET ${ROOT}/api/v0/models`,
      `GET ${BASE}/models`,
    ]);
    // llama-server serves its one model under any name.
    assert.equal((await client.modelInfo("any-name")).contextLength, 512);
  });

  test("llama.cpp without meta: the window from /props", async () => {
    const { client } = stub({
      "GET /v1/models": "openai_models.json",
      "GET /props": "llamacpp_props.json",
    });
    const info = await client.modelInfo("Qwen/Qwen3-8B");
    assert.equal(info.source, "llama.cpp");
    assert.equal(info.contextLength, 512);
  });

  test("any other OpenAI-compatible server: the ids, everything else unknown", async () => {
    const { client } = stub({ "GET /v1/models": "openai_models.json" });
    assert.deepEqual(await client.listModels(), [{ id: "Qwen/Qwen3-8B", source: "openai" }]);
    assert.deepEqual(await client.modelInfo("other"), { id: "other", source: "openai" });
  });

  test("a model LM Studio does not list is not loaded", async () => {
    const { client } = stub(LMSTUDIO_V1);
    assert.deepEqual(await client.modelInfo("not-downloaded"), {
      id: "not-downloaded",
      loaded: false,
      source: "lmstudio-v1",
    });
  });

  test("an auth failure is an error, not a silent fall back to another source", async () => {
    const { client, urls } = stub({ "GET /api/v1/models": 401 });
    const err = assertInstance(await rejection(client.modelInfo("m")), APIError);
    assert.equal(err.status, 401);
    assert.equal(urls().length, 1);
  });

  test("a server answering every path with an endless event stream: typed error, no hang", async () => {
    const fetch = (() =>
      Promise.resolve(
        new Response(new ReadableStream({ start() {} }), {
          headers: { "content-type": "text/event-stream" },
        }),
      )) as typeof globalThis.fetch;
    const client = new LMStudioClient({ fetch, baseURL: BASE, model: "m", maxRetries: 0 });
    assertInstance(await rejection(client.modelInfo("m")), InvalidResponseError);
  });

  test("the signal aborts the lookup with its reason", async () => {
    const { client } = stub(LMSTUDIO_V1);
    const controller = new AbortController();
    const reason = new Error("stop");
    controller.abort(reason);
    assert.equal(await rejection(client.modelInfo("m", { signal: controller.signal })), reason);
  });
});

describe("loadModel() and unloadModel()", () => {
  test("loadModel() posts model, context_length, ttl and echo_load_config; reports what loaded", async () => {
    const { client, sent } = stub(LMSTUDIO_V1);
    await client.modelInfo("gemma-3-270m-it-qat");
    const loaded = await client.loadModel("openai/gpt-oss-20b", { contextLength: 16384, ttl: 600 });
    assert.deepEqual(loaded, {
      id: "openai/gpt-oss-20b",
      instanceId: "openai/gpt-oss-20b",
      loaded: true,
      contextLength: 16384,
      loadTimeSeconds: 9.099,
      type: "llm",
      source: "lmstudio-v1",
    });
    const post = sent.at(-1)!;
    assert.equal(`${post.method} ${post.url}`, `POST ${ROOT}/api/v1/models/load`);
    assert.deepEqual(post.body, {
      model: "openai/gpt-oss-20b",
      echo_load_config: true,
      context_length: 16384,
      ttl: 600,
    });
    // Loading changed what is loaded: the next modelInfo() asks the server again.
    await client.modelInfo("gemma-3-270m-it-qat");
    assert.equal(sent.at(-1)!.url, `${ROOT}/api/v1/models`);
  });

  test("an earlier LM Studio 0.4 load answer (model_instance_id, config) reads the same", async () => {
    const { client } = stub({ "POST /api/v1/models/load": "lmstudio_load_response_early.json" });
    const loaded = await client.loadModel("openai/gpt-oss-20b");
    assert.equal(loaded.instanceId, "openai/gpt-oss-20b");
    assert.equal(loaded.contextLength, 16384);
  });

  test("unloadModel() posts instance_id", async () => {
    const { client, sent } = stub(LMSTUDIO_V1);
    await client.unloadModel("openai/gpt-oss-20b");
    assert.deepEqual(sent.map((s) => [s.method, s.url, s.body]), [
      ["POST", `${ROOT}/api/v1/models/unload`, { instance_id: "openai/gpt-oss-20b" }],
    ]);
  });

  test("a server without the endpoints: UnsupportedEndpointError, not a 404 dump", async () => {
    for (
      const [name, routes, status] of [
        ["llama.cpp (404)", LLAMACPP, 404],
        ["LM Studio 0.3 (200 'Unexpected endpoint')", LMSTUDIO_V0, 200],
      ] as const
    ) {
      const { client } = stub(routes);
      for (
        const call of [
          () => client.loadModel("m", { contextLength: 8192 }),
          () => client.unloadModel("m"),
        ]
      ) {
        const err = assertInstance(await rejection(call()), UnsupportedEndpointError);
        assert.ok(err instanceof APIError);
        assert.equal(err.name, "UnsupportedEndpointError");
        assert.equal(err.status, status, name);
        assert.match(err.message, /not supported by this server/);
        assert.match(err.message, /LM Studio 0\.4/);
      }
    }
  });

  test("bad arguments are TypeError / RangeError before any request", async () => {
    const { client, sent } = stub(LMSTUDIO_V1);
    assertInstance(await rejection(client.loadModel("")), TypeError);
    assertInstance(await rejection(client.loadModel("m", { contextLength: 0 })), RangeError);
    assertInstance(await rejection(client.loadModel("m", { contextLength: 1.5 })), RangeError);
    assertInstance(await rejection(client.unloadModel("")), TypeError);
    assert.equal(sent.length, 0);
  });

  test("ttl on a chat request reaches the server", async () => {
    const { client, sent } = stub({});
    await rejection(client.generate({ messages: [{ role: "user", content: "hi" }], ttl: 300 }));
    assert.equal((sent[0]!.body as { ttl?: number }).ttl, 300);
  });
});

describe("model list readers (src/_wire.ts)", () => {
  test("a wrongly typed optional field is ignored; a list without string ids is no list", () => {
    assert.deepEqual(
      lmStudioV1Models({
        models: [{
          key: "a",
          max_context_length: "4096",
          capabilities: null,
          loaded_instances: [{ id: "a:2", config: { context_length: 2048 } }],
        }],
      }),
      [{ id: "a", loaded: true, instanceId: "a:2", contextLength: 2048, source: "lmstudio-v1" }],
    );
    assert.equal(lmStudioV1Models({ models: [{ id: "a" }] }), undefined, "v1 entries have a key");
    assert.deepEqual(
      lmStudioV0Models({ data: [{ id: "b", state: "not-loaded", capabilities: ["tool_use"] }] }),
      [{ id: "b", loaded: false, toolUse: true, source: "lmstudio-v0" }],
    );
    assert.deepEqual(
      openAIModels({ data: [{ id: "x", meta: { n_ctx: 512, n_ctx_train: "big" } }] }),
      [{ id: "x", loaded: true, contextLength: 512, source: "llama.cpp" }],
    );
    assert.deepEqual(openAIModels({ data: [{ id: "y", meta: null }] }), [
      { id: "y", source: "openai" },
    ]);
    assert.equal(openAIModels({ data: [{ id: 1 }] }), undefined);
    assert.equal(modelIds({ object: "list" }), undefined);
    assert.equal(propsContextLength({ default_generation_settings: { n_ctx: "512" } }), undefined);
    assert.equal(propsContextLength({ default_generation_settings: { n_ctx: 512 } }), 512);
    assert.equal(loadedModel("m", { instance_id: "" }), undefined, "no instance id, no load");
    assert.deepEqual(
      loadedModel("m", { instance_id: "m:1", load_config: { context_length: 8192 } }),
      {
        id: "m",
        instanceId: "m:1",
        loaded: true,
        contextLength: 8192,
        source: "lmstudio-v1",
      },
    );
  });
});
