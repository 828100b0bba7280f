// The MCP entry point's web-standard path in edge runtimes: connectMCP() over Streamable HTTP
// to a real MCP server (@modelcontextprotocol/server-everything, started on a loopback port by
// scripts/runtimes.mjs), and an agent that calls its `echo` tool against the fake LM Studio.
// Bundled for edge-runtime and workerd, with the stdio transport left out (it needs
// node:child_process, which edge workers do not have).
import { Agent, LMStudioClient } from "../../mod.ts";
import { connectMCP } from "../../mcp.ts";

/** Runs the MCP smoke; resolves with a one-line report or rejects with what went wrong. */
export async function runMcpSmoke(mcpURL: string, lmBaseURL: string): Promise<string> {
  const mcp = await connectMCP({ url: mcpURL });
  try {
    const echo = mcp.tools.find((tool) => tool.name === "echo");
    if (!echo) throw new Error(`no echo tool among ${mcp.tools.map((t) => t.name).join(", ")}`);
    let observed = "";
    const agent = new Agent({
      client: new LMStudioClient({ baseURL: lmBaseURL, model: "fake-model", maxRetries: 0 }),
      tools: [echo],
      onEvent: (e) => {
        if (e.type === "tool_result") observed = e.output;
      },
    });
    const result = await agent.run("echo edge");
    if (observed !== "Echo: edge") throw new Error(`the tool returned ${JSON.stringify(observed)}`);
    return `ok: ${mcp.tools.length} MCP tools, echo → ${JSON.stringify(observed)}, answer ${
      JSON.stringify(result.text)
    }`;
  } finally {
    await mcp.close();
  }
}
