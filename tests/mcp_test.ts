// Real MCP servers from npm (server-everything, server-memory), started as child processes over
// stdio and Streamable HTTP; a scripted model drives the agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, type AgentResult } from "../mod.ts";
import { createScriptedModel, native } from "../testing.ts";
import {
  connectMCP,
  MCPConnectError,
  type MCPConnection,
  MCPToolError,
  mergeMCPTools,
} from "../mcp.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EVERYTHING = join(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const MEMORY = join(ROOT, "node_modules/@modelcontextprotocol/server-memory/dist/index.js");
const everythingStdio = { command: "node", args: [EVERYTHING, "stdio"], stderr: "ignore" as const };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs an agent whose model makes `calls` (one step each array) and then answers "done". */
async function runSteps(
  tools: MCPConnection["tools"],
  steps: { name: string; arguments: Record<string, unknown> }[][],
  signal?: AbortSignal,
): Promise<AgentResult> {
  const model = createScriptedModel([
    ...steps.map((calls) => native.toolCalls(calls)),
    native.final("done"),
  ]);
  return await new Agent({ client: model, tools: [...tools], protocol: "native" }).run("go", {
    signal,
  });
}

/** One step of parallel `calls`, then "done". */
function runCalls(
  tools: MCPConnection["tools"],
  calls: { name: string; arguments: Record<string, unknown> }[],
  signal?: AbortSignal,
): Promise<AgentResult> {
  return runSteps(tools, [calls], signal);
}

function outputs(result: AgentResult): string[] {
  return result.transcript.flatMap((e) => e.type === "tool_result" ? [e.output] : []);
}

function errors(result: AgentResult): { kind: string; error: string }[] {
  return result.transcript.flatMap((e) =>
    e.type === "tool_error" ? [{ kind: e.kind, error: e.error }] : []
  );
}

