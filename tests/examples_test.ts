// The examples that can run offline, run in-process: the scripted demo and the edge handler.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Agent,
  APIError,
  ConnectionError,
  LMStudioClient,
  LMStudioError,
  ResponseTimeoutError,
} from "../mod.ts";
import { createFakeLMStudio, type FakeReply } from "../testing.ts";
import { ANSWER, main as demo, PROMPT } from "../examples/demo.ts";
import { createHandler } from "../examples/edge.ts";
import { lmStudioHelp } from "../examples/_lmstudio_help.ts";
import { main as approval } from "../examples/approval.ts";

describe("examples/demo.ts", () => {
  test("main() labels itself scripted, shows every tool call and streams the answer", async () => {
    const out: string[] = [];
    const result = await demo({ write: (text) => out.push(text), delayMs: 0 });
    const text = out.join("");

    assert.match(text, /scripted: no LM Studio needed/);
    assert.ok(text.includes(PROMPT), "the prompt is shown");
    const calls = [
      'get_weather({"city":"Lisbon"})',
      'get_weather({"city":"Oslo"})',
      'subtract({"a":24,"b":-3})',
    ];
    let from = 0;
    for (const call of calls) {
      const at = text.indexOf(call, from);
      assert.ok(at >= from, `tool call ${call} shown, in order`);
      from = at;
    }
    assert.ok(text.includes('{"city":"Oslo","tempC":-3,"conditions":"light snow"}'));
    assert.ok(text.includes("↳ 27"), "the subtraction's result is shown");
    assert.ok(text.indexOf(ANSWER) > from, "the answer comes after the tool calls");
    assert.ok(!text.includes("\x1b["), "no colours when writing to a custom writer");

    assert.equal(result.text, ANSWER);
    assert.equal(result.steps, 4);
    assert.equal(result.stopReason, "final");
    assert.ok(result.usage.totalTokens > 0);
    assert.match(text, /4 steps · stop: final/);
  });
});

/** Parses a text/event-stream body into its events. */
async function readSSE(response: Response): Promise<{ event: string; data: unknown }[]> {
  const body = await response.text();
  return body.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    return { event, data: JSON.parse(data.join("\n")) };
  });
}

function handlerFor(replies: FakeReply[], models?: string[], apiKey?: string) {
  const fake = createFakeLMStudio({ replies, ...(models ? { models } : {}) });
  const client = new LMStudioClient({
    fetch: fake.fetch,
    model: "fake-model",
    maxRetries: 0,
    ...(apiKey ? { apiKey } : {}),
  });
  const handler = createHandler(new Agent({ client }), { page: "<!doctype html><title>t</title>" });
  return { fake, handler };
}

const final = (content: string): FakeReply => ({
  content: JSON.stringify({ type: "final", content }),
});

describe("examples/edge.ts", () => {
  test("GET /?q= streams the agent's answer as server-sent events", async () => {
    const answer = "Two plus two is four. Nothing more to it.";
    const { fake, handler } = handlerFor([final(answer)]);
    const response = await handler(new Request("http://edge.test/?q=What%20is%202%2B2%3F"));

    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = await readSSE(response);
    const chunks = events.map((e) => e.data as { text: string; step: number; isFinal: boolean });
    assert.ok(events.every((e) => e.event === "message"));
    assert.ok(chunks.length > 1, "the answer arrives in several chunks");
    assert.equal(chunks.map((c) => c.text).join(""), answer);
    assert.deepEqual(chunks.map((c) => c.isFinal), chunks.map((_, i) => i === chunks.length - 1));
    const messages = fake.chatRequests[0]!.body!.messages as { role: string; content: string }[];
    assert.equal(messages.at(-1)!.content, "What is 2+2?");
  });

  test("POST with a JSON body streams too", async () => {
    const { fake, handler } = handlerFor([final("Hello!")]);
    const response = await handler(
      new Request("http://edge.test/", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ q: "Say hello" }),
      }),
    );
    const events = await readSSE(response);
    assert.equal(events.map((e) => (e.data as { text: string }).text).join(""), "Hello!");
    const messages = fake.chatRequests[0]!.body!.messages as { role: string; content: string }[];
    assert.equal(messages.at(-1)!.content, "Say hello");
  });

  test("a failed run ends the stream with an error event, without secrets", async () => {
    const { fake, handler } = handlerFor([], [], "sk-secret-123"); // no model loaded
    const response = await handler(new Request("http://edge.test/?q=hi"));
    const events = await readSSE(response);
    assert.equal(fake.requests[0]!.headers.get("authorization"), "Bearer sk-secret-123");
    assert.ok(
      !JSON.stringify(events).includes("sk-secret"),
      "the API key never reaches the client",
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event, "error");
    const error = events[0]!.data as { name: string; message: string };
    assert.equal(error.name, "ModelNotLoadedError"); // an APIError: one type whoever noticed
    assert.match(error.message, /No models loaded/);
  });

  test("GET / serves the page; bad requests get 400, 404, 405 and 413", async () => {
    const { fake, handler } = handlerFor([]);
    const page = await handler(new Request("http://edge.test/"));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(await page.text(), "<!doctype html><title>t</title>");

    const status = async (request: Request) => {
      const response = await handler(request);
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await status(new Request("http://edge.test/?q=%20")), 400);
    assert.equal(await status(new Request("http://edge.test/?q=")), 400, "an empty q is no 500");
    assert.equal(await status(new Request("http://edge.test/", { method: "POST", body: "" })), 400);
    assert.equal(
      await status(
        new Request("http://edge.test/", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{not json",
        }),
      ),
      400,
    );
    assert.equal(await status(new Request("http://edge.test/elsewhere?q=hi")), 404);
    assert.equal(await status(new Request("http://edge.test/?q=hi", { method: "PUT" })), 405);
    assert.equal(await status(new Request(`http://edge.test/?q=${"x".repeat(5000)}`)), 413);
    assert.equal(fake.chatRequests.length, 0, "no bad request reached the model");
  });
});

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

