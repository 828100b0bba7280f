/**
 * Serves examples/edge.ts's fetch handler on Node, which (unlike Deno and Bun) has no
 * convention for running a `export default { fetch }` module: a small node:http adapter.
 *
 *   node examples/serve_node.ts        → http://localhost:8000 (PORT to change)
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { createAgent, createHandler } from "./edge.ts";
import { env } from "./_runtime.ts";

const handler = createHandler(createAgent(), {
  page: () => readFile(new URL("./edge.html", import.meta.url), "utf8"),
});
const port = Number(env("PORT") ?? 8000);

createServer(async (req, res) => {
  // The client went away (or the response ended): abort, which stops the agent run.
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(new URL(req.url ?? "/", `http://${req.headers.host}`), {
    method: req.method,
    headers: req.headers as Record<string, string>,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
    signal: controller.signal,
    duplex: "half", // required by Node's fetch for a streamed request body
  } as RequestInit);
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) return void res.end();
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream), res).catch(() => {});
}).listen(port, () => console.log(`Listening on http://localhost:${port}/`));
