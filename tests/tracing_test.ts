// OpenTelemetry GenAI spans, checked with the real SDK's in-memory exporter.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { Agent, defineTool, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio, createScriptedModel, native } from "../testing.ts";

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("test") };
}

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});
const broken = defineTool({
  name: "broken",
  description: "Always fails.",
  parameters: z.object({}),
  execute: () => {
    throw new Error("disk on fire");
  },
});

const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

function byName(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

describe("tracing (OpenTelemetry GenAI conventions)", () => {
  test("span tree and attributes: a retried model call, a tool that works, one that fails", async () => {
    const { exporter, tracer } = setup();
    const fake = createFakeLMStudio({
      replies: [
        { status: 503, body: { error: "busy" } },
        native.toolCalls([
          { name: "add", arguments: { a: 2, b: 3 } },
          { name: "broken", arguments: {} },
        ], { usage }),
        native.final("5", { usage }),
      ],
    });
    const client = new LMStudioClient({
      fetch: fake.fetch,
      baseURL: "http://127.0.0.1:4321/v1",
      model: "qwen3-8b",
      retryBaseDelayMs: 1,
    });
    const agent = new Agent({ client, tools: [add, broken], protocol: "native", tracer });
    const result = await agent.run("2+3?");
    assert.equal(result.text, "5");

    const spans = exporter.getFinishedSpans();
    const [run] = byName(spans, "invoke_agent");
    assert.ok(run, "an invoke_agent span");
    assert.equal(parentOf(run), undefined, "the run is the root");
    assert.equal(run.kind, 0); // INTERNAL
    assert.equal(run.attributes["gen_ai.operation.name"], "invoke_agent");
    assert.equal(run.attributes["gen_ai.request.model"], "qwen3-8b");
    assert.equal(run.attributes["gen_ai.usage.input_tokens"], 22);
    assert.equal(run.attributes["gen_ai.usage.output_tokens"], 14);
    assert.equal(run.status.code, 0);
    assert.equal(run.attributes["gen_ai.input.messages"], undefined, "no content by default");

    const chats = byName(spans, "chat qwen3-8b");
    assert.equal(chats.length, 2);
    for (const chat of chats) {
      assert.equal(parentOf(chat), run.spanContext().spanId);
      assert.equal(chat.kind, 2); // CLIENT
      assert.equal(chat.attributes["gen_ai.operation.name"], "chat");
      assert.equal(chat.attributes["gen_ai.request.model"], "qwen3-8b");
      assert.equal(chat.attributes["server.address"], "127.0.0.1");
      assert.equal(chat.attributes["server.port"], 4321);
      assert.equal(chat.attributes["gen_ai.usage.input_tokens"], 11);
      assert.equal(chat.attributes["gen_ai.usage.output_tokens"], 7);
      assert.equal(chat.attributes["gen_ai.output.messages"], undefined);
    }
    assert.deepEqual(chats[0]!.attributes["gen_ai.response.finish_reasons"], ["tool_calls"]);
    assert.deepEqual(chats[1]!.attributes["gen_ai.response.finish_reasons"], ["stop"]);
    // The 503 was retried inside the first call: one span, with a retry event.
    const retries = chats[0]!.events.filter((e) => e.name === "gen_ai.client.retry");
    assert.equal(retries.length, 1);
    assert.equal(retries[0]!.attributes?.["http.response.status_code"], 503);
    assert.equal(retries[0]!.attributes?.["attempt"], 1);
    assert.equal(chats[1]!.events.length, 0);

    const [ok] = byName(spans, "execute_tool add");
    const [failed] = byName(spans, "execute_tool broken");
    assert.ok(ok && failed);
    for (const span of [ok, failed]) {
      assert.equal(parentOf(span), run.spanContext().spanId);
      assert.equal(span.attributes["gen_ai.operation.name"], "execute_tool");
      assert.equal(span.attributes["gen_ai.tool.type"], "function");
      assert.equal(typeof span.attributes["gen_ai.tool.call.id"], "string");
      assert.equal(span.attributes["gen_ai.tool.call.arguments"], undefined);
    }
    assert.equal(ok.attributes["gen_ai.tool.name"], "add");
    assert.equal(ok.status.code, 0);
    assert.equal(failed.attributes["gen_ai.tool.name"], "broken");
    assert.equal(failed.status.code, 2); // ERROR
    assert.equal(failed.status.message, "disk on fire");
    assert.equal(failed.attributes["error.type"], "execution_error");
    const exception = failed.events.find((e) => e.name === "exception");
    assert.equal(exception?.attributes?.["exception.message"], "disk on fire");
    assert.deepEqual(
      result.transcript.filter((e) => e.type === "tool_call").map((e) =>
        e.type === "tool_call" && e.callId
      ),
      [ok.attributes["gen_ai.tool.call.id"], failed.attributes["gen_ai.tool.call.id"]],
    );
  });

  test("recordContent: prompt, replies, tool arguments and results on the spans", async () => {
    const { exporter, tracer } = setup();
    const model = createScriptedModel([
      native.toolCalls([{ name: "add", arguments: { a: 1, b: 2 } }]),
      native.final("3"),
    ]);
    await new Agent({
      client: model,
      tools: [add],
      protocol: "native",
      tracer,
      recordContent: true,
    })
      .run("1+2?");
    const spans = exporter.getFinishedSpans();
    const [run] = byName(spans, "invoke_agent");
    assert.deepEqual(JSON.parse(String(run!.attributes["gen_ai.input.messages"])), [
      { role: "user", parts: [{ type: "text", content: "1+2?" }] },
    ]);
    assert.deepEqual(JSON.parse(String(run!.attributes["gen_ai.output.messages"])), [
      { role: "assistant", parts: [{ type: "text", content: "3" }] },
    ]);
    const [tool] = byName(spans, "execute_tool add");
    assert.equal(tool!.attributes["gen_ai.tool.call.arguments"], '{"a":1,"b":2}');
    assert.equal(tool!.attributes["gen_ai.tool.call.result"], "3");
    const chats = byName(spans, "chat");
    assert.equal(chats.length, 2, "no model name known: the span is just 'chat'");
    assert.equal(chats[0]!.attributes["server.address"], undefined);
    assert.deepEqual(JSON.parse(String(chats[1]!.attributes["gen_ai.output.messages"])), [
      { role: "assistant", parts: [{ type: "text", content: "3" }] },
    ]);
  });

  test("a failed run marks the run and the open chat span as errors", async () => {
    const { exporter, tracer } = setup();
    const model = createScriptedModel([new Error("server gone")]);
    await assert.rejects(new Agent({ client: model, tracer }).run("hi"), /server gone/);
    const spans = exporter.getFinishedSpans();
    const [run] = byName(spans, "invoke_agent");
    const [chat] = byName(spans, "chat");
    for (const span of [run!, chat!]) {
      assert.equal(span.status.code, 2);
      assert.equal(span.status.message, "server gone");
      assert.equal(span.attributes["error.type"], "Error");
      assert.ok(span.events.some((e) => e.name === "exception"));
    }
    assert.equal(parentOf(chat!), run!.spanContext().spanId);
  });

  test("a tracer must have startSpan", () => {
    assert.throws(() => new Agent({ tracer: {} as never }), /tracer must be an OpenTelemetry/);
  });
});
