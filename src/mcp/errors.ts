/**
 * The errors of the MCP entry point.
 *
 * @module
 */

/**
 * An MCP tool answered with `isError: true`: the tool ran and failed. Thrown inside the agent
 * tool's `execute`, so the agent shows the model an `execution_error` with this message (the
 * text the server sent).
 *
 * @example
 * ```ts
 * import { MCPToolError } from "./errors.ts";
 * const isServerSide = (error: unknown) => error instanceof MCPToolError;
 * ```
 */
export class MCPToolError extends Error {
  /** Stable error name, safe to compare against. */
  override name: "MCPToolError" = "MCPToolError" as const;
  /** The tool's name on the MCP server. */
  readonly tool: string;

  /**
   * Creates the error.
   *
   * @param message The text of the result's content.
   * @param tool The tool's name on the server.
   */
  constructor(message: string, tool: string) {
    super(message);
    this.tool = tool;
  }
}

/**
 * Connecting to an MCP server failed: the process did not start, the URL did not answer, the
 * handshake failed or timed out, or listing its tools failed. `cause` holds the reason.
 *
 * @example
 * ```ts
 * import { MCPConnectError } from "./errors.ts";
 * const cannotConnect = (error: unknown) => error instanceof MCPConnectError;
 * ```
 */
export class MCPConnectError extends Error {
  /** Stable error name, safe to compare against. */
  override name: "MCPConnectError" = "MCPConnectError" as const;

  /**
   * Creates the error.
   *
   * @param message What failed, naming the server (command or URL origin, never credentials).
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
