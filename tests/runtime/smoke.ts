// The end-to-end smoke every runtime runs: an agent streams an answer that needs one tool
// call, against the fake LM Studio served on a loopback port (tests/runtime/fake_server.ts).
// Bundled by scripts/runtimes.mjs for edge runtimes and the browser; run directly elsewhere.
import * as z from "zod";
import { Agent, defineTool, LMStudioClient } from "../../mod.ts";

/** The answer the scripted model gives once the tool has returned 5. */
export const EXPECTED = "2 + 3 = 5 ✅ (computed by the add tool) 👩🏽‍💻";

/** Runs the smoke; resolves with a one-line report or rejects with what went wrong. */
export async function runSmoke(baseURL: string): Promise<string> {
  let toolRuns = 0;
  const add = defineTool({
    name: "add",
    description: "Add two numbers",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => {
      toolRuns++;
      return a + b;
    },
  });
  const agent = new Agent({
    client: new LMStudioClient({ baseURL, model: "fake-model", maxRetries: 0, apiKey: "" }),
    tools: [add],
    chunking: "grapheme",
  });
  const stream = agent.stream("What is 2 + 3?");
  const chunks: string[] = [];
  let finals = 0;
  for await (const chunk of stream) {
    chunks.push(chunk.text);
    if (chunk.isFinal) finals++;
  }
  const result = await stream.result;
  const text = chunks.join("");
  if (text !== EXPECTED) throw new Error(`streamed text ${JSON.stringify(text)} != expected`);
  if (result.text !== EXPECTED) throw new Error(`result.text ${JSON.stringify(result.text)}`);
  if (toolRuns !== 1) throw new Error(`tool ran ${toolRuns} times, expected 1`);
  if (finals !== 1) throw new Error(`${finals} chunks had isFinal`);
  if (result.steps !== 2 || result.stopReason !== "final") {
    throw new Error(`steps ${result.steps}, stopReason ${result.stopReason}`);
  }
  return `ok: ${chunks.length} chunks, ${result.steps} steps, text ${JSON.stringify(text)}`;
}
