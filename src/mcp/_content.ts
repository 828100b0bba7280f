/**
 * What the model reads of an MCP tool result: text as it is, images and audio as a short note
 * (mime type and size: a model reading text cannot look at base64), embedded resources as their
 * text (or their URI when binary), resource links as their name and URI, and structured content
 * as JSON when the server sent no content blocks.
 *
 * @module
 */

/** One content block of an MCP `tools/call` result, as far as this module reads it. */
export interface MCPContent {
  type: string;
  text?: unknown;
  data?: unknown;
  mimeType?: unknown;
  uri?: unknown;
  name?: unknown;
  description?: unknown;
  resource?: { uri?: unknown; mimeType?: unknown; text?: unknown; blob?: unknown };
}

/** The observation text of a result's `content` (and `structuredContent` when no content). */
export function contentText(content: readonly MCPContent[], structured?: unknown): string {
  if (content.length === 0) {
    return structured === undefined ? "(no result)" : JSON.stringify(structured);
  }
  return content.map(blockText).join("\n");
}

function blockText(block: MCPContent): string {
  switch (block.type) {
    case "text":
      return String(block.text ?? "");
    case "image":
    case "audio":
      return `[${block.type}: ${String(block.mimeType ?? "unknown type")}, ${
        base64Bytes(block.data)
      } bytes]`;
    case "resource": {
      const resource = block.resource ?? {};
      if (typeof resource.text === "string") return resource.text;
      const mime = resource.mimeType === undefined ? "" : `, ${String(resource.mimeType)}`;
      return `[resource: ${String(resource.uri ?? "")}${mime}, ${
        base64Bytes(resource.blob)
      } bytes]`;
    }
    case "resource_link": {
      const about = typeof block.description === "string" ? ` (${block.description})` : "";
      return `[resource link: ${String(block.name ?? "")} <${String(block.uri ?? "")}>${about}]`;
    }
    default:
      return JSON.stringify(block);
  }
}

/** The decoded size of base64 `data`, without decoding it. */
function base64Bytes(data: unknown): number {
  if (typeof data !== "string") return 0;
  const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}
