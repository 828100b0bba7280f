// Resumable state: plain JSON that survives JSON.stringify and resumes identically, in this
// process and in another runtime's process; a typed ResumeError for another version, other
// tools or settings, or a changed state; checkpoints after every step that resume to the same
// answer as an uninterrupted run.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as z from "zod";
import {
  Agent,
  type AgentRunState,
  type Checkpoint,
  defineTool,
  ResumeError,
  type ToolContext,
} from "../mod.ts";
import { createScriptedModel, envelope } from "../testing.ts";
import { makeAgent, runtimeName } from "./_kit/resume_kit.ts";
import { makeTools } from "./_kit/tools_kit.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

async function paused(): Promise<AgentRunState> {
  const { agent, executed } = makeAgent();
  const result = await agent.run("Mail Ada");
  assert.equal(result.stopReason, "interrupted");
  assert.deepEqual(executed, ["lookup(ada)"]);
  return result.state!;
}

describe("resumable state", () => {
  test("is plain JSON: JSON.parse(JSON.stringify(state)) resumes identically", async () => {
    const state = await paused();
    assert.deepEqual(JSON.parse(JSON.stringify(state)), state);
    const a = makeAgent();
    const direct = await a.agent.resume(state, { approve: ["s00002c00"] });
    const b = makeAgent();
    const copied = await b.agent.resume(JSON.parse(JSON.stringify(state)), {
      approve: ["s00002c00"],
    });
    assert.equal(copied.text, direct.text);
    assert.deepEqual(copied.messages, direct.messages);
    assert.deepEqual(copied.transcript, direct.transcript);
    assert.deepEqual(a.executed, ["send_mail(ada@example.com)"]);
    assert.deepEqual(b.executed, ["send_mail(ada@example.com)"]);
    assert.match(direct.text, /^Done after 2 results; last: sent to ada@example\.com$/);
    assert.equal(direct.steps, 3);
  });

  test("pauses in this runtime's process and resumes in another runtime's", async () => {
    const state = await paused();
    const here = runtimeName();
    const bin = (name: string) => `${root}node_modules/.bin/${name}`;
    const child = "tests/_kit/resume_child.ts";
    const other = {
      node: { name: "deno", cmd: bin("deno"), args: ["run", "-A", "--no-check", child] },
      deno: { name: "bun", cmd: bin("bun"), args: [child] },
      bun: { name: "node", cmd: `${root}node_modules/node24/bin/node`, args: [child] },
    }[here];
    const r = spawnSync(other.cmd, other.args, {
      cwd: root,
      input: JSON.stringify(state),
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${other.name} failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.runtime, other.name);
    const local = await makeAgent().agent.resume(state, { approve: ["s00002c00"] });
    assert.equal(out.text, local.text);
    assert.equal(out.steps, local.steps);
    assert.deepEqual(out.messages, local.messages);
    assert.deepEqual(out.executed, ["send_mail(ada@example.com)"]);
  });

  test("another version, other tools, other settings or a changed state: ResumeError", async () => {
    const state = await paused();
    const { agent } = makeAgent();
    const reason = async (s: unknown) => {
      const err = await agent.resume(s as AgentRunState, { approve: ["s00002c00"] }).then(
        () => assert.fail("resumed"),
        (e) => e,
      );
      assert.ok(err instanceof ResumeError, String(err));
      assert.equal(err.name, "ResumeError");
      return err.reason;
    };
    assert.equal(await reason({ ...state, version: 2 }), "version");
    assert.equal(await reason({ ...state, step: 7 }), "tampered");
    const history = structuredClone(state.history);
    history[0]!.content = "Mail Bob";
    assert.equal(await reason({ ...state, history }), "tampered");
    assert.equal(await reason("{}"), "malformed");

    const { add } = makeTools();
    const otherTools = new Agent({ client: createScriptedModel([]), tools: [add] });
    await assert.rejects(
      otherTools.resume(state, { approve: ["s00002c00"] }),
      (e) => e instanceof ResumeError && e.reason === "tools",
    );
    // Same names, another schema: still other tools.
    const lookalike = ["lookup", "send_mail"].map((name) =>
      defineTool({
        name,
        description: "x",
        parameters: z.object({ other: z.number() }),
        execute: () => 1,
      })
    );
    await assert.rejects(
      new Agent({ client: createScriptedModel([]), tools: lookalike }).resume(state),
      (e) => e instanceof ResumeError && e.reason === "tools",
    );
  });

  test("a state saved with another protocol is refused as other settings", async () => {
    const { add } = makeTools();
    const gated = defineTool({ ...add, name: "gated_add", needsApproval: true });
    const model = createScriptedModel([envelope.toolCall("gated_add", { a: 1, b: 2 })]);
    const { state } = await new Agent({ client: model, tools: [gated] }).run("add");
    const native = new Agent({ client: model, tools: [gated], protocol: "native" });
    await assert.rejects(
      native.resume(state!, { approve: ["s00001c00"] }),
      (e) => e instanceof ResumeError && e.reason === "settings",
    );
  });
});

describe("checkpoints", () => {
  const replies = [
    envelope.toolCall("add", { a: 1, b: 2 }),
    envelope.toolCall("multiply", { x: 3, y: 4 }),
    envelope.toolCall("add", { a: 5, b: 6 }),
    envelope.final("3, 12 and 11"),
  ];

  test("after every completed step, each resuming to the uninterrupted run's answer", async () => {
    const tools = makeTools();
    const checkpoints: Checkpoint[] = [];
    const whole = await new Agent({
      client: createScriptedModel(replies),
      tools: [tools.add, tools.multiply],
    }).run("compute", { onCheckpoint: (c) => void checkpoints.push(c) });
    assert.deepEqual(checkpoints.map((c) => c.step), [1, 2, 3]);
    assert.equal(tools.executed.length, 3);

    for (const { step, state } of checkpoints) {
      const again = makeTools();
      const saved = JSON.parse(JSON.stringify(state));
      const model = createScriptedModel(replies.slice(step));
      const result = await new Agent({ client: model, tools: [again.add, again.multiply] })
        .resume(saved);
      assert.equal(result.text, whole.text);
      assert.equal(result.steps, whole.steps);
      assert.deepEqual(result.messages, whole.messages);
      assert.deepEqual(result.transcript, whole.transcript);
      assert.deepEqual(result.usage, whole.usage);
      // Only the steps after the checkpoint ran again.
      assert.deepEqual(again.executed, tools.executed.slice(step));
    }
  });

  test("onCheckpoint is awaited before the next step acts", async () => {
    const tools = makeTools();
    const order: string[] = [];
    const slow = defineTool({
      name: "note",
      description: "Notes.",
      parameters: z.object({}),
      execute: (_args: Record<string, never>, ctx: ToolContext) => {
        order.push(`tool ${ctx.step}`);
        return "ok";
      },
    });
    await new Agent({
      client: createScriptedModel([
        envelope.toolCall("note", {}),
        envelope.toolCall("note", {}),
        envelope.final("done"),
      ]),
      tools: [slow, tools.add],
    }).run("go", {
      onCheckpoint: async ({ step }) => {
        await new Promise((r) => setTimeout(r, 10));
        order.push(`saved ${step}`);
      },
    });
    assert.deepEqual(order, ["tool 1", "saved 1", "tool 2", "saved 2"]);
  });
});

describe("durable execution (the README's workflow pattern)", () => {
  test("a run stopped at every checkpoint and resumed step by step gives the same answer", async () => {
    const replies = [
      envelope.toolCall("add", { a: 1, b: 2 }),
      envelope.toolCall("multiply", { x: 3, y: 4 }),
      envelope.final("3 and 12"),
    ];
    const tools = makeTools();
    const model = createScriptedModel(replies);
    const agent = new Agent({ client: model, tools: [tools.add, tools.multiply] });
    const advance = async (state?: AgentRunState) => {
      const stop = new AbortController();
      let next: Checkpoint | undefined;
      const options = {
        signal: stop.signal,
        onCheckpoint: (c: Checkpoint) => void (next = c, stop.abort()),
      };
      try {
        const result = state
          ? await agent.resume(state, undefined, options)
          : await agent.run("compute", options);
        return { text: result.text, state: undefined };
      } catch (err) {
        if (next) return { text: undefined, state: JSON.parse(JSON.stringify(next.state)) };
        throw err;
      }
    };
    let out = await advance();
    let rounds = 1;
    while (out.state) {
      out = await advance(out.state);
      rounds++;
    }
    assert.equal(out.text, "3 and 12");
    assert.equal(rounds, 3);
    assert.deepEqual(tools.executed, ["add(1,2)", "multiply(3,4)"]);
    assert.equal(model.calls.length, 3);
  });
});
