/**
 * `@ai-agent/orchestrator/mcp`: tools of Model Context Protocol servers as agent tools, over
 * stdio (a child process: Node, Deno, Bun) or Streamable HTTP (every runtime, edge included),
 * with the official `@modelcontextprotocol/sdk` client. A separate entry point, so the core
 * never loads the SDK.
 *
 * @example
 * ```ts ignore
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { connectMCP } from "@ai-agent/orchestrator/mcp";
 * await using mcp = await connectMCP({ url: "http://127.0.0.1:3001/mcp" });
 * const agent = new Agent({ client: new LMStudioClient(), tools: mcp.tools });
 * console.log((await agent.run("Echo 'hi'.")).text);
 * ```
 *
 * @module
 */
export {
  connectMCP,
  type ConnectMCPOptions,
  type MCPConnection,
  type MCPHttpServer,
  type MCPStdioServer,
} from "./src/mcp/connect.ts";
export { mergeMCPTools } from "./src/mcp/merge.ts";
export type {
  AnyTool,
  InferOutput,
  ObjectSchema,
  Tool,
  ToolContext,
  ToolParameters,
} from "./src/tools.ts";
export type { JSONSchemaObject } from "./src/tool_schema.ts";
export { MCPConnectError, MCPToolError } from "./src/mcp/errors.ts";
