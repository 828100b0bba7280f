// Captures real transcripts from llama.cpp's llama-server into tests/fixtures/llamacpp_*,
// byte for byte as the server sent them, for tests/fixtures_real_test.ts to replay offline.
// Starts its own servers (one plain, one with an API key) like scripts/integration.mjs, and
// writes tests/fixtures/llamacpp_captures.json: per file, the HTTP status, content type and
// the request that produced it.
//
//   node scripts/capture_fixtures.mjs
//
// The agent transcript needs the library itself (system prompt, json_schema), so this script
// re-runs itself on Node 24 (which runs .ts) when the current Node cannot import ../mod.ts.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { root, runtimes, setup } from "./setup.mjs";
import { buildServer, SERVER_ARGS, startServer } from "./integration.mjs";

const lib = await import("../mod.ts").catch(() => undefined);
if (!lib) {
  setup();
  const r = spawnSync(runtimes.node, [fileURLToPath(import.meta.url)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
const z = await import("zod");

const dir = join(root, "tests", "fixtures");
const captures = {};

/** Sends one request and stores the response body as-is. */
async function capture(file, baseURL, { path = "/chat/completions", body, raw, headers = {} }) {
  const init = body === undefined && raw === undefined ? { headers } : {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: raw ?? JSON.stringify(body),
  };
  const res = await fetch(`${baseURL}${path}`, init);
  const bytes = new Uint8Array(await res.arrayBuffer());
  writeFileSync(join(dir, file), bytes);
  captures[file] = {
    status: res.status,
    contentType: res.headers.get("content-type"),
    request: `${init.method ?? "GET"} ${path}${raw ?? (body ? ` ${summarize(body)}` : "")}`,
  };
  console.log(`${file}: ${res.status}, ${bytes.length} bytes`);
}

/** The request body with long strings shortened, for the captures index. */
function summarize(body) {
  return JSON.stringify(
    body,
    (_k, v) => typeof v === "string" && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v,
  );
}

const add = lib.defineTool({
  name: "add",
  description: "Add two numbers and return the sum.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

/**
 * A real agent run, every model response teed to bytes. Each request gets its own seed
 * (`seed * 10 + n`): llama-server restarts its sampler from the request's seed, so one seed
 * for a whole run would replay the same random draws at every step. Seeds are tried in order
 * until a run is one tool call and then a final answer (the shortest run with both envelope
 * kinds); a run whose second reply is another tool call is abandoned at once. The run's result
 * is recorded too: replaying the bytes must reproduce it exactly.
 */
async function captureAgentRun(baseURL) {
  for (let seed = 1; seed <= 40; seed++) {
    const responses = [];
    const teeing = async (input, init) => {
      const request = JSON.parse(init.body);
      request.seed = seed * 10 + responses.length;
      const res = await fetch(input, { ...init, body: JSON.stringify(request) });
      const [mine, theirs] = res.body.tee();
      responses.push({
        request,
        status: res.status,
        contentType: res.headers.get("content-type"),
        bytes: readAll(mine),
      });
      return new Response(theirs, { status: res.status, headers: res.headers });
    };
    const stop = new AbortController();
    const tools = [];
    const agent = new lib.Agent({
      client: new lib.LMStudioClient({ baseURL, model: "tiny-peer", fetch: teeing }),
      tools: [add],
      maxSteps: 3,
      params: { temperature: 0.7, max_tokens: 200 },
      onEvent: (e) => {
        if (e.type === "tool_result") tools.push(e.output);
        if (e.type === "tool_call" && e.step >= 2) stop.abort();
      },
    });
    const result = await agent.run("What is 2 + 3?", { signal: stop.signal }).catch(() => null);
    await Promise.all(responses.map((r) => r.bytes));
    if (!result || result.stopReason !== "final" || result.steps !== 2) continue;
    const files = [];
    for (const [i, r] of responses.entries()) {
      const file = `llamacpp_json_schema_step${i + 1}.sse`;
      const bytes = await r.bytes;
      writeFileSync(join(dir, file), bytes);
      files.push(file);
      captures[file] = {
        status: r.status,
        contentType: r.contentType,
        request: `POST /chat/completions ${
          summarize({ ...r.request, messages: `${r.request.messages.length} messages` })
        }`,
      };
      console.log(`${file}: ${r.status}, ${bytes.length} bytes (seed ${r.request.seed})`);
    }
    const { text, steps, stopReason, usage } = result;
    captures.agentRun = {
      about: 'Agent({tools: [add], maxSteps: 3}).run("What is 2 + 3?"): the responses in order',
      files,
      toolResults: tools,
      result: { text, steps, stopReason, usage },
    };
    return;
  }
  throw new Error("no seed in 1..40 gave a tool call and then a final answer");
}

/**
 * Reads a teed body to the end as the client reads its twin. The client aborts its request
 * once it has seen [DONE] (to release the connection), which errors both branches: the bytes
 * read by then are the whole transcript, so keep them.
 */
async function readAll(body) {
  const parts = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
  } catch (err) {
    if (err?.name !== "AbortError") throw err;
  }
  return new Uint8Array(Buffer.concat(parts));
}

async function main() {
  buildServer();
  let server = await startServer({ serverArgs: SERVER_ARGS });
  try {
    const base = server.env.LMSTUDIO_BASE_URL;
    const user = (content) => [{ role: "user", content }];
    const stream = { stream: true, stream_options: { include_usage: true } };
    await capture("llamacpp_models.json", base, { path: "/models" });
    await capture("llamacpp_stream.sse", base, {
      body: {
        model: "tiny-peer",
        messages: user("Tell me a long story."),
        temperature: 0.9,
        seed: 42,
        max_tokens: 12,
        ...stream,
      },
    });
    await captureAgentRun(base);
    await capture("llamacpp_error_context.json", base, {
      body: {
        model: "tiny-peer",
        messages: user("hello ".repeat(20_000)),
        max_tokens: 4,
        ...stream,
      },
    });
    await capture("llamacpp_error_request.json", base, {
      body: { model: "tiny-peer", max_tokens: 4, ...stream },
    });
    await capture("llamacpp_error_json.json", base, { raw: '{"model":"tiny-peer","messages":[' });
    // A mid-stream error: with `tools`, llama-server parses the reply as it streams; a
    // prefilled assistant message it cannot parse makes it send `data: {"error": …}` after
    // the first chunk and close the stream without [DONE].
    await capture("llamacpp_error_midstream.sse", base, {
      body: {
        model: "tiny-peer",
        messages: [
          ...user("2+3?"),
          {
            role: "assistant",
            content: '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
          },
        ],
        tools: lib.toNativeTools([add]),
        temperature: 0,
        max_tokens: 5,
        ...stream,
      },
    });
  } finally {
    server.stop();
  }
  server = await startServer({ apiKey: "fixture-key", serverArgs: SERVER_ARGS });
  try {
    await capture("llamacpp_401.json", server.env.LMSTUDIO_BASE_URL, {
      body: { model: "tiny-peer", messages: [{ role: "user", content: "hi" }], max_tokens: 2 },
      headers: { authorization: "Bearer wrong-key" },
    });
  } finally {
    server.stop();
  }
  writeFileSync(join(dir, "llamacpp_captures.json"), JSON.stringify(captures, null, 2) + "\n");
  console.log("wrote tests/fixtures/llamacpp_captures.json");
}

await main();
