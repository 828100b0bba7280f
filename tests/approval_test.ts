// Tool approval (needsApproval): an interrupted run runs nothing of the step, yields no chunk,
// and carries interruptions and a state; resume() runs approved calls exactly once and sends
// rejections to the model with their reason.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import { Agent, defineTool } from "../mod.ts";
import { createScriptedModel, envelope, native } from "../testing.ts";
import { collect } from "./_kit/async_kit.ts";
import { mailTools } from "./_kit/resume_kit.ts";

const lastUser = (messages: readonly { role: string; content?: unknown }[]) =>
  String(messages.filter((m) => m.role === "user" || m.role === "tool").at(-1)?.content);

describe("tool approval", () => {
  test("a gated call never runs before approval and runs exactly once after it", async () => {
    const { send, executed } = mailTools();
    const model = createScriptedModel([
      envelope.toolCall("send_mail", { to: "ada", body: "hi" }),
      envelope.final("Sent."),
    ]);
    const agent = new Agent({ client: model, tools: [send] });
    const paused = await agent.run("Mail Ada");
    assert.equal(paused.stopReason, "interrupted");
    assert.equal(paused.text, "");
    assert.deepEqual(executed, []);
    assert.deepEqual(paused.interruptions, [
      { callId: "s00001c00", tool: "send_mail", arguments: { to: "ada", body: "hi" } },
    ]);
    assert.equal(paused.state?.version, 1);
    assert.equal(model.calls.length, 1);

    const done = await agent.resume(paused.state!, { approve: ["s00001c00"] });
    assert.deepEqual(executed, ["send_mail(ada)"]);
    assert.equal(done.stopReason, "final");
    assert.equal(done.text, "Sent.");
    assert.equal(done.steps, 2);
    assert.match(lastUser(model.requests[1]!.messages), /sent to ada/);
    assert.deepEqual(done.interruptions, []);
    assert.equal(done.state, undefined);
  });

  test("a rejection reaches the model with its reason, and the tool never runs", async () => {
    const { send, executed } = mailTools();
    const model = createScriptedModel([
      envelope.toolCall("send_mail", { to: "ceo", body: "hi" }),
      envelope.final("OK, I did not send it."),
    ]);
    const agent = new Agent({ client: model, tools: [send] });
    const paused = await agent.run("Mail the CEO");
    const events: string[] = [];
    const done = await agent.resume(paused.state!, {
      reject: [{ callId: "s00001c00", reason: "Never email the CEO." }],
    }, { onEvent: (e) => e.type === "tool_error" && events.push(`${e.kind}: ${e.error}`) });
    assert.deepEqual(executed, []);
    assert.equal(done.text, "OK, I did not send it.");
    const seen = lastUser(model.requests[1]!.messages);
    assert.match(seen, /rejected/);
    assert.match(seen, /Never email the CEO\./);
    assert.equal(events.length, 1);
    assert.match(events[0]!, /^rejected: /);
    const entry = done.transcript.find((e) => e.type === "tool_error");
    assert.equal(entry?.type === "tool_error" && entry.kind, "rejected");
  });

  test("no call of an interrupted step runs, not even the free ones (the step is atomic)", async () => {
    const { send, lookup, executed } = mailTools();
    const model = createScriptedModel([
      native.toolCalls([
        { name: "lookup", arguments: { name: "ada" }, id: "a" },
        { name: "send_mail", arguments: { to: "ada", body: "hi" }, id: "b" },
      ]),
      native.final("Done."),
    ]);
    const agent = new Agent({ client: model, tools: [send, lookup], protocol: "native" });
    const paused = await agent.run("Mail Ada");
    assert.deepEqual(executed, []);
    assert.deepEqual(paused.interruptions.map((i) => i.callId), ["b"]);
    const done = await agent.resume(paused.state!, { approve: ["b"] });
    assert.deepEqual(executed.sort(), ["lookup(ada)", "send_mail(ada)"]);
    assert.equal(done.text, "Done.");
    const tools = model.requests[1]!.messages.filter((m) => m.role === "tool");
    assert.deepEqual(tools.map((m) => m.tool_call_id), ["a", "b"]);
  });

  test("needsApproval as a function decides per call, on the validated arguments", async () => {
    const { remove, executed } = mailTools();
    const model = createScriptedModel([
      envelope.toolCall("remove", { path: "/tmp/x" }),
      envelope.toolCall("remove", { path: "/home/ada/thesis.tex" }),
      envelope.final("Removed the temporary file only."),
    ]);
    const agent = new Agent({ client: model, tools: [remove] });
    const paused = await agent.run("Clean up");
    assert.deepEqual(executed, ["remove(/tmp/x)"]);
    assert.equal(paused.stopReason, "interrupted");
    assert.equal(paused.interruptions[0]?.callId, "s00002c00");
    const done = await agent.resume(paused.state!, { reject: [{ callId: "s00002c00" }] });
    assert.deepEqual(executed, ["remove(/tmp/x)"]);
    assert.equal(done.steps, 3);
  });

  test("an interrupted stream yields no chunk at all (no isFinal)", async () => {
    const { send } = mailTools();
    const model = createScriptedModel([envelope.toolCall("send_mail", { to: "a", body: "b" })]);
    const stream = new Agent({ client: model, tools: [send] }).stream("Mail");
    const chunks = await collect(stream);
    assert.deepEqual(chunks, []);
    assert.equal((await stream.result).stopReason, "interrupted");
    const resumed = new Agent({
      client: createScriptedModel([envelope.final("Sent it.")]),
      tools: [send],
    }).resumeStream((await stream.result).state!, { approve: ["s00001c00"] });
    const after = await collect(resumed);
    assert.equal(after.map((c) => c.text).join(""), "Sent it.");
    assert.deepEqual(after.filter((c) => c.isFinal).length, 1);
  });

  test("resume() wants a decision for every interrupted call, and only for those", async () => {
    const { send } = mailTools();
    const agent = new Agent({
      client: createScriptedModel([envelope.toolCall("send_mail", { to: "a", body: "b" })]),
      tools: [send],
    });
    const { state } = await agent.run("Mail");
    await assert.rejects(agent.resume(state!), /needs a decision.*s00001c00/);
    await assert.rejects(agent.resume(state!, { approve: ["nope"] }), TypeError);
    await assert.rejects(
      agent.resume(state!, { approve: ["s00001c00"], reject: [{ callId: "s00001c00" }] }),
      /decided twice/,
    );
  });

  test("a needsApproval that throws counts as needing approval; invalid arguments never pause", async () => {
    const executed: string[] = [];
    const risky = defineTool({
      name: "risky",
      description: "Risky.",
      parameters: z.object({ n: z.number() }),
      needsApproval: () => {
        throw new Error("policy service down");
      },
      execute: ({ n }) => void executed.push(`risky(${n})`),
    });
    const model = createScriptedModel([
      envelope.toolCall("risky", { n: "not a number" }),
      envelope.toolCall("risky", { n: 1 }),
    ]);
    const events: string[] = [];
    const result = await new Agent({
      client: model,
      tools: [risky],
      onEvent: (e) => e.type === "tool_error" && events.push(e.kind),
    }).run("go");
    assert.deepEqual(events, ["invalid_arguments"]);
    assert.equal(result.stopReason, "interrupted");
    assert.deepEqual(result.interruptions.map((i) => i.arguments), [{ n: 1 }]);
    assert.deepEqual(executed, []);
  });

  test("defineTool rejects a needsApproval that is neither a boolean nor a function", () => {
    assert.throws(
      () =>
        defineTool({
          name: "x",
          description: "x",
          parameters: z.object({}),
          needsApproval: "yes" as unknown as boolean,
          execute: () => 1,
        }),
      /needsApproval must be true, false or a function/,
    );
  });
});
