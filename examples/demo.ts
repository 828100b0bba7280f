/**
 * The offline demo: the stream example wired to the test kit's fake LM Studio, which plays a
 * scripted, tool-using conversation (two weather lookups and a subtraction) at a realistic
 * pace. Nothing else is needed: no LM Studio, no model, no network.
 *
 *   npm run demo                  (installs what it needs on a fresh clone, then runs this)
 *   deno run -A examples/demo.ts
 *   bun run examples/demo.ts
 *   node examples/demo.ts
 *
 * Everything you see comes from the real library: the agent streams the fake server's SSE,
 * buffers and validates each reply, runs the (real) tools, and streams the final answer.
 * Only the model's replies are canned.
 */
import * as z from "zod";
import { Agent, type AgentEvent, type AgentResult, defineTool, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio, type FakeReply, tokenize } from "../testing.ts";
import { formatMs, isMain, paint, setExitCode, useColor, write, writeErr } from "./_runtime.ts";

/** Options of {@link main}. */
export interface DemoOptions {
  /** Where the output goes. @default stdout */
  write?: (text: string) => void;
  /** Colour the output. @default a TTY without NO_COLOR (false when `write` is given) */
  color?: boolean;
  /** Pace of the scripted model, in ms per streamed token (0: as fast as possible). @default 30 */
  delayMs?: number;
}

export const PROMPT =
  "What's the weather in Lisbon and in Oslo right now, and how much warmer is Lisbon?";

export const ANSWER = "Lisbon is sunny at 24 °C, while Oslo has light snow at −3 °C. " +
  "That makes Lisbon 27 °C warmer — pack a coat if you're heading north.";

// A real tool; only its data is canned (a weather API would need the network).
const WEATHER: Record<string, { tempC: number; conditions: string }> = {
  lisbon: { tempC: 24, conditions: "sunny" },
  oslo: { tempC: -3, conditions: "light snow" },
};

function tools(delayMs: number) {
  const getWeather = defineTool({
    name: "get_weather",
    description: "Current weather for a city: temperature in °C and conditions.",
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }, { signal }) => {
      // Pretend to call a weather service.
      await new Promise((resolve) => setTimeout(resolve, delayMs * 8));
      signal.throwIfAborted();
      const weather = WEATHER[city.toLowerCase()];
      if (!weather) throw new Error(`no weather data for ${city}`);
      return { city, ...weather };
    },
  });
  const subtract = defineTool({
    name: "subtract",
    description: "Exact subtraction: a - b.",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => a - b,
  });
  return [getWeather, subtract];
}

/** The model's side of the conversation: one reply per chat request, in order. */
function script(delayMs: number): FakeReply[] {
  const reply = (
    envelope: Record<string, unknown>,
    promptTokens: number,
    reasoning?: string,
  ): FakeReply => {
    const content = JSON.stringify(envelope);
    const completion = tokenize(content).length + (reasoning ? tokenize(reasoning).length : 0);
    return {
      content,
      ...(reasoning ? { reasoning } : {}),
      // LM Studio streams one token per event; prompt processing delays the first one.
      delayMs,
      firstByteDelayMs: delayMs * 6,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completion,
        total_tokens: promptTokens + completion,
      },
    };
  };
  return [
    reply(
      { type: "tool_call", tool: "get_weather", arguments: { city: "Lisbon" } },
      412,
      "Two cities, so two lookups, then the difference. Lisbon first.",
    ),
    reply({ type: "tool_call", tool: "get_weather", arguments: { city: "Oslo" } }, 468),
    reply(
      { type: "tool_call", tool: "subtract", arguments: { a: 24, b: -3 } },
      521,
      "24 °C versus −3 °C: let the tool do the subtraction.",
    ),
    reply({ type: "final", content: ANSWER }, 569),
  ];
}

/**
 * Runs the demo and returns the agent's result.
 *
 * @param options Output writer, colours and pace (tests pass `delayMs: 0`).
 */
export async function main(options: DemoOptions = {}): Promise<AgentResult> {
  const out = options.write ?? write;
  const p = paint(options.color ?? (options.write ? false : useColor()));
  const delayMs = options.delayMs ?? 30;

  const fake = createFakeLMStudio({ models: ["scripted-demo-model"], replies: script(delayMs) });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "scripted-demo-model" });

  let thinking = false;
  const onEvent = (e: AgentEvent) => {
    if (e.type === "model_delta" && e.reasoning) {
      if (!thinking) out(p.dim("  💭 "));
      thinking = true;
      out(p.dim(e.reasoning));
    } else if (thinking && (e.type === "model_response" || e.type === "model_delta")) {
      thinking = false;
      out("\n");
    }
    if (e.type === "tool_call") {
      out(`  ${p.yellow("⚙")} ${p.bold(e.tool)}(${JSON.stringify(e.arguments)})\n`);
    } else if (e.type === "tool_result") {
      out(p.dim(`    ↳ ${e.output}  (${formatMs(e.durationMs)})\n`));
    } else if (e.type === "tool_error") {
      out(p.red(`    ↳ ${e.kind}: ${e.error}\n`));
    }
  };
  const agent = new Agent({
    client,
    tools: tools(delayMs),
    chunkDelayMs: delayMs,
    onEvent,
  });

  out(p.magenta(p.bold("▶ Offline demo — scripted: no LM Studio needed.\n")));
  out(
    p.dim("  A fake LM Studio (the test kit's createFakeLMStudio) replays canned model replies;\n"),
  );
  out(p.dim("  the agent, the streaming and the tools are the real thing.\n\n"));
  out(`${p.bold(">")} ${PROMPT}\n\n`);

  const started = performance.now();
  const stream = agent.stream(PROMPT);
  let first = true;
  for await (const chunk of stream) {
    if (first) out("\n");
    first = false;
    out(p.green(chunk.text));
  }
  const result = await stream.result;
  const { promptTokens, completionTokens, totalTokens } = result.usage;
  out(
    `\n\n${
      p.dim(
        `— ${result.steps} steps · stop: ${result.stopReason} · ${totalTokens} tokens ` +
          `(${promptTokens} prompt + ${completionTokens} completion) · ` +
          formatMs(performance.now() - started),
      )
    }\n`,
  );
  out(p.dim("  Next: start LM Studio and try `node examples/stream.ts` against a real model.\n"));
  return result;
}

if (isMain(import.meta)) {
  try {
    await main();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    writeErr(`\ndemo failed: ${e.name}: ${e.message}\n`);
    setExitCode(1);
  }
}
