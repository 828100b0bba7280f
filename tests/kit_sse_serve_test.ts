// Issue 15, item 9 (the parts of the test kit in src/testing/read_agent_sse.ts and serve.ts):
// reading toSSEResponse() bodies, and serving a handler on a real socket on every runtime.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio, createScriptedModel, envelope } from "../testing.ts";
import { readAgentSSE } from "../src/testing/read_agent_sse.ts";
import { serve } from "../src/testing/serve.ts";

const agentSaying = (text: string) =>
  new Agent({ client: createScriptedModel([envelope.final(text)]) });

describe("readAgentSSE", () => {
  test("reads every chunk of a toSSEResponse() body", async () => {
    const result = await readAgentSSE(agentSaying("one two three").stream("q").toSSEResponse());
    assert.equal(result.text, "one two three");
    assert.deepEqual(result.chunks.map((c) => c.text), ["one ", "two ", "three"]);
    assert.equal(result.complete, true);
    assert.equal(result.error, undefined);
  });

  test("a failed run: the error event, and complete false", async () => {
    const agent = new Agent({ client: createScriptedModel([new Error("server down")]) });
    const result = await readAgentSSE(agent.stream("q").toSSEResponse());
    assert.deepEqual(result.chunks, []);
    assert.equal(result.complete, false);
    assert.equal(result.error?.message, "server down");
  });

  test("a response that is not an event stream is a TypeError naming status and type", async () => {
    await assert.rejects(
      readAgentSSE(
        new Response("nope", { status: 500, headers: { "content-type": "text/plain" } }),
      ),
      /expected a 2xx text\/event-stream response, got 500 text\/plain/,
    );
  });

  test("events that are not chunks are rejected", async () => {
    const body = 'data: {"hello":1}\n\n';
    await assert.rejects(
      readAgentSSE(new Response(body, { headers: { "content-type": "text/event-stream" } })),
      /not a StreamChunk/,
    );
  });
});

describe("serve", () => {
  test("serves the fake LM Studio on a real socket for a client", async () => {
    const fake = createFakeLMStudio({ replies: [envelope.final("Hi over TCP")] });
    const server = await serve(fake.handler);
    try {
      assert.match(server.baseURL, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
      const result = await new Agent({ client }).run("hi");
      assert.equal(result.text, "Hi over TCP");
      assert.equal(fake.chatRequests.length, 1);
    } finally {
      await server.close();
    }
  });

  test("serves an edge handler; readAgentSSE reads it through fetch", async () => {
    const agent = agentSaying("streamed over a socket");
    const server = await serve((req) =>
      agent.stream(new URL(req.url).searchParams.get("q") || "Hello").toSSEResponse()
    );
    try {
      const result = await readAgentSSE(await fetch(`${server.origin}/?q=hi`));
      assert.equal(result.text, "streamed over a socket");
      assert.equal(result.complete, true);
    } finally {
      await server.close();
    }
  });

  test("a handler that throws answers 500", async () => {
    const server = await serve(() => {
      throw new Error("handler bug");
    });
    try {
      const response = await fetch(server.origin);
      assert.equal(response.status, 500);
      await response.body?.cancel();
    } finally {
      await server.close();
    }
  });
});
