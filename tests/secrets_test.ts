// Secrets: the API key must never show up in an error (message, stack, cause chain, own
// fields), an AgentEvent, a result, an SSE error event, or util.inspect / Deno.inspect of the
// client, the agent and the errors — for 401s (also when the server echoes the key back),
// refused connections, timeouts, stream errors, protocol errors and tool errors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  APIError,
  ConnectionError,
  defineTool,
  InvalidResponseError,
  LMStudioClient,
  type LMStudioClientOptions,
  ProtocolError,
  StreamError,
} from "../mod.ts";
import { ResponseTimeoutError } from "../src/errors.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";
import { closedPort, serve } from "./_kit/serve.ts";
import { deepStringify } from "./_kit/reliability_kit.ts";

const SECRET = `sk-SECRET-${crypto.randomUUID().replaceAll("-", "")}`;
// A part of the key is as bad as the whole: look for its distinctive tail too.
const NEEDLES = [SECRET, SECRET.slice(-16)];

// deno-lint-ignore no-explicit-any
const Deno_ = (globalThis as any).Deno;

/** Every view of `value` someone might log. */
function views(value: unknown): string[] {
  const out = [
    deepStringify(value),
    inspect(value, { depth: Infinity, showHidden: true, getters: true }),
    String(value),
  ];
  if (Deno_?.inspect) {
    out.push(Deno_.inspect(value, { depth: Infinity, showHidden: true, getters: true }));
  }
  if (value instanceof Error) {
    out.push(value.message, value.stack ?? "");
    // Walk the cause chain by hand too (inspect may stop early on some runtimes).
    let cause: unknown = (value as { cause?: unknown }).cause;
    for (let i = 0; cause !== undefined && i < 20; i++) {
      out.push(deepStringify(cause), inspect(cause, { depth: Infinity, showHidden: true }));
      cause = (cause as { cause?: unknown } | null)?.cause;
    }
  }
  return out;
}

function assertNoSecret(what: string, value: unknown): void {
  for (const text of views(value)) {
    for (const needle of NEEDLES) {
      assert.ok(!text.includes(needle), `${what} leaks the API key:\n${text.slice(0, 2000)}`);
    }
  }
}

/** Runs the agent with the key, recording every event; returns the error (or result). */
async function runAgent(
  clientOptions: LMStudioClientOptions,
  agentOptions: ConstructorParameters<typeof Agent>[0] = {},
) {
  const events: AgentEvent[] = [];
  const client = new LMStudioClient({
    apiKey: SECRET,
    model: "m",
    retryBaseDelayMs: 1,
    ...clientOptions,
  });
  const agent = new Agent({ client, onEvent: (e) => events.push(e), ...agentOptions });
  let error: unknown;
  let result: unknown;
  try {
    result = await agent.run("hello");
  } catch (err) {
    error = err;
  }
  return { client, agent, events, error, result };
}

function checkAll(what: string, run: Awaited<ReturnType<typeof runAgent>>): void {
  assertNoSecret(`${what}: error`, run.error);
  assertNoSecret(`${what}: result`, run.result);
  assertNoSecret(`${what}: client`, run.client);
  assertNoSecret(`${what}: agent`, run.agent);
  run.events.forEach((e, i) => assertNoSecret(`${what}: event ${i} (${e.type})`, e));
}

const final = (content: string) => JSON.stringify({ type: "final", content });

