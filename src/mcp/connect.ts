/**
 * {@link connectMCP}: an MCP server's tools as agent tools, through the official
 * `@modelcontextprotocol/sdk` client over stdio (a child process) or Streamable HTTP.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client";
// The SDK's "./*" export maps types to `*.js.d.ts`, which Deno cannot find: name the types.
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/validation/cfworker"
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { Tool as MCPToolInfo } from "@modelcontextprotocol/sdk/types";
import { type AnyTool, defineTool } from "../tools.ts";
import type { JSONSchemaObject } from "../tool_schema.ts";
import { errorText } from "../_text.ts";
import { contentText, type MCPContent } from "./_content.ts";
import { MCPConnectError, MCPToolError } from "./errors.ts";

/**
 * A local MCP server started as a child process and spoken to over its stdin/stdout (Node,
 * Deno and Bun; not edge workers or browsers).
 *
 * @example
 * ```ts
 * import type { MCPStdioServer } from "./connect.ts";
 * const server: MCPStdioServer = { command: "npx", args: ["-y", "@modelcontextprotocol/server-memory"] };
 * ```
 */
export interface MCPStdioServer {
  /** The executable, e.g. `"node"` or `"npx"`. */
  command: string;
  /** Its arguments. */
  args?: readonly string[];
  /** Its environment (default: the SDK's safe subset of this process's environment). */
  env?: Record<string, string>;
  /** Its working directory (default: this process's). */
  cwd?: string;
  /** What to do with its stderr. @default "inherit" */
  stderr?: "inherit" | "ignore" | "pipe";
}

/**
 * A remote MCP server over Streamable HTTP (web standards: every runtime, edge included).
 *
 * @example
 * ```ts
 * import type { MCPHttpServer } from "./connect.ts";
 * const server: MCPHttpServer = {
 *   url: "http://127.0.0.1:3001/mcp",
 *   headers: { authorization: "Bearer …" },
 * };
 * ```
 */
export interface MCPHttpServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:3001/mcp`. */
  url: string | URL;
  /** Sent with every request (authorization, …). */
  headers?: Record<string, string>;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Options of {@link connectMCP}.
 *
 * @example
 * ```ts
 * import type { ConnectMCPOptions } from "./connect.ts";
 * const options: ConnectMCPOptions = { prefix: "fs", timeoutMs: 30_000 };
 * ```
 */
export interface ConnectMCPOptions {
  /** Aborts connecting (the handshake and the first tool list). */
  signal?: AbortSignal;
  /**
   * Limit for each tool call, in milliseconds (connecting has 60 s, or use `signal`).
   * @default 60_000
   */
  timeoutMs?: number;
  /** Agent tool names become `${prefix}__${name}`. */
  prefix?: string;
  /**
   * The server's name for {@link mergeMCPTools} prefixes.
   * @default the `prefix`, else the name the server reports
   */
  name?: string;
}

/**
 * A connected MCP server: its tools, ready for `new Agent({ tools })`, and `close()`.
 *
 * @example
 * ```ts
 * import type { MCPConnection } from "./connect.ts";
 * const names = (mcp: MCPConnection) => mcp.tools.map((tool) => tool.name);
 * ```
 */
export interface MCPConnection {
  /**
   * The server's tools as agent tools (JSON-Schema parameters). Replaced when the server
   * announces `notifications/tools/list_changed`; an agent keeps the list it was made with.
   */
  readonly tools: readonly AnyTool[];
  /** The name used by {@link mergeMCPTools} for colliding tools. */
  readonly name: string;
  /** The child process id of a stdio server (`undefined` over HTTP or once closed). */
  readonly pid: number | undefined;
  /** Ends the session: stops the child process, or ends the HTTP session and its streams. */
  close(): Promise<void>;
  /** `await using mcp = await connectMCP(…)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const CLIENT_INFO = { name: "@ai-agent/orchestrator", version: "0.1.0" };

/**
 * Connects to an MCP server and lists its tools as agent tools. Each tool's `execute` calls
 * the server with the run's `AbortSignal` (an abort cancels the call on the server too) and the
 * timeout; an `isError` result throws {@link MCPToolError} and a protocol error its `McpError`,
 * so the model sees an `execution_error`. Results become text: text content as it is, images
 * and audio as `[image: image/png, 1234 bytes]`, embedded resources as their text (or URI),
 * resource links as name and URI.
 *
 * Tool names the agent cannot carry (`/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/`) are adjusted (other
 * characters become `_`); the server is always called with the original name.
 *
 * @param server `{ command, args?, env?, cwd? }` for stdio, `{ url, headers? }` for HTTP.
 * @param options Abort signal, timeout, name prefix.
 * @returns The connection; call `close()` when done.
 * @throws {MCPConnectError} When the server cannot be reached, started or listed.
 *
 * @example Use a server's tools in an agent
 * ```ts ignore
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * import { connectMCP } from "@ai-agent/orchestrator/mcp";
 * const mcp = await connectMCP({ command: "npx", args: ["-y", "@modelcontextprotocol/server-memory"] });
 * try {
 *   const agent = new Agent({ client: new LMStudioClient(), tools: mcp.tools });
 *   console.log((await agent.run("Remember that I like tea.")).text);
 * } finally {
 *   await mcp.close();
 * }
 * ```
 */
