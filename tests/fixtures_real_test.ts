// Real transcripts from llama.cpp's llama-server, replayed offline. The fixtures
// tests/fixtures/llamacpp_* are the server's bytes as sent (scripts/capture_fixtures.mjs);
// llamacpp_captures.json holds each one's HTTP status, content type and request. Each is
// replayed through client.stream() / generate() / models() / the agent via an injected fetch,
// whole, one byte at a time and in seeded random pieces, and must give exactly what the live
// server gave: the same text, usage and finish reason, the same agent result, and the typed
// errors carrying the server's own messages.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentResult,
  APIError,
  type ChatResult,
  defineTool,
  LMStudioClient,
  type LMStudioClientOptions,
  type Usage,
} from "../mod.ts";
import { everySplit, splitBytes } from "../testing.ts";
import { assertInstance, fixture, USER } from "./_kit/client_kit.ts";
import { collectDeltas as collect, rejection } from "./_kit/async_kit.ts";

interface Capture {
  status: number;
  contentType: string;
  request: string;
}
interface AgentRunCapture {
  files: string[];
  toolResults: string[];
  result: Pick<AgentResult, "text" | "steps" | "stopReason" | "usage">;
}
const captures = JSON.parse(
  readFileSync(new URL("./fixtures/llamacpp_captures.json", import.meta.url), "utf8"),
) as Record<string, Capture> & { agentRun: AgentRunCapture };

/** How a body is cut into network reads. */
type Split = { name: string; cut: (bytes: Uint8Array) => Uint8Array[] };
const SPLITS: Split[] = [
  { name: "whole", cut: (b) => [b] },
  { name: "1-byte", cut: (b) => splitBytes(b, 1) },
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((seed) => ({
    name: `random (seed ${seed})`,
    cut: (b: Uint8Array) => splitBytes(b, { min: 1, max: 97, seed }),
  })),
];

/** The captured response `file`, its body delivered in `pieces`, with the real status/type. */
function replay(file: string, pieces?: Uint8Array[]): Response {
  const capture = captures[file];
  assert.ok(capture, `no capture recorded for ${file}`);
  const chunks = pieces ?? [fixture(file)];
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
  return new Response(body, {
    status: capture.status,
    headers: { "content-type": capture.contentType },
  });
}

/** A client whose requests are answered by `respond` (called with the request's index). */
function clientFor(
  respond: (n: number) => Response,
  options: LMStudioClientOptions = {},
): { client: LMStudioClient; calls: () => number } {
  let n = 0;
  const client = new LMStudioClient({
    model: "tiny-peer",
    maxRetries: 0,
    // Chat requests replay the transcripts in order. Anything else (the agent's model-info
    // lookups) gets what llama-server answers: its /v1/models capture, 404 elsewhere.
    fetch: ((input: RequestInfo | URL) => {
      const path = new URL(String(input)).pathname;
      if (path.endsWith("/chat/completions")) return Promise.resolve(respond(n++));
      if (path === "/v1/models") return Promise.resolve(replay("llamacpp_models.json"));
      return Promise.resolve(
        Response.json(
          { error: { code: 404, message: "File Not Found", type: "not_found_error" } },
          {
            status: 404,
          },
        ),
      );
    }) as typeof fetch,
    ...options,
  });
  return { client, calls: () => n };
}

/**
 * What a transcript says, read independently of the library: one JSON object per `data:`
 * line (llama.cpp sends no other SSE fields), up to [DONE].
 */
function expected(
  file: string,
): { text: string; finish: string | null; usage?: Usage; tokens: number } {
  const lines = new TextDecoder().decode(fixture(file)).split("\n");
  const parts: string[] = [];
  let finish: string | null = null;
  let usage: Usage | undefined;
  for (const line of lines) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const chunk = JSON.parse(line.slice(6));
    const choice = chunk.choices?.[0];
    if (typeof choice?.delta?.content === "string" && choice.delta.content) {
      parts.push(choice.delta.content);
    }
    if (choice?.finish_reason) finish = choice.finish_reason;
    if (chunk.usage) {
      usage = {
        promptTokens: chunk.usage.prompt_tokens,
        completionTokens: chunk.usage.completion_tokens,
        totalTokens: chunk.usage.total_tokens,
      };
    }
  }
  return { text: parts.join(""), finish, usage, tokens: parts.length };
}

