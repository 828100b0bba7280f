/**
 * An edge function: a web-standard fetch handler that streams an agent's answer as
 * server-sent events, plus a tiny browser page (edge.html) that reads them.
 *
 *   deno serve -A examples/edge.ts     → http://localhost:8000
 *   bun run examples/edge.ts           → http://localhost:3000 (Bun serves a default export
 *                                        with a fetch method)
 *   node examples/serve_node.ts        → http://localhost:8000 (Node has no such convention:
 *                                        serve_node.ts is a 20-line node:http adapter)
 *   Cloudflare Workers and other worker runtimes: deploy this module as is, with
 *   LMSTUDIO_BASE_URL (and LMSTUDIO_MODEL, LMSTUDIO_API_KEY) as environment bindings. The
 *   LM Studio server must be reachable from where the worker runs.
 *
 * Routes:
 *   GET  /              the page (edge.html)
 *   GET  /?q=question   SSE: one `data: {"text","step","isFinal"}` per chunk; on failure a
 *                       final `event: error` with `{"name","message"}`
 *   POST /              SSE too; the question is the body (plain text, or JSON {"q": "…"})
 *
 *   curl -N 'http://localhost:8000/?q=What%20is%201234%20times%205678%3F'
 *
 * Nothing here touches runtime globals at module load (worker runtimes forbid much of that);
 * the client reads LMSTUDIO_* itself, through its guarded env reader, on first use.
 */
import { Agent, LMStudioClient } from "../mod.ts";
import { calculate, currentTime } from "./_tools.ts";

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  /**
   * The HTML served at `GET /`: a string, or a function loading it.
   * @default edge.html next to this module, read through `fetch` of its file: URL (Deno, Bun)
   */
  page?: string | (() => Promise<string>);
  /**
   * Longer questions are refused with 413.
   * @default 4000
   */
  maxPromptChars?: number;
}

/**
 * The agent the handler uses. `env` holds worker bindings (`LMSTUDIO_BASE_URL`, …) when the
 * runtime passes them to `fetch`; without them the client falls back to the process env.
 */
export function createAgent(env: Record<string, unknown> = {}): Agent {
  const str = (name: string) => typeof env[name] === "string" ? env[name] as string : undefined;
  const client = new LMStudioClient({
    baseURL: str("LMSTUDIO_BASE_URL"),
    model: str("LMSTUDIO_MODEL"),
    apiKey: str("LMSTUDIO_API_KEY"),
  });
  return new Agent({
    client,
    tools: [calculate, currentTime],
    maxSteps: 6,
    instructions: "Keep answers short: a few sentences at most.",
  });
}

/**
 * A `(Request) => Response` handler serving the page and the SSE stream for `agent`.
 *
 * @example In a test, with the fake LM Studio
 * ```ts
 * const handler = createHandler(new Agent({ client: new LMStudioClient({ fetch: fake.fetch }) }));
 * const response = await handler(new Request("http://x/?q=hi"));
 * ```
 */
export function createHandler(
  agent: Agent,
  options: HandlerOptions = {},
): (request: Request) => Promise<Response> {
  const maxPromptChars = options.maxPromptChars ?? 4000;
  let page: Promise<string | undefined> | undefined;
  const loadPage = async (): Promise<string | undefined> => {
    if (typeof options.page === "string") return options.page;
    if (options.page) return await options.page();
    try {
      const response = await fetch(new URL("./edge.html", import.meta.url));
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined; // no file: fetch here (Node, bundled workers): pass `page`
    }
  };

  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname !== "/") return text(404, "Not found. Try GET / or GET /?q=your+question");

    let prompt: string | null = null;
    if (request.method === "POST") {
      const body = await request.text();
      prompt = body;
      if ((request.headers.get("content-type") ?? "").includes("application/json")) {
        try {
          const json = JSON.parse(body);
          prompt = typeof json?.q === "string" ? json.q : null;
        } catch {
          return text(400, 'The body is not JSON: send {"q": "your question"} or plain text.');
        }
      }
    } else if (request.method === "GET") {
      prompt = url.searchParams.get("q");
      if (prompt === null) {
        page ??= loadPage();
        const html = await page;
        if (html === undefined) {
          page = undefined;
          return text(404, "The page is not available in this runtime. Ask with GET /?q=…");
        }
        return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
    } else {
      return text(405, "Use GET or POST.", { allow: "GET, POST" });
    }

    if (prompt === null || prompt.trim() === "") {
      return text(400, "Ask something: GET /?q=your+question, or POST the question.");
    }
    if (prompt.length > maxPromptChars) {
      return text(413, `The question is longer than ${maxPromptChars} characters.`);
    }
    // No `{ signal: request.signal }`: when the client goes away the runtime cancels this
    // body, which stops the run (the model call included). Reading `request.signal` would
    // make Deno 2.9 warn that it "aborts on successful responses (legacy behavior)".
    return agent.stream(prompt).toSSEResponse();
  };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

let handler: ((request: Request) => Promise<Response>) | undefined;

export default {
  /**
   * The entry point for `deno serve`, Bun and worker runtimes. The second argument is the
   * worker's bindings on Cloudflare (Deno and Bun pass their own objects, which carry no
   * LMSTUDIO_* keys and are ignored).
   */
  fetch(request: Request, env?: unknown): Promise<Response> {
    handler ??= createHandler(
      createAgent(typeof env === "object" && env !== null ? env as Record<string, unknown> : {}),
    );
    return handler(request);
  },
  // Bun closes connections idle for 10 s by default; a model loading on the first request
  // can keep the stream silent for longer. (Other runtimes ignore this field.)
  idleTimeout: 0,
};