describe("MCP over stdio: server-everything", () => {
  let mcp: MCPConnection;
  before(async () => {
    mcp = await connectMCP(everythingStdio, { timeoutMs: 20_000 });
  });
  after(async () => {
    await mcp?.close();
  });

  test("lists the server's tools with their JSON Schemas", () => {
    const echo = mcp.tools.find((tool) => tool.name === "echo");
    assert.ok(echo, "echo is listed");
    assert.equal((echo.parameters as { type: string }).type, "object");
    assert.ok(mcp.tools.some((tool) => tool.name === "trigger-long-running-operation"));
    assert.equal(typeof mcp.pid, "number");
  });

  test("an agent calls real tools and reads their real results", async () => {
    const result = await runCalls(mcp.tools, [
      { name: "echo", arguments: { message: "hi there" } },
      { name: "get-sum", arguments: { a: 2, b: 40 } },
    ]);
    assert.deepEqual(outputs(result), ["Echo: hi there", "The sum of 2 and 40 is 42."]);
    assert.equal(result.text, "done");
  });

  test("image and resource content become text the model can read", async () => {
    const result = await runCalls(mcp.tools, [
      { name: "get-tiny-image", arguments: {} },
      { name: "get-resource-reference", arguments: { resourceType: "Text", resourceId: 1 } },
    ]);
    const [image, resource] = outputs(result);
    assert.match(image!, /^Here's the image you requested:\n\[image: image\/png, \d+ bytes\]/);
    assert.match(resource!, /\nResource 1: This is a plaintext resource/);
  });

  test("a tool with an outputSchema: the SDK checks structured content (no Ajv)", async () => {
    const result = await runCalls(mcp.tools, [
      { name: "get-structured-content", arguments: { location: "New York" } },
    ]);
    const [output] = outputs(result);
    assert.deepEqual(Object.keys(JSON.parse(output!)).sort(), [
      "conditions",
      "humidity",
      "temperature",
    ]);
  });

  test("arguments the schema rejects never reach the server", async () => {
    const result = await runCalls(mcp.tools, [{ name: "echo", arguments: { message: 5 } }]);
    assert.deepEqual(errors(result).map((e) => e.kind), ["invalid_arguments"]);
  });

  test("an MCP error (the call timed out) is an execution_error", async () => {
    const quick = await connectMCP(everythingStdio, { timeoutMs: 300 });
    try {
      const result = await runCalls(quick.tools, [
        { name: "trigger-long-running-operation", arguments: { duration: 3, steps: 1 } },
      ]);
      const [error] = errors(result);
      assert.equal(error?.kind, "execution_error");
      assert.match(error!.error, /MCP error -32001: Request timed out/);
    } finally {
      await quick.close();
    }
  });

  test("aborting the run during a slow call cancels it promptly", async () => {
    const controller = new AbortController();
    const reason = new Error("user stop");
    setTimeout(() => controller.abort(reason), 300);
    const started = performance.now();
    await assert.rejects(
      runCalls(mcp.tools, [
        { name: "trigger-long-running-operation", arguments: { duration: 10, steps: 10 } },
      ], controller.signal),
      (error) => error === reason,
    );
    assert.ok(performance.now() - started < 3_000, "not the 10 s of the operation");
    // The connection still works after the cancelled call.
    const again = await runCalls(mcp.tools, [{ name: "echo", arguments: { message: "ok" } }]);
    assert.deepEqual(outputs(again), ["Echo: ok"]);
  });

  test("close() stops the child process", async () => {
    const own = await connectMCP(everythingStdio);
    const pid = own.pid!;
    assert.equal(alive(pid), true);
    await own.close();
    assert.equal(own.pid, undefined);
    assert.equal(alive(pid), false, `child ${pid} is gone`);
    await own.close(); // twice is fine
  });

  test("a command that is not an MCP server is an MCPConnectError", async () => {
    await assert.rejects(
      connectMCP({ command: "node", args: ["-e", "process.exit(3)"], stderr: "ignore" }, {
        timeoutMs: 5_000,
      }),
      (error) => error instanceof MCPConnectError && /"node"/.test(error.message),
    );
  });
});

describe("MCP over stdio: server-memory", () => {
  let mcp: MCPConnection;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-memory-"));
    mcp = await connectMCP({
      command: "node",
      args: [MEMORY],
      env: { MEMORY_FILE_PATH: join(dir, "memory.jsonl"), PATH: process.env.PATH ?? "" },
      stderr: "ignore",
    }, { prefix: "memory" });
  });
  after(async () => {
    await mcp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("prefixed names; a real write and read; an isError result is a tool error", async () => {
    assert.ok(mcp.tools.every((tool) => tool.name.startsWith("memory__")));
    const result = await runSteps(mcp.tools, [
      [{
        name: "memory__create_entities",
        arguments: { entities: [{ name: "Ada", entityType: "person", observations: ["tea"] }] },
      }],
      [{
        name: "memory__add_observations",
        arguments: { observations: [{ entityName: "Nobody", contents: ["x"] }] },
      }],
      [{ name: "memory__open_nodes", arguments: { names: ["Ada"] } }],
    ]);
    const [created, opened] = outputs(result);
    assert.match(created!, /"name": "Ada"/);
    assert.match(opened!, /"observations": \[\s*"tea"\s*\]/);
    assert.deepEqual(errors(result), [
      { kind: "execution_error", error: "MCPToolError: Entity with name Nobody not found" },
    ]);
  });

  test("the isError result throws MCPToolError from execute", async () => {
    const tool = mcp.tools.find((t) => t.name === "memory__add_observations")!;
    await assert.rejects(
      Promise.resolve(tool.execute({ observations: [{ entityName: "X", contents: ["y"] }] }, {
        signal: new AbortController().signal,
        step: 1,
        callId: "c",
      })),
      (error) => error instanceof MCPToolError && error.tool === "add_observations",
    );
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

describe("MCP over Streamable HTTP: server-everything", () => {
  let child: ChildProcess;
  let url: string;
  before(async () => {
    const port = await freePort();
    child = spawn("node", [EVERYTHING, "streamableHttp"], {
      env: { ...process.env, PORT: String(port) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (data: Uint8Array) => {
        log += new TextDecoder().decode(data);
        if (log.includes("listening on port")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`server exited ${code}: ${log}`)));
    });
    url = `http://127.0.0.1:${port}/mcp`;
  });
  after(async () => {
    child.kill();
    if (child.exitCode === null) await once(child, "exit");
  });

  test("an agent calls a tool over HTTP; close() ends the session", async () => {
    const mcp = await connectMCP({ url, headers: { "x-test": "1" } });
    assert.equal(mcp.pid, undefined);
    const result = await runCalls(mcp.tools, [{ name: "echo", arguments: { message: "web" } }]);
    assert.deepEqual(outputs(result), ["Echo: web"]);
    await mcp.close();
  });

  test("colliding names across servers are prefixed by mergeMCPTools", async () => {
    const web = await connectMCP({ url }, { name: "web" });
    const local = await connectMCP(everythingStdio, { name: "local" });
    try {
      const tools = mergeMCPTools([web, local]);
      const names = tools.map((tool) => tool.name);
      assert.ok(names.includes("web__echo") && names.includes("local__echo"));
      assert.ok(!names.includes("echo"));
      assert.equal(new Set(names).size, names.length);
      const result = await runCalls(tools, [
        { name: "web__echo", arguments: { message: "a" } },
        { name: "local__echo", arguments: { message: "b" } },
      ]);
      assert.deepEqual(outputs(result), ["Echo: a", "Echo: b"]);
      assert.throws(() => mergeMCPTools([web, web]), /still collides/);
    } finally {
      await web.close();
      await local.close();
    }
  });
});

describe("MCP tools/list_changed", () => {
  // A server built with the official SDK's McpServer that adds a tool after connecting.
  const script = `
    import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
    import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
    const server = new McpServer({ name: "late", version: "1.0.0" });
    server.registerTool("first", { description: "First." }, async () => ({
      content: [{ type: "text", text: "1" }],
    }));
    await server.connect(new StdioServerTransport());
    setTimeout(() => {
      server.registerTool("second", { description: "Second." }, async () => ({
        content: [{ type: "text", text: "2" }],
      }));
    }, 300);
  `;

  test("the tool list is refreshed when the server announces a change", async () => {
    const mcp = await connectMCP({
      command: "node",
      args: ["--input-type=module", "-e", script],
      cwd: ROOT,
      stderr: "ignore",
    });
    try {
      assert.deepEqual(mcp.tools.map((tool) => tool.name), ["first"]);
      const deadline = Date.now() + 5_000;
      while (mcp.tools.length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(mcp.tools.map((tool) => tool.name), ["first", "second"]);
    } finally {
      await mcp.close();
    }
  });
});