async function streamOnce(file: string, pieces: Uint8Array[]): Promise<{
  text: string;
  deltas: number;
  result?: ChatResult;
  error?: unknown;
}> {
  const { client } = clientFor(() => replay(file, pieces));
  const stream = client.stream({ messages: USER });
  const { deltas, text, error } = await collect(stream);
  if (error) return { text, deltas: deltas.length, error };
  return { text, deltas: deltas.length, result: await stream.finalResult() };
}

const add = defineTool({
  name: "add",
  description: "Add two numbers and return the sum.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

describe("real llama.cpp transcripts: a streamed completion", () => {
  const file = "llamacpp_stream.sse";
  const want = expected(file);

  test("the transcript has llama.cpp's framing: role-only first chunk, usage chunk, [DONE]", () => {
    const text = new TextDecoder().decode(fixture(file));
    const events = text.split("\n\n").filter((e) => e !== "");
    assert.match(
      events[0]!,
      /^data: \{"choices":\[\{"finish_reason":null,"index":0,"delta":\{"role":"assistant","content":null\}\}\]/,
    );
    assert.match(events.at(-2)!, /^data: \{"choices":\[\],.*"usage":\{.*"timings":\{/);
    assert.equal(events.at(-1), "data: [DONE]");
    assert.ok(events.every((e) => e.startsWith("data: ")), "only data: fields");
    assert.equal(want.finish, "length");
    assert.equal(want.usage?.completionTokens, 12);
  });

  for (const split of SPLITS) {
    test(`stream() reconstructs text, usage and finish reason exactly (${split.name})`, async () => {
      const got = await streamOnce(file, split.cut(fixture(file)));
      assert.equal(got.error, undefined);
      assert.equal(got.text, want.text);
      assert.equal(got.result?.text, want.text);
      assert.equal(got.result?.finishReason, "length");
      assert.deepEqual(got.result?.usage, want.usage);
      assert.equal(got.result?.model, "tiny-peer");
      assert.equal(got.deltas, want.tokens, "one delta per token event");
    });
  }
  test("stream() reconstructs the text under every 2-way split of the body", async () => {
    const bytes = fixture(file);
    for (const [head, tail] of everySplit(bytes)) {
      const got = await streamOnce(file, [head, tail]);
      assert.equal(got.error, undefined, `split at ${head.length}`);
      assert.equal(got.result?.text, want.text, `split at ${head.length}`);
      assert.deepEqual(got.result?.usage, want.usage, `split at ${head.length}`);
    }
  });
});

describe("real llama.cpp transcripts: models", () => {
  test("models() reads the data array next to llama.cpp's Ollama-style models array", async () => {
    const { client } = clientFor(() => replay("llamacpp_models.json"));
    assert.deepEqual(await client.models(), ["tiny-peer"]);
  });
});

describe("real llama.cpp transcripts: an agent run under the json_schema grammar", () => {
  const run = captures.agentRun;

  for (const split of SPLITS.slice(0, 4)) {
    test(`run() reproduces the live run's result (${split.name})`, async () => {
      const events: AgentEvent[] = [];
      const { client, calls } = clientFor((n) => {
        const file = run.files[n];
        assert.ok(file, `the agent made request ${n + 1}, the live run only ${run.files.length}`);
        return replay(file, split.cut(fixture(file)));
      });
      const agent = new Agent({
        client,
        tools: [add],
        maxSteps: 3,
        onEvent: (e) => events.push(e),
      });
      const result = await agent.run("What is 2 + 3?");
      assert.deepEqual(
        {
          text: result.text,
          steps: result.steps,
          stopReason: result.stopReason,
          usage: result.usage,
        },
        run.result,
      );
      assert.equal(calls(), run.files.length);
      const outputs = events.flatMap((e) => e.type === "tool_result" ? [e.output] : []);
      assert.deepEqual(outputs, run.toolResults);
      // Each reply is the model's envelope, as the grammar forced it.
      const replies = events.flatMap((e) => e.type === "model_response" ? [e] : []);
      assert.deepEqual(replies.map((e) => e.text), run.files.map((f) => expected(f).text));
      assert.ok(replies.every((e) => e.finishReason === "stop"));
    });
  }

  for (const live of [false, true]) {
    test(`stream() chunks add up to the live run's answer (live: ${live})`, async () => {
      const { client } = clientFor((n) =>
        replay(run.files[n]!, splitBytes(fixture(run.files[n]!), { min: 1, max: 13, seed: n }))
      );
      const agent = new Agent({ client, tools: [add], maxSteps: 3, chunking: "word", live });
      const stream = agent.stream("What is 2 + 3?");
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const result = await stream.result;
      assert.equal(chunks.map((c) => c.text).join(""), run.result.text);
      assert.equal(result.text, run.result.text);
      assert.deepEqual(chunks.map((c) => c.isFinal), chunks.map((_, i) => i === chunks.length - 1));
      assert.ok(chunks.every((c) => c.step === run.result.steps));
    });
  }
});

describe("real llama.cpp transcripts: errors", () => {
  /** The error body's `error` object, as the server sent it. */
  const serverError = (file: string) =>
    (JSON.parse(new TextDecoder().decode(fixture(file))) as {
      error: { message: string; type: string; code: number };
    }).error;

  const httpCases = [
    { file: "llamacpp_error_context.json", status: 400, code: "exceed_context_size_error" },
    { file: "llamacpp_error_request.json", status: 400, code: "invalid_request_error" },
    { file: "llamacpp_error_json.json", status: 500, code: "server_error" },
    { file: "llamacpp_401.json", status: 401, code: "authentication_error" },
  ];
  for (const { file, status, code } of httpCases) {
    for (const call of ["generate", "stream"] as const) {
      test(`${call}(): ${file} → APIError ${status} ${code} with the server's message`, async () => {
        const { message } = serverError(file);
        for (const split of SPLITS.slice(0, 3)) {
          const { client } = clientFor(() => replay(file, split.cut(fixture(file))));
          const err = assertInstance(
            await rejection(
              call === "generate"
                ? client.generate({ messages: USER })
                : client.stream({ messages: USER }).finalResult(),
            ),
            APIError,
          );
          assert.equal(err.status, status);
          assert.equal(err.code, code);
          assert.equal(err.serverMessage, message);
          assert.ok(err.message.includes(`status ${status}: ${message}`), err.message);
          assert.deepEqual(err.body, JSON.parse(new TextDecoder().decode(fixture(file))));
        }
      });
    }
  }

  test("the exceed-context body carries the token counts", async () => {
    const { client } = clientFor(() => replay("llamacpp_error_context.json"));
    const err = assertInstance(await rejection(client.generate({ messages: USER })), APIError);
    const body = err.body as { error: { n_prompt_tokens: number; n_ctx: number } };
    assert.ok(body.error.n_prompt_tokens > body.error.n_ctx);
    assert.match(err.serverMessage, /exceeds the available context size/);
  });

  test("401 is not retried and says to check the key; 500 is retried", async () => {
    const unauthorized = clientFor(() => replay("llamacpp_401.json"), {
      maxRetries: 2,
      retryBaseDelayMs: 0,
    });
    const err = assertInstance(
      await rejection(unauthorized.client.generate({ messages: USER })),
      APIError,
    );
    assert.match(err.message, /Invalid API Key — check the API key/);
    assert.equal(unauthorized.calls(), 1);
    const broken = clientFor(() => replay("llamacpp_error_json.json"), {
      maxRetries: 2,
      retryBaseDelayMs: 0,
    });
    await rejection(broken.client.generate({ messages: USER }));
    assert.equal(broken.calls(), 3);
  });

  test("an error event mid-stream → APIError without status, under every 2-way split", async () => {
    const file = "llamacpp_error_midstream.sse";
    const bytes = fixture(file);
    const text = new TextDecoder().decode(bytes);
    // The real framing: a role-only chunk, the error as a data: line, then the end of the
    // body — no [DONE].
    assert.match(
      text,
      /^data: \{"choices":\[\{"finish_reason":null,"index":0,"delta":\{"role":"assistant","content":null\}\}\]/,
    );
    assert.ok(!text.includes("[DONE]"));
    const errorLine = text.split("\n").find((l) => l.startsWith('data: {"error"'))!;
    const { message: serverMessage } = JSON.parse(errorLine.slice(6)).error;
    assert.match(serverMessage, /does not match the expected peg-native format/);
    const splits = [[bytes], ...everySplit(bytes).map(([a, b]) => [a, b]), splitBytes(bytes, 1)];
    for (const pieces of splits) {
      const got = await streamOnce(file, pieces);
      const err = assertInstance(got.error, APIError);
      assert.equal(err.status, undefined);
      assert.equal(err.serverMessage, serverMessage);
      assert.equal(err.code, "server_error");
      assert.equal(err.partialText, "");
      assert.match(err.message, /server sent an error mid-stream/);
    }
  });
});