export async function connectMCP(
  server: MCPStdioServer | MCPHttpServer,
  options: ConnectMCPOptions = {},
): Promise<MCPConnection> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`connectMCP: timeoutMs must be a positive number, got ${timeoutMs}`);
  }
  const where = describeServer(server);
  options.signal?.throwIfAborted();
  const transport = await createTransport(server);
  let tools: readonly AnyTool[] = [];
  let closed = false;
  const client = new Client(CLIENT_INFO, {
    // The SDK's default (Ajv) compiles schemas with `new Function`, which edge workers forbid.
    jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
    listChanged: {
      tools: {
        onChanged: (error, list) => {
          if (error === null && list !== null && !closed) tools = toAgentTools(list);
        },
      },
    },
  });
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (transport instanceof StreamableHTTPClientTransport) {
      // Ends the session on the server (DELETE); a server that does not support it is fine.
      await transport.terminateSession().catch(() => {});
    }
    await client.close();
  };

  const toAgentTools = (list: readonly MCPToolInfo[]): AnyTool[] =>
    list.map((info) => mcpTool(client, info, options.prefix, timeoutMs));

  try {
    const request = { signal: options.signal, timeout: DEFAULT_TIMEOUT_MS };
    await client.connect(transport, request);
    tools = toAgentTools(await listAllTools(client, request));
  } catch (error) {
    await close().catch(() => {});
    options.signal?.throwIfAborted();
    throw new MCPConnectError(`Cannot connect to MCP server ${where}: ${errorText(error)}`, {
      cause: error,
    });
  }
  const name = options.name ?? options.prefix ?? client.getServerVersion()?.name ?? where;
  return {
    get tools() {
      return tools;
    },
    name,
    get pid() {
      if (closed) return undefined;
      const pid = (transport as { pid?: number | null }).pid;
      return typeof pid === "number" ? pid : undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function listAllTools(
  client: Client,
  request: { signal?: AbortSignal; timeout: number },
): Promise<MCPToolInfo[]> {
  const all: MCPToolInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor }, request);
    all.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return all;
}

async function createTransport(server: MCPStdioServer | MCPHttpServer): Promise<Transport> {
  if ("url" in server) {
    const { url, headers, fetch } = server;
    return new StreamableHTTPClientTransport(new URL(url), {
      ...(headers === undefined ? {} : { requestInit: { headers } }),
      ...(fetch === undefined ? {} : { fetch }),
    });
  }
  if (typeof server.command !== "string" || server.command === "") {
    throw new TypeError("connectMCP: give { command, args } (stdio) or { url } (HTTP)");
  }
  // Loaded only for stdio, so that the HTTP path needs no node:child_process (edge workers).
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  return new StdioClientTransport({
    command: server.command,
    args: [...(server.args ?? [])],
    ...(server.env === undefined ? {} : { env: server.env }),
    ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
    stderr: server.stderr ?? "inherit",
  });
}

/** The server for messages: the command, or the URL's origin and path (never credentials). */
function describeServer(server: MCPStdioServer | MCPHttpServer): string {
  if ("url" in server) {
    try {
      const url = new URL(server.url);
      return `${url.protocol}//${url.host}${url.pathname}`;
    } catch {
      return "(invalid URL)";
    }
  }
  return JSON.stringify(String(server.command));
}

const VALID_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** A name the agent can carry: other characters become `_`, cut to 64 characters. */
export function agentToolName(name: string, prefix?: string): string {
  const full = prefix === undefined ? name : `${prefix}__${name}`;
  if (VALID_NAME.test(full)) return full;
  let safe = full.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (!/^[A-Za-z_]/.test(safe)) safe = `_${safe}`;
  return safe.slice(0, 64);
}

function mcpTool(
  client: Client,
  info: MCPToolInfo,
  prefix: string | undefined,
  timeoutMs: number,
): AnyTool {
  const parameters = { ...info.inputSchema, type: "object" } as JSONSchemaObject;
  const description = info.description?.trim() || info.title?.trim() || `MCP tool ${info.name}`;
  return defineTool({
    name: agentToolName(info.name, prefix),
    description,
    parameters,
    execute: async (args, context) => {
      const result = await client.callTool(
        { name: info.name, arguments: args },
        undefined,
        { signal: context.signal, timeout: timeoutMs },
      );
      const content = (Array.isArray(result.content) ? result.content : []) as MCPContent[];
      const text = contentText(content, result.structuredContent);
      if (result.isError === true) throw new MCPToolError(text, info.name);
      return text;
    },
  });
}
