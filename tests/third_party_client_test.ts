// A third-party client (the `openai` npm package, as pinned in bench/package.json) pointed at
// the test kit gets what it would get from LM Studio: text, the usage chunk only when asked,
// native tool calls, and LM Studio's HTTP 200 "Unexpected endpoint" answer for a base URL
// without /v1. In-process (the kit's fetch) and over a loopback socket.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { createFakeLMStudio, type FakeLMStudioOptions } from "../testing.ts";
import { serve } from "./_kit/serve.ts";

const USER = [{ role: "user" as const, content: "hi" }];
const ORIGIN = "http://fake.test";

type Mode = "in-process" | "socket";

/** Runs `fn` with an OpenAI client on the fake, in-process or over a real socket. */
async function withOpenAI(
  mode: Mode,
  options: FakeLMStudioOptions,
  fn: (origin: string, make: (baseURL: string) => OpenAI) => Promise<void>,
): Promise<void> {
  const fake = createFakeLMStudio(options);
  const make = (baseURL: string, viaFetch: boolean) =>
    new OpenAI({
      apiKey: "lm-studio",
      baseURL,
      maxRetries: 0,
      ...(viaFetch ? { fetch: fake.fetch } : {}),
    });
  if (mode === "in-process") return await fn(ORIGIN, (b) => make(b, true));
  const server = await serve(fake.handler);
  try {
    await fn(server.origin, (b) => make(b, false));
  } finally {
    await server.close();
  }
}

for (const mode of ["in-process", "socket"] as const) {
  describe(`the openai client against the test kit (${mode})`, () => {
    test("a stream without stream_options has no usage chunk: every chunk has choices[0]", async () => {
      await withOpenAI(mode, { replies: [{ content: "Hello there, world" }] }, async (o, make) => {
        const stream = await make(`${o}/v1`).chat.completions.create({
          model: "fake-model",
          messages: USER,
          stream: true,
        });
        const text: string[] = [];
        for await (const chunk of stream) {
          // What code written against LM Studio / OpenAI does; crashes on a `choices: []` chunk.
          assert.ok(chunk.choices[0], `a chunk without choices: ${JSON.stringify(chunk)}`);
          text.push(chunk.choices[0].delta.content ?? "");
          assert.ok(!chunk.usage, `usage sent unasked: ${JSON.stringify(chunk)}`);
        }
        assert.equal(text.join(""), "Hello there, world");
      });
    });

    test("with include_usage the last chunk is choices: [] with usage", async () => {
      await withOpenAI(mode, { replies: [{ content: "a b c" }] }, async (o, make) => {
        const stream = await make(`${o}/v1`).chat.completions.create({
          model: "fake-model",
          messages: USER,
          stream: true,
          stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);
        const last = chunks.at(-1)!;
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage?.completion_tokens, 3);
        assert.ok((last.usage?.prompt_tokens ?? 0) > 0);
        assert.ok(chunks.slice(0, -1).every((c) => c.choices.length === 1));
      });
    });

    test("a non-streamed completion: text and usage", async () => {
      await withOpenAI(mode, { replies: [{ content: "Four." }] }, async (o, make) => {
        const r = await make(`${o}/v1`).chat.completions.create({
          model: "fake-model",
          messages: USER,
        });
        assert.equal(r.choices[0]?.message.content, "Four.");
        assert.equal(r.choices[0]?.finish_reason, "stop");
        assert.equal(r.usage?.completion_tokens, 1);
      });
    });

    test("streamed native tool calls are reassembled by the openai stream helper", async () => {
      const replies = [{
        toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }, {
          name: "mul",
          arguments: { a: 4, b: 5 },
        }],
      }];
      await withOpenAI(mode, { replies }, async (o, make) => {
        const final = await make(`${o}/v1`).chat.completions.stream({
          model: "fake-model",
          messages: USER,
          tools: [{ type: "function", function: { name: "add", parameters: {} } }, {
            type: "function",
            function: { name: "mul", parameters: {} },
          }],
        }).finalChatCompletion();
        const choice = final.choices[0]!;
        assert.equal(choice.finish_reason, "tool_calls");
        const calls = (choice.message.tool_calls ?? []).map((c) =>
          c.type === "function" ? [c.function.name, JSON.parse(c.function.arguments)] : []
        );
        assert.deepEqual(calls, [["add", { a: 2, b: 3 }], ["mul", { a: 4, b: 5 }]]);
      });
    });

    test("a base URL without /v1 gets LM Studio's HTTP 200 'Unexpected endpoint' body", async () => {
      await withOpenAI(mode, { replies: [{ content: "never" }] }, async (o, make) => {
        const client = make(o);
        const { data, response } = await client.chat.completions.create({
          model: "fake-model",
          messages: USER,
        }).withResponse();
        assert.equal(response.status, 200);
        assert.deepEqual(data, {
          error: "Unexpected endpoint or method. (POST /chat/completions)",
        });
        assert.deepEqual(await client.get("/models"), {
          error: "Unexpected endpoint or method. (GET /models)",
        });
        // With /v1 the same fake answers.
        const ok = await make(`${o}/v1`).models.list();
        assert.deepEqual(ok.data.map((m) => m.id), ["fake-model"]);
      });
    });
  });
}
