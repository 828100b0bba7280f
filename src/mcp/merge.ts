/**
 * {@link mergeMCPTools}: the tools of several MCP servers in one list, colliding names
 * prefixed with their server's name.
 *
 * @module
 */
import type { AnyTool } from "../tools.ts";
import { agentToolName, type MCPConnection } from "./connect.ts";

/**
 * The tools of several connections as one list for `new Agent({ tools })`. A name offered by
 * more than one server becomes `${server}__${tool}` for each of them (the connection's `name`:
 * its `prefix`/`name` option or the name the server reports); unique names stay as they are.
 * A snapshot: call it again after a server's tool list changed.
 *
 * @param connections From {@link connectMCP}.
 * @returns The tools, in connection order.
 * @throws {TypeError} When names still collide after prefixing (two servers of one name).
 *
 * @example
 * ```ts ignore
 * import { connectMCP, mergeMCPTools } from "@ai-agent/orchestrator/mcp";
 * const a = await connectMCP({ command: "node", args: ["server-a.js"] }, { name: "a" });
 * const b = await connectMCP({ url: "http://127.0.0.1:3001/mcp" }, { name: "b" });
 * const tools = mergeMCPTools([a, b]); // "a__search", "b__search", "only_in_b", …
 * ```
 */
export function mergeMCPTools(connections: readonly MCPConnection[]): AnyTool[] {
  const count = new Map<string, number>();
  for (const connection of connections) {
    for (const tool of connection.tools) count.set(tool.name, (count.get(tool.name) ?? 0) + 1);
  }
  const merged: AnyTool[] = [];
  const seen = new Set<string>();
  for (const connection of connections) {
    for (const tool of connection.tools) {
      const name = count.get(tool.name)! > 1
        ? agentToolName(tool.name, connection.name)
        : tool.name;
      if (seen.has(name)) {
        throw new TypeError(
          `mergeMCPTools: tool name "${name}" still collides; give the connections different ` +
            "names (connectMCP(…, { name }))",
        );
      }
      seen.add(name);
      merged.push(name === tool.name ? tool : Object.freeze({ ...tool, name }));
    }
  }
  return merged;
}
