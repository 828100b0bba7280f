// The agent takes any object that implements ChatModel (stream() and generate()), checked
// structurally: a user's logging wrapper around LMStudioClient, a plain object, a class of
// their own. Anything else is a TypeError that says what is needed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  Agent,
  type ChatModel,
  type ChatRequest,
  defineTool,
  LMStudioClient,
  type StreamChunk,
} from "../mod.ts";
import { createFakeLMStudio } from "../testing.ts";

const call = (tool: string, args: unknown) =>
  JSON.stringify({ type: "tool_call", tool, arguments: args });
const final = (content: string) => JSON.stringify({ type: "final", content });

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

/** A user's wrapper: logs every call, then delegates to a real client. */
function loggingModel(inner: LMStudioClient, log: string[]): ChatModel {
  return {
    stream(request, options) {
      log.push(`stream ${request.messages.length}`);
      return inner.stream(request, options);
    },
    generate(request, options) {
      log.push(`generate ${request.messages.length}`);
      return inner.generate(request, options);
    },
  };
}

describe("ChatModel", () => {
  for (const modelCall of ["stream", "generate"] as const) {
    test(`${modelCall}: an agent runs on a plain object wrapping LMStudioClient`, async () => {
      const fake = createFakeLMStudio({
        replies: [{ content: call("add", { a: 2, b: 3 }) }, { content: final("It is 5.") }],
      });
      const log: string[] = [];
      const client = loggingModel(new LMStudioClient({ fetch: fake.fetch, model: "m" }), log);
      const agent = new Agent({ client, tools: [add], modelCall });
      const chunks: StreamChunk[] = [];
      const stream = agent.stream("2+3?");
      for await (const chunk of stream) chunks.push(chunk);
      const result = await stream.result;
      assert.equal(result.text, "It is 5.");
      assert.equal(chunks.map((c) => c.text).join(""), "It is 5.");
      // Two calls, through the wrapper: system + user, then + assistant call + tool result.
      assert.deepEqual(log, [`${modelCall} 2`, `${modelCall} 4`]);
      assert.equal(fake.chatRequests.length, 2);
    });
  }

  test("a class of the user's own, no HTTP at all", async () => {
    class Echo implements ChatModel {
      requests: ChatRequest[] = [];
      generate(request: ChatRequest) {
        this.requests.push(request);
        return Promise.resolve({ text: final("echo"), reasoning: "", finishReason: "stop" });
      }
      stream(request: ChatRequest) {
        const reply = this.generate(request);
        return {
          async *[Symbol.asyncIterator]() {
            yield { text: (await reply).text, reasoning: "" };
          },
          finalResult: () => reply,
        };
      }
    }
    const model = new Echo();
    const result = await new Agent({ client: model }).run("hi");
    assert.equal(result.text, "echo");
    assert.equal(model.requests.length, 1);
    assert.equal(model.requests[0]!.messages.at(-1)!.content, "hi");
    assert.ok(model.requests[0]!.signal instanceof AbortSignal);
  });

  for (const bad of [{}, { stream() {} }, { generate() {} }, "client", 42]) {
    test(`client ${JSON.stringify(bad)} → TypeError naming ChatModel`, () => {
      assert.throws(
        () => new Agent({ client: bad as unknown as ChatModel }),
        (err: unknown) =>
          err instanceof TypeError && /stream\(\) and generate\(\)/.test(err.message) &&
          /ChatModel/.test(err.message),
      );
    });
  }
});
