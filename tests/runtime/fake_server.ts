// The fake LM Studio for the runtime smokes, on 127.0.0.1: a scripted tool call, then the
// final answer once the tool result comes back (`add` for the smoke; the MCP server's `echo`
// for the MCP smoke, whose prompt is "echo edge"). Also serves the browser page and bundle
// (same origin: no CORS needed). Run with Node 24; prints "listening <port>".
import { readFileSync } from "node:fs";
import { createFakeLMStudio } from "../../testing.ts";
import { serve } from "../_kit/serve.ts";
import { EXPECTED } from "./smoke.ts";

const fake = createFakeLMStudio({
  replies: (request) => {
    const messages = (request.body?.messages ?? []) as { role: string; content: string }[];
    const last = messages[messages.length - 1]?.content ?? "";
    const mcp = messages.some((m) => m.role === "user" && m.content === "echo edge");
    if (/returned/.test(last)) {
      const content = mcp ? "The MCP server echoed." : EXPECTED;
      return { content: JSON.stringify({ type: "final", content }), chunkBytes: 5 };
    }
    if (mcp) {
      return { content: '{"type":"tool_call","tool":"echo","arguments":{"message":"edge"}}' };
    }
    return {
      content: '{"type":"tool_call","tool":"add","arguments":{"a":2,"b":3}}',
      chunkBytes: 3,
    };
  },
});

const dir = new URL("./.build/", import.meta.url);
const server = await serve((request) => {
  const path = new URL(request.url).pathname;
  if (path === "/smoke.html") {
    return new Response(
      `<!doctype html><meta charset="utf-8"><script type="module" src="/smoke.js"></script>`,
      { headers: { "content-type": "text/html; charset=utf-8" } },
    );
  }
  if (path === "/smoke.js") {
    return new Response(readFileSync(new URL("smoke.browser.js", dir)), {
      headers: { "content-type": "text/javascript; charset=utf-8" },
    });
  }
  return fake.handler(request);
});
console.log(`listening ${server.port}`);
