// The test kit itself ("./testing"): reply builders, the scripted model, the fake's context
// window and LM Studio's native model endpoints, through the public entry point.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  APIError,
  type ChatDelta,
  type ChatMessage,
  defineTool,
  LMStudioClient,
} from "../mod.ts";
import {
  countPromptTokens,
  createFakeLMStudio,
  createScriptedModel,
  envelope,
  type FakeLMStudioOptions,
  native,
  ScriptExhaustedError,
} from "../testing.ts";
import { collect, rejection } from "./_kit/async_kit.ts";

const BASE = "http://fake.test";
const USER: ChatMessage[] = [{ role: "user", content: "hi" }];
const long = (chars: number): ChatMessage[] => [{ role: "user", content: "x".repeat(chars) }];

function post(fake: { fetch: typeof fetch }, path: string, body: unknown): Promise<Response> {
  return fake.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

// deno-lint-ignore no-explicit-any -- JSON bodies, read field by field
async function getJson(fake: { fetch: typeof fetch }, path: string): Promise<[number, any]> {
  const res = await fake.fetch(`${BASE}${path}`);
  return [res.status, await res.json()];
}

/** A GET of `path` on the fake. */
function fetchPath(fake: { fetch: typeof fetch }, path: string): Promise<Response> {
  return fake.fetch(`${BASE}${path}`);
}

/** The `data:` payloads of an SSE body. */
async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
}

describe("reply builders", () => {
  test("envelope.toolCall and envelope.final write the exact envelope JSON, options pass through", () => {
    assert.deepEqual(envelope.toolCall("add", { a: 2, b: 3 }, { chunkBytes: 1, reasoning: "r" }), {
      content: '{"type":"tool_call","tool":"add","arguments":{"a":2,"b":3}}',
      chunkBytes: 1,
      reasoning: "r",
    });
    assert.deepEqual(envelope.final('say "hi"\n', { usage: null }), {
      content: '{"type":"final","content":"say \\"hi\\"\\n"}',
      usage: null,
    });
  });

  test("native.toolCalls and native.final carry tool calls and plain content", () => {
    const calls = [{ name: "add", arguments: { a: 1 } }, { name: "x", arguments: "{}", id: "c" }];
    assert.deepEqual(native.toolCalls(calls, { finishReason: "tool_calls", delayMs: 3 }), {
      toolCalls: calls,
      finishReason: "tool_calls",
      delayMs: 3,
    });
    assert.deepEqual(native.final("20", { reasoning: "think" }), {
      content: "20",
      reasoning: "think",
    });
  });

  test("builders' replies go over the fake's wire as OpenAI tool_calls / content", async () => {
    const fake = createFakeLMStudio({
      replies: [native.toolCalls([{ name: "add", arguments: { a: 2 } }]), envelope.final("ok")],
    });
    const first = await (await post(fake, "/v1/chat/completions", { messages: USER })).json();
    assert.deepEqual(first.choices[0].message.tool_calls, [
      { id: "100", type: "function", function: { name: "add", arguments: '{"a":2}' } },
    ]);
    assert.equal(first.choices[0].finish_reason, "tool_calls");
    const second = await (await post(fake, "/v1/chat/completions", { messages: USER })).json();
    assert.equal(second.choices[0].message.content, '{"type":"final","content":"ok"}');
  });
});