describe("examples/_lmstudio_help.ts", () => {
  const url = "http://127.0.0.1:9/v1";
  const help = (err: unknown, model?: string) => lmStudioHelp(err, url, model)?.replace(ANSI, "");

  test("a refused connection asks whether the server runs at that URL and how to start it", async () => {
    const client = new LMStudioClient({ baseURL: url, model: "m", maxRetries: 0 });
    const err = await client.models().catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError);
    const text = help(err)!;
    assert.match(text, /Can't reach LM Studio's server at http:\/\/127\.0\.0\.1:9\/v1/);
    assert.match(text, /lms server start/);
    assert.match(text, /lms load <model>/);
    assert.match(text, /npm run demo/);
  });

  test("no model loaded, a missing model and a response timeout get their own explanation", () => {
    const noModel = new APIError("POST …/chat/completions failed with status 400", {
      status: 400,
      serverMessage:
        "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
      code: "model_not_found",
    });
    assert.match(help(noModel)!, /but no model is loaded/);
    assert.match(
      help(noModel, "qwen3-8b")!,
      /model qwen3-8b is not loaded[\s\S]*lms load qwen3-8b/,
    );
    assert.match(
      help(new LMStudioError(`No model is loaded at ${url}: load one`))!,
      /no model is loaded/,
    );
    const timeout = new ResponseTimeoutError("no response", {
      phase: "response",
      timeoutMs: 300_000,
    });
    assert.match(help(timeout)!, /did not answer within 300 s[\s\S]*npm run demo/);
    const unauthorized = new APIError("401", { status: 401, serverMessage: "Invalid API Key" });
    assert.match(help(unauthorized)!, /LMSTUDIO_API_KEY/);
  });

  test("other errors get no LM Studio explanation", () => {
    assert.equal(
      help(new ResponseTimeoutError("silent", { phase: "idle", timeoutMs: 1 })),
      undefined,
    );
    assert.equal(help(new APIError("500", { status: 500, serverMessage: "boom" })), undefined);
    assert.equal(help(new TypeError("bad")), undefined);
  });
});

describe("examples/edge.ts and Deno's legacy-abort warning (issue 15)", () => {
  test("the handler never reads request.signal; cancelling the body still stops the run", async () => {
    const { fake, handler } = handlerFor([{
      content: JSON.stringify({ type: "final", content: "a b c" }),
    }]);
    let readSignal = false;
    class SpyRequest extends Request {
      override get signal(): AbortSignal {
        readSignal = true;
        return super.signal;
      }
    }
    const response = await handler(new SpyRequest("http://edge.test/?q=hi"));
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /"isFinal":true/);
    assert.equal(readSignal, false, "reading it makes Deno 2.9 warn");
    assert.equal(fake.chatRequests.length, 1);
  });
});

describe("examples/approval.ts", () => {
  test("--demo asks before each deletion, runs only what was approved", async () => {
    const out: string[] = [];
    const questions: string[] = [];
    const answers = [true, false];
    const result = await approval({
      demo: true,
      write: (text) => out.push(text),
      ask: (question) => {
        questions.push(question);
        return Promise.resolve(answers.shift()!);
      },
    });
    assert.deepEqual(questions, [
      'Allow delete_file({"path":"/var/log/app.log.1"})?',
      'Allow delete_file({"path":"/home/me/.cache/build"})?',
    ]);
    const text = out.join("");
    assert.match(text, /deleted \/var\/log\/app\.log\.1/);
    assert.match(text, /left on disk: \/home\/me\/\.cache\/build, \/home\/me\/thesis\.tex/);
    assert.equal(result.stopReason, "final");
    assert.equal(result.text, "I deleted what you allowed and left the rest alone.");
  });
});