describe("the API key never leaks", () => {
  test("sanity: the key really is sent, and the checks would catch it in plain sight", async () => {
    const fake = createFakeLMStudio({ apiKey: SECRET, replies: [{ content: final("hi") }] });
    const run = await runAgent({ fetch: fake.fetch });
    assert.equal(run.error, undefined);
    assert.equal(fake.chatRequests[0]!.headers.get("authorization"), `Bearer ${SECRET}`);
    assert.throws(() => assertNoSecret("probe", new Error(`x ${SECRET}`)));
    assert.throws(() => assertNoSecret("probe", new Error("x", { cause: { k: SECRET } })));
    checkAll("success", run);
  });

  test("401 from a real server (wrong key), through the agent and the client", async () => {
    const fake = createFakeLMStudio({
      apiKey: "the-right-key",
      replies: [{ content: final("x") }],
    });
    const server = await serve(fake.handler);
    try {
      const run = await runAgent({ baseURL: server.baseURL });
      assert.ok(run.error instanceof APIError && run.error.status === 401, String(run.error));
      checkAll("401", run);
      const client = new LMStudioClient({ baseURL: server.baseURL, apiKey: SECRET, model: "m" });
      const err = await client.generate({ messages: [{ role: "user", content: "x" }] }).catch((e) =>
        e
      );
      assert.ok(err instanceof APIError);
      assertNoSecret("401 generate", err);
    } finally {
      await server.close();
    }
  });

  test("a server that echoes the Authorization header in its error body", async () => {
    const server = await serve((request) =>
      new Response(
        JSON.stringify({
          error: {
            message: `Invalid API key provided: ${request.headers.get("authorization")}`,
            type: "authentication_error",
          },
        }),
        { status: 401, headers: { "content-type": "application/json" } },
      )
    );
    try {
      const run = await runAgent({ baseURL: server.baseURL });
      assert.ok(run.error instanceof APIError && run.error.status === 401, String(run.error));
      assert.match(run.error.message, /Invalid API key provided/);
      checkAll("echoed 401", run);
      // Plain text too, and on a retried status (the retry events carry the error).
      const text = await serve((request) =>
        new Response(`bad gateway for ${request.headers.get("authorization")}`, { status: 502 })
      );
      try {
        const retried = await runAgent({ baseURL: text.baseURL, maxRetries: 1 });
        assert.ok(retried.error instanceof APIError && retried.error.status === 502);
        assert.ok(retried.events.some((e) => e.type === "model_retry"));
        checkAll("echoed 502", retried);
      } finally {
        await text.close();
      }
    } finally {
      await server.close();
    }
  });

  test("connection refused", async () => {
    const port = await closedPort();
    const run = await runAgent({ baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 1 });
    assert.ok(run.error instanceof ConnectionError, String(run.error));
    assert.ok(run.error.cause !== undefined);
    checkAll("connection refused", run);
  });

  test("response timeout and idle timeout", async () => {
    const slow = createFakeLMStudio({
      replies: [{ content: final("late"), firstByteDelayMs: 5_000 }],
    });
    const server = await serve(slow.handler);
    try {
      const run = await runAgent({ baseURL: server.baseURL, timeoutMs: 30, maxRetries: 0 });
      assert.ok(run.error instanceof ResponseTimeoutError && run.error.phase === "response");
      checkAll("response timeout", run);
    } finally {
      await server.close();
    }
    const stall = createFakeLMStudio({
      replies: [{ content: final("stalls here"), stallAfterEvents: 2 }],
    });
    const run = await runAgent({ fetch: stall.fetch, idleTimeoutMs: 30 });
    assert.ok(
      run.error instanceof ResponseTimeoutError && run.error.phase === "idle",
      String(run.error),
    );
    checkAll("idle timeout", run);
  });

  test("stream errors: error event, cut-off body, non-JSON data, non-SSE content type", async () => {
    const cases: [string, FakeReply, new (...a: never[]) => Error][] = [
      [
        "error event",
        { content: final("partial answer"), errorEvent: { message: "boom" } },
        APIError,
      ],
      [
        "cut off",
        { content: final("partial answer"), omitDone: true, finishReason: null },
        StreamError,
      ],
      [
        "non-JSON data",
        { content: final("partial"), invalidJsonAfterEvents: 2 },
        InvalidResponseError,
      ],
      ["non-SSE", { content: final("x"), contentType: "text/html" }, InvalidResponseError],
    ];
    for (const [name, reply, cls] of cases) {
      const fake = createFakeLMStudio({ replies: [reply] });
      const run = await runAgent({ fetch: fake.fetch });
      assert.ok(run.error instanceof cls, `${name}: ${String(run.error)}`);
      checkAll(name, run);
    }
  });

  test("protocol errors, tool errors and the SSE error event of toSSEResponse()", async () => {
    const fake = createFakeLMStudio({
      replies: [
        { content: JSON.stringify({ type: "tool_call", tool: "boom", arguments: {} }) },
        { content: "not json" },
        { content: "still not json" },
      ],
    });
    const boom = defineTool({
      name: "boom",
      description: "Fails.",
      parameters: z.object({}),
      execute: () => {
        throw new Error("tool failed");
      },
    });
    const run = await runAgent({ fetch: fake.fetch }, { tools: [boom] });
    assert.ok(run.error instanceof ProtocolError, String(run.error));
    assert.ok(run.events.some((e) => e.type === "tool_error"));
    assert.ok(run.events.some((e) => e.type === "protocol_retry"));
    checkAll("protocol error", run);

    // The same failure served as SSE to a browser.
    const fake2 = createFakeLMStudio({ apiKey: "other", replies: [] });
    const agent = new Agent({
      client: new LMStudioClient({ fetch: fake2.fetch, apiKey: SECRET, model: "m" }),
    });
    const body = await agent.stream("hi").toSSEResponse().text();
    assert.match(body, /event: error/);
    assert.ok(!body.includes(SECRET), body);
  });

  test("URL credentials are refused in every view of the error, from the option or the env", async () => {
    const PASS = SECRET.slice(-20);
    for (const url of [`http://user:${PASS}@127.0.0.1:1234/v1`, `https://${PASS}@h/v1`]) {
      let err: unknown;
      try {
        new LMStudioClient({ baseURL: url });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof TypeError, String(err));
      for (const text of views(err)) assert.ok(!text.includes(PASS), text);
    }
    const fromEnv = await withEnvVar("LMSTUDIO_BASE_URL", `http://u:${PASS}@h/v1`, () => {
      try {
        new LMStudioClient();
      } catch (e) {
        return e;
      }
    });
    assert.ok(fromEnv instanceof TypeError);
    for (const text of views(fromEnv)) assert.ok(!text.includes(PASS), text);
  });

  test("an Authorization header given through headers is redacted when a server echoes it", async () => {
    const server = await serve((request) =>
      new Response(`denied: ${request.headers.get("authorization")}`, { status: 401 })
    );
    try {
      const client = new LMStudioClient({
        baseURL: server.baseURL,
        headers: { authorization: `Bearer ${SECRET}` },
        model: "m",
      });
      for (
        const call of [
          () => client.generate({ messages: [{ role: "user", content: "x" }] }),
          () => client.models(),
          async () => {
            for await (const _ of client.stream({ messages: [{ role: "user", content: "x" }] })) {
              // drain
            }
          },
        ]
      ) {
        const err = await call().then(() => undefined, (e) => e);
        assert.ok(err instanceof APIError && err.status === 401, String(err));
        assert.match(err.message, /denied: \[redacted\]/);
        assertNoSecret("header-echo 401", err);
      }
    } finally {
      await server.close();
    }
  });

  test("the key is invisible on the client and agent however it was given", async () => {
    const fromEnv = await withApiKeyEnv(SECRET, () => new LMStudioClient({ model: "m" }));
    const viaHeaders = new LMStudioClient({
      model: "m",
      headers: { authorization: `Bearer ${SECRET}` },
    });
    for (const client of [new LMStudioClient({ apiKey: SECRET }), fromEnv, viaHeaders]) {
      assertNoSecret("client", client);
      assert.ok(!JSON.stringify(Object.entries(client)).includes(SECRET));
      assertNoSecret("agent", new Agent({ client }));
    }
  });
});

async function withApiKeyEnv<T>(value: string, fn: () => T): Promise<T> {
  return await withEnvVar("LMSTUDIO_API_KEY", value, fn);
}

async function withEnvVar<T>(name: string, value: string, fn: () => T): Promise<T> {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const env = g.Deno
    ? {
      get: () => g.Deno.env.get(name),
      set: (v: string | undefined) =>
        v === undefined ? g.Deno.env.delete(name) : g.Deno.env.set(name, v),
    }
    : {
      get: () => g.process.env[name],
      set: (v: string | undefined) =>
        v === undefined ? delete g.process.env[name] : (g.process.env[name] = v),
    };
  const saved = env.get();
  env.set(value);
  try {
    return await fn();
  } finally {
    env.set(saved);
  }
}