describe("createScriptedModel", () => {
  test("answers call k with reply k (stream and generate counted together) and records each request", async () => {
    const model = createScriptedModel([
      envelope.final("one"),
      native.toolCalls([{ name: "add", arguments: { a: 2, b: 3 } }]),
    ]);
    const messages: ChatMessage[] = [{ role: "user", content: "first" }];
    const r1 = await model.generate({ messages, temperature: 0 });
    assert.equal(r1.text, '{"type":"final","content":"one"}');
    assert.equal(r1.finishReason, "stop");
    messages.push({ role: "assistant", content: "later" }); // not in the recorded copy
    const stream = model.stream({ messages: USER, model: "m" });
    const deltas: ChatDelta[] = await collect(stream);
    const result = await stream.finalResult();
    assert.deepEqual(result.toolCalls, [
      { id: "100", type: "function", function: { name: "add", arguments: '{"a":2,"b":3}' } },
    ]);
    assert.equal(result.finishReason, "tool_calls");
    assert.equal(result.model, "m");
    // Tool-call fragments as the fake streams them: name first, then argument pieces.
    assert.deepEqual(deltas[0]!.toolCalls, [{ index: 0, id: "100", name: "add", arguments: "" }]);
    assert.equal(deltas.map((d) => d.toolCalls?.[0]?.arguments ?? "").join(""), '{"a":2,"b":3}');
    assert.deepEqual(model.calls.map((c) => c.method), ["generate", "stream"]);
    assert.deepEqual(model.requests[0]!.messages, [{ role: "user", content: "first" }]);
    assert.equal(model.requests[0]!.temperature, 0);
  });

  test("streams reasoning first, then content in the fake's tokens; the result joins them", async () => {
    const model = createScriptedModel([{ content: "Hello big world", reasoning: "Think it" }]);
    const stream = model.stream({ messages: USER });
    const deltas = await collect(stream);
    assert.deepEqual(deltas, [
      { text: "", reasoning: "Think" },
      { text: "", reasoning: " it" },
      { text: "Hello", reasoning: "" },
      { text: " big", reasoning: "" },
      { text: " world", reasoning: "" },
    ]);
    const result = await stream.finalResult();
    assert.equal(result.text, "Hello big world");
    assert.equal(result.reasoning, "Think it");
  });

  test("finalResult() without iterating reads the whole reply; usage counts the prompt like the fake", async () => {
    const model = createScriptedModel([{ deltas: ["a", "b", "c"] }, { content: "x", usage: null }]);
    const request = { messages: USER };
    const result = await model.stream(request).finalResult();
    assert.equal(result.text, "abc");
    const prompt = countPromptTokens(request);
    assert.deepEqual(result.usage, {
      promptTokens: prompt,
      completionTokens: 3,
      totalTokens: prompt + 3,
    });
    assert.equal((await model.generate(request)).usage, undefined);
  });

  test("a stream records its request only once iteration starts", async () => {
    const model = createScriptedModel([envelope.final("a")]);
    const stream = model.stream({ messages: USER });
    assert.equal(model.calls.length, 0);
    await stream.finalResult();
    await collect(stream);
    assert.equal(model.calls.length, 1);
  });

  test("running out of script throws ScriptExhaustedError naming the request number", async () => {
    const model = createScriptedModel([envelope.final("only")]);
    await model.generate({ messages: USER });
    const err = await rejection(model.generate({ messages: USER }));
    assert.ok(err instanceof ScriptExhaustedError);
    assert.equal(err.name, "ScriptExhaustedError");
    assert.equal(err.index, 1);
    assert.match(err.message, /request #2 \(the script has 1 reply\)/);
    const streamErr = await rejection(collect(model.stream({ messages: USER })));
    assert.ok(streamErr instanceof ScriptExhaustedError);
    assert.match(streamErr.message, /request #3/);
  });

  test("an Error entry rejects that call; HTTP-only fields are refused with a TypeError", async () => {
    const boom = new Error("server fell over");
    const model = createScriptedModel([boom, { status: 500 }, envelope.final("fine")]);
    assert.equal(await rejection(model.generate({ messages: USER })), boom);
    const err = await rejection(model.stream({ messages: USER }).finalResult());
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /reply 1 sets `status`, which needs HTTP/);
    assert.equal(
      (await model.generate({ messages: USER })).text,
      '{"type":"final","content":"fine"}',
    );
  });

  test("replies may be a function of (request, index)", async () => {
    const model = createScriptedModel((req, i) => native.final(`${i}:${req.messages.length}`));
    assert.equal((await model.generate({ messages: USER })).text, "0:1");
    assert.equal((await model.generate({ messages: [...USER, ...USER] })).text, "1:2");
  });

  test("an aborted request rejects with the signal's reason", async () => {
    const model = createScriptedModel([envelope.final("a b c d"), envelope.final("x")]);
    const controller = new AbortController();
    const stream = model.stream({ messages: USER, signal: controller.signal });
    const seen: ChatDelta[] = [];
    const err = await rejection((async () => {
      for await (const d of stream) {
        seen.push(d);
        controller.abort(new Error("stop"));
      }
    })());
    assert.equal((err as Error).message, "stop");
    assert.equal(seen.length, 1);
    assert.equal(
      ((await rejection(model.generate({ messages: USER, signal: controller.signal }))) as Error)
        .message,
      "stop",
    );
  });
});

describe("fake LM Studio: recorded requests are typed chat requests", () => {
  test("body.messages is a ChatMessage[]; unknown fields stay reachable", async () => {
    const fake = createFakeLMStudio({ replies: [envelope.final("x")] });
    await post(fake, "/v1/chat/completions", { messages: USER, draft_model: "tiny" });
    const messages: ChatMessage[] = fake.chatRequests[0]!.body!.messages;
    assert.deepEqual(messages, USER);
    assert.equal(fake.chatRequests[0]!.body!.draft_model, "tiny");
  });

  test("a script that runs out answers 400 naming the request number", async () => {
    const fake = createFakeLMStudio({ replies: [envelope.final("x")] });
    await post(fake, "/v1/chat/completions", { messages: USER });
    const res = await post(fake, "/v1/chat/completions", { messages: USER });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /script exhausted .*chat request #2/);
  });

  test("an agent whose script runs out fails at once, not retried, naming the request", async () => {
    const fake = createFakeLMStudio({ replies: [envelope.toolCall("missing", {})] });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m", retryBaseDelayMs: 5_000 });
    const started = Date.now();
    const err = await new Agent({ client }).run("q").catch((e) => e);
    assert.ok(err instanceof APIError, String(err));
    assert.match(err.message, /script exhausted .*chat request #2/);
    assert.equal(fake.chatRequests.length, 2, "no retry of the exhausted request");
    assert.ok(Date.now() - started < 4_000, "no retry delay");
  });
});

describe("fake LM Studio: context window", () => {
  const lmOverflow = (n: number, m: number) => ({
    error: `Trying to keep the first ${n} tokens when context the overflows. However, the model ` +
      `is loaded with context length of only ${m} tokens, which is not enough. Try to load the ` +
      "model with a larger context length, or provide a shorter input",
  });

  test("countPromptTokens: ceil(UTF-8 bytes of JSON(messages) + JSON(tools) / 4), response_format not counted", () => {
    const messages: ChatMessage[] = [{ role: "user", content: "é" }]; // 2 bytes in UTF-8
    const json = JSON.stringify(messages); // 30 + 2 bytes
    assert.equal(new TextEncoder().encode(json).length, 32);
    assert.equal(countPromptTokens({ messages }), 8);
    const tools = [{ type: "function" as const, function: { name: "a", parameters: {} } }];
    const response_format = { type: "text" as const };
    const bytes = 32 + JSON.stringify(tools).length;
    assert.equal(
      countPromptTokens(
        { messages, tools, response_format } as Parameters<typeof countPromptTokens>[0],
      ),
      Math.ceil(bytes / 4),
    );
    assert.equal(countPromptTokens({ messages: long(2000) }), 508);
  });

  test("usage.prompt_tokens is the count, when the script gives no usage (JSON and stream)", async () => {
    const fake = createFakeLMStudio({ replies: [{ content: "a b" }, { content: "a b" }] });
    const body = { messages: long(101) };
    const json = await (await post(fake, "/v1/chat/completions", body)).json();
    assert.deepEqual(json.usage, {
      prompt_tokens: countPromptTokens(body),
      completion_tokens: 2,
      total_tokens: countPromptTokens(body) + 2,
    });
    const data = await sseData(
      await post(fake, "/v1/chat/completions", {
        ...body,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const usage = JSON.parse(data.at(-2)!).usage;
    assert.equal(usage.prompt_tokens, countPromptTokens(body));
  });

  test("a prompt past contextLength gets LM Studio's 400, streamed or not, and uses no reply", async () => {
    const fake = createFakeLMStudio({ contextLength: 100, replies: [envelope.final("fits")] });
    const tooLong = { messages: long(400) }; // 430 bytes → 108 tokens
    for (const stream of [false, true]) {
      const res = await post(fake, "/v1/chat/completions", { ...tooLong, stream });
      assert.equal(res.status, 400);
      assert.match(res.headers.get("content-type")!, /application\/json/);
      assert.deepEqual(await res.json(), lmOverflow(108, 100));
    }
    const fits = { messages: long(370) }; // 400 bytes → 100 tokens: just fits
    const ok = await post(fake, "/v1/chat/completions", fits);
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).usage.prompt_tokens, 100);
  });

  test("a positive max_tokens counts against the window; -1 does not", async () => {
    const fake = createFakeLMStudio({
      contextLength: 100,
      replies: [{ content: "a" }, { content: "b" }],
    });
    const body = { messages: long(250) }; // 280 bytes → 70 tokens
    const over = await post(fake, "/v1/chat/completions", { ...body, max_tokens: 31 });
    assert.equal(over.status, 400);
    assert.deepEqual(await over.json(), lmOverflow(70, 100));
    for (const max_tokens of [30, -1]) {
      assert.equal((await post(fake, "/v1/chat/completions", { ...body, max_tokens })).status, 200);
    }
  });

  test('overflow: "llamacpp" answers llama-server\'s exceed_context_size_error', async () => {
    const fake = createFakeLMStudio({ contextLength: 50, overflow: "llamacpp" });
    const res = await post(fake, "/v1/chat/completions", { messages: long(400), stream: true });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: {
        code: 400,
        message:
          "request (108 tokens) exceeds the available context size (50 tokens), try increasing it",
        type: "exceed_context_size_error",
        n_prompt_tokens: 108,
        n_ctx: 50,
      },
    });
  });

  test('overflow: "lmstudio-stream" sends the message as an SSE error event to a streamed request', async () => {
    const fake = createFakeLMStudio({ contextLength: 50, overflow: "lmstudio-stream" });
    const res = await post(fake, "/v1/chat/completions", { messages: long(400), stream: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.deepEqual((await sseData(res)).map((d) => JSON.parse(d)), [lmOverflow(108, 50)]);
    const plain = await post(fake, "/v1/chat/completions", { messages: long(400) });
    assert.equal(plain.status, 400);
  });

  test("each model has its own window; the request's model picks it", async () => {
    const fake = createFakeLMStudio({
      models: [{ id: "small", contextLength: 50 }, { id: "big", contextLength: 1000 }],
      replies: () => ({ content: "ok" }),
    });
    const body = { messages: long(400) };
    assert.equal(
      (await post(fake, "/v1/chat/completions", { ...body, model: "small" })).status,
      400,
    );
    assert.equal((await post(fake, "/v1/chat/completions", { ...body, model: "big" })).status, 200);
    // An unknown name is served by the first loaded model, as LM Studio does.
    assert.equal(
      (await post(fake, "/v1/chat/completions", { ...body, model: "nope" })).status,
      400,
    );
  });
});

describe("fake LM Studio: native model endpoints", () => {
  const options: FakeLMStudioOptions = {
    models: [
      { id: "qwen3-4b", contextLength: 4096, maxContextLength: 32768, vision: true },
      { id: "idle", loaded: false, toolUse: false },
    ],
    replies: () => ({ content: "ok" }),
  };

  test("GET /api/v1/models lists every model with its loaded instances (LM Studio 0.4+ shape)", async () => {
    const [status, body] = await getJson(createFakeLMStudio(options), "/api/v1/models");
    assert.equal(status, 200);
    assert.deepEqual(body.models[0], {
      type: "llm",
      publisher: "fake-publisher",
      key: "qwen3-4b",
      display_name: "qwen3-4b",
      architecture: "llama",
      quantization: { name: "Q4_K_M", bits_per_weight: 4 },
      size_bytes: 1_000_000,
      params_string: "1B",
      loaded_instances: [{
        id: "qwen3-4b",
        config: {
          context_length: 4096,
          eval_batch_size: 512,
          flash_attention: false,
          offload_kv_cache_to_gpu: true,
        },
      }],
      max_context_length: 32768,
      format: "gguf",
      capabilities: { vision: true, trained_for_tool_use: true },
      description: null,
    });
    assert.deepEqual(body.models[1].loaded_instances, []);
    assert.equal(body.models[1].max_context_length, 1_048_576);
    assert.deepEqual(body.models[1].capabilities, { vision: false, trained_for_tool_use: false });
  });

  test("GET /api/v0/models gives state and loaded_context_length (v0 shape)", async () => {
    const [status, body] = await getJson(createFakeLMStudio(options), "/api/v0/models");
    assert.equal(status, 200);
    assert.equal(body.object, "list");
    assert.deepEqual(body.data[0], {
      id: "qwen3-4b",
      object: "model",
      type: "vlm",
      publisher: "fake-publisher",
      arch: "llama",
      compatibility_type: "gguf",
      quantization: "Q4_K_M",
      state: "loaded",
      max_context_length: 32768,
      loaded_context_length: 4096,
    });
    assert.equal(body.data[1].state, "not-loaded");
    assert.ok(!("loaded_context_length" in body.data[1]));
  });

  test("/v1/models lists only loaded models; the native paths are not taken for it", async () => {
    const fake = createFakeLMStudio(options);
    const [, list] = await getJson(fake, "/v1/models");
    assert.deepEqual(list.data.map((m: { id: string }) => m.id), ["qwen3-4b"]);
    const [, v1] = await getJson(fake, "/api/v1/models");
    assert.ok(Array.isArray(v1.models) && !("data" in v1));
  });

  test("loading with context_length changes what is reported and the window enforced", async () => {
    const fake = createFakeLMStudio(options);
    const res = await post(fake, "/api/v1/models/load", {
      model: "idle",
      context_length: 60,
      echo_load_config: true,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      type: "llm",
      instance_id: "idle",
      load_time_seconds: 0.001,
      status: "loaded",
      load_config: {
        context_length: 60,
        eval_batch_size: 512,
        flash_attention: false,
        offload_kv_cache_to_gpu: true,
      },
    });
    const [, v1] = await getJson(fake, "/api/v1/models");
    assert.deepEqual(v1.models[1].loaded_instances[0], {
      id: "idle",
      config: {
        context_length: 60,
        eval_batch_size: 512,
        flash_attention: false,
        offload_kv_cache_to_gpu: true,
      },
    });
    const [, v0] = await getJson(fake, "/api/v0/models");
    assert.equal(v0.data[1].loaded_context_length, 60);
    const [, list] = await getJson(fake, "/v1/models");
    assert.deepEqual(list.data.map((m: { id: string }) => m.id), ["qwen3-4b", "idle"]);
    const body = { model: "idle", messages: long(400) };
    const over = await post(fake, "/v1/chat/completions", body);
    assert.equal(over.status, 400);
    assert.match((await over.json()).error, /context length of only 60 tokens/);
  });

  test("loading a loaded model adds an instance <key>:2; without echo_load_config no load_config", async () => {
    const fake = createFakeLMStudio(options);
    const res = await post(fake, "/api/v1/models/load", { model: "qwen3-4b" });
    const body = await res.json();
    assert.equal(body.instance_id, "qwen3-4b:2");
    assert.ok(!("load_config" in body));
    const [, v1] = await getJson(fake, "/api/v1/models");
    assert.deepEqual(v1.models[0].loaded_instances.map((i: { id: string }) => i.id), [
      "qwen3-4b",
      "qwen3-4b:2",
    ]);
    assert.equal(v1.models[0].loaded_instances[1].config.context_length, 4096);
  });

  test("a load that cannot be done is refused: unknown model 404, context above the maximum 400", async () => {
    const fake = createFakeLMStudio(options);
    assert.equal((await post(fake, "/api/v1/models/load", { model: "nope" })).status, 404);
    const tooBig = await post(fake, "/api/v1/models/load", {
      model: "qwen3-4b",
      context_length: 65536,
    });
    assert.equal(tooBig.status, 400);
    assert.match((await tooBig.json()).error.message, /exceeds the model's maximum of 32768/);
  });

  test("unloading the last instance leaves no model loaded", async () => {
    const fake = createFakeLMStudio(options);
    const res = await post(fake, "/api/v1/models/unload", { instance_id: "qwen3-4b" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { instance_id: "qwen3-4b" });
    assert.deepEqual((await getJson(fake, "/v1/models"))[1].data, []);
    const chat = await post(fake, "/v1/chat/completions", { messages: USER });
    assert.equal(chat.status, 400);
    assert.match((await chat.json()).error.message, /^No models loaded/);
    assert.equal(
      (await post(fake, "/api/v1/models/unload", { instance_id: "qwen3-4b" })).status,
      404,
    );
  });

  test('nativeApi: "v0" serves only /api/v0/models; false serves none, /v1/models still works', async () => {
    const v0 = createFakeLMStudio({ ...options, nativeApi: "v0" });
    assert.equal((await getJson(v0, "/api/v0/models"))[0], 200);
    // What LM Studio answers a path it does not serve: HTTP 200 with its exact error body.
    const unexpected = async (res: Response, route: string) => {
      assert.equal(res.status, 200, route);
      assert.deepEqual(await res.json(), { error: `Unexpected endpoint or method. (${route})` });
    };
    await unexpected(await fetchPath(v0, "/api/v1/models"), "GET /api/v1/models");
    await unexpected(
      await post(v0, "/api/v1/models/load", { model: "idle" }),
      "POST /api/v1/models/load",
    );
    const none = createFakeLMStudio({ ...options, nativeApi: false });
    await unexpected(await fetchPath(none, "/api/v0/models"), "GET /api/v0/models");
    await unexpected(await fetchPath(none, "/api/v1/models"), "GET /api/v1/models");
    await unexpected(
      await post(none, "/api/v1/models/unload", { instance_id: "qwen3-4b" }),
      "POST /api/v1/models/unload",
    );
    assert.equal((await getJson(none, "/v1/models"))[0], 200);
  });

  test("modelsStatus answers every model listing", async () => {
    const fake = createFakeLMStudio({ ...options, modelsStatus: 503 });
    for (const path of ["/v1/models", "/api/v1/models", "/api/v0/models"]) {
      assert.equal((await getJson(fake, path))[0], 503, path);
    }
  });
});

describe("the kit drives an Agent", () => {
  const add = defineTool({
    name: "add",
    description: "Adds two numbers",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => a + b,
  });

  for (const protocol of ["envelope", "native"] as const) {
    const script = protocol === "envelope"
      ? [envelope.toolCall("add", { a: 2, b: 3 }), envelope.final("5")]
      : [native.toolCalls([{ name: "add", arguments: { a: 2, b: 3 } }]), native.final("5")];

    test(`${protocol}: a scripted model (no HTTP) runs a tool call and the answer`, async () => {
      const model = createScriptedModel(script);
      const result = await new Agent({ client: model, tools: [add], protocol }).run("2 + 3?");
      assert.equal(result.text, "5");
      assert.equal(result.steps, 2);
      assert.equal(model.calls.length, 2);
      // The tool's result went back to the model in the second request.
      assert.ok(JSON.stringify(model.requests[1]!.messages).includes("5"));
      assert.ok(model.requests[1]!.messages.length > model.requests[0]!.messages.length);
    });

    test(`${protocol}: the same builders script the fake server for a real client`, async () => {
      const fake = createFakeLMStudio({ replies: script });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "fake-model", maxRetries: 0 });
      const result = await new Agent({ client, tools: [add], protocol }).run("2 + 3?");
      assert.equal(result.text, "5");
      assert.equal(fake.chatRequests.length, 2);
    });
  }
});
