/**
 * Stream an agent's answer: chunks are printed as they arrive.
 *
 *   deno run -A examples/stream.ts ["your question"]
 *   bun run examples/stream.ts
 *   node examples/stream.ts
 *
 * Configure with LMSTUDIO_BASE_URL, LMSTUDIO_MODEL and LMSTUDIO_API_KEY.
 */
import * as z from "zod";
import { Agent, defineTool, LMStudioClient } from "../mod.ts";
import { runExample } from "./_lmstudio_help.ts";
import { args, write } from "./_runtime.ts";

const multiply = defineTool({
  name: "multiply",
  description: "Multiply two numbers exactly.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a * b,
});

const client = new LMStudioClient(); // reads LMSTUDIO_BASE_URL / _MODEL / _API_KEY
const agent = new Agent({ client, tools: [multiply] });
const prompt = args().join(" ") ||
  "What is 1234 × 5678? Then explain in two sentences how you know.";

await runExample(client, async () => {
  const stream = agent.stream(prompt);
  for await (const chunk of stream) write(chunk.text);

  const { steps, stopReason, usage } = await stream.result;
  write(`\n\n— ${steps} steps, ${stopReason}, ${usage.totalTokens} tokens\n`);
});
