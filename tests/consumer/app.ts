// Example user code, written as a newcomer would: a tool, a run, a stream, the transcript, an
// edge handler and a test with the kit. Type-checked by tsc (tsconfig.json here: strict,
// `types: ["node"]`, no DOM lib) and by `deno check`; never run.
import process from "node:process";
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentResult,
  defineTool,
  LMStudioClient,
  type StreamChunk,
} from "../../mod.ts";
import { createScriptedModel, envelope } from "../../testing.ts";

const weather = defineTool({
  name: "weather",
  description: "Current weather for a city.",
  parameters: z.object({ city: z.string(), unit: z.enum(["C", "F"]).default("C") }),
  execute: ({ city, unit }, { signal }) => {
    signal.throwIfAborted();
    return { city, unit, temperature: 21 };
  },
});

const client = new LMStudioClient({ baseURL: "http://localhost:1234/v1", model: "qwen3-4b" });
const agent = new Agent({
  client,
  tools: [weather],
  maxSteps: 5,
  onEvent: (e: AgentEvent) => {
    if (e.type === "tool_call") console.log(e.tool, e.arguments);
    if (e.type === "tool_error") console.log(e.kind, e.error);
  },
});

export async function chat(question: string): Promise<string> {
  const result: AgentResult = await agent.run(question);
  for (const entry of result.transcript) {
    if (entry.type === "tool_call") console.log(`→ ${entry.tool}`, entry.arguments);
    else if (entry.type === "tool_result") console.log(`← ${entry.output}`);
    else if (entry.type === "tool_error") console.log(`✗ ${entry.error}`);
    else console.log(`${entry.type}: ${entry.text}`);
  }
  const next = await agent.run("And tomorrow?", { messages: result.messages });
  return next.text;
}

export async function streamed(question: string): Promise<number> {
  const stream = agent.stream(question);
  const result = stream.result; // passive: the loop below still gets every chunk
  for await (const chunk of stream as AsyncIterable<StreamChunk>) process.stdout.write(chunk.text);
  return (await result).steps;
}

export async function clientOnly(): Promise<void> {
  for await (const d of client.stream({ messages: [{ role: "user", content: "Hi" }] })) {
    process.stdout.write(d.text + d.reasoning);
  }
  const reply = await client.generate({ messages: [{ role: "user", content: "Hi" }] });
  console.log(reply.text, reply.usage?.totalTokens);
}

export const handler = {
  fetch(request: Request): Response {
    const q = new URL(request.url).searchParams.get("q") || "Hello";
    return agent.stream(q).toSSEResponse();
  },
};

export async function testWithTheKit(): Promise<string> {
  const model = createScriptedModel([
    envelope.toolCall("weather", { city: "Oslo" }),
    envelope.final("Mild."),
  ]);
  const result = await new Agent({ client: model, tools: [weather] }).run("Weather in Oslo?");
  return `${result.text} after ${model.calls.length} calls`;
}
