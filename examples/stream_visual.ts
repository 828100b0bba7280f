/**
 * A pleasant terminal rendering of an agent run, driven entirely by its events: a spinner
 * while the model thinks or a tool runs, tool calls as they happen, then the answer typed
 * out with paced chunks. Colours and animation only on a terminal; NO_COLOR turns colours off.
 * Ctrl-C stops the run (and the in-flight request) cleanly.
 *
 *   deno run -A examples/stream_visual.ts ["your question"]
 *   bun run examples/stream_visual.ts
 *   node examples/stream_visual.ts
 *
 * Configure with LMSTUDIO_BASE_URL, LMSTUDIO_MODEL and LMSTUDIO_API_KEY.
 */
import { Agent, type AgentEvent, LMStudioClient } from "../mod.ts";
import { runExample } from "./_lmstudio_help.ts";
import { args, formatMs, isTTY, onInterrupt, paint, useColor, write } from "./_runtime.ts";
import { calculate, currentTime } from "./_tools.ts";

const p = paint(useColor());
const animate = isTTY();

/** One status line, redrawn in place on a terminal; silent elsewhere. */
class Spinner {
  static #frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  #label = "";
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  show(label: string): void {
    this.#label = label;
    if (!animate) return;
    if (this.#timer !== undefined) return; // the next tick draws the new label
    write("\x1b[?25l"); // hide the cursor while animating
    this.#timer = setInterval(() => this.#draw(), 80);
    this.#draw();
  }

  hide(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    write("\r\x1b[2K\x1b[?25h"); // clear the line, show the cursor
  }

  #draw(): void {
    const frame = Spinner.#frames[this.#frame++ % Spinner.#frames.length]!;
    write(`\r\x1b[2K${p.cyan(frame)} ${p.dim(this.#label)}`);
  }
}

const spinner = new Spinner();
let writing = 0; // tokens of the current reply
let reasoning = 0;

/** Maps the agent's progress to the screen. */
const onEvent = (e: AgentEvent) => {
  switch (e.type) {
    case "step_start":
      writing = reasoning = 0;
      spinner.show(e.step === 1 ? "thinking…" : "reading the result…");
      break;
    case "model_delta":
      // Buffered mode: the reply may still turn out to be a tool call, so only count it.
      if (e.reasoning) spinner.show(`reasoning · ${tokens(++reasoning)}`);
      else if (e.text) spinner.show(`writing · ${tokens(++writing)}`);
      break;
    case "model_retry":
      spinner.show(`server busy, retrying in ${formatMs(e.delayMs)}…`);
      break;
    case "protocol_retry":
      spinner.hide();
      write(p.dim(`  ↻ the reply broke the JSON protocol (${e.reason}); asking again\n`));
      break;
    case "tool_call":
      spinner.hide();
      write(`${p.yellow("⚙")} ${p.bold(e.tool)} ${p.dim(JSON.stringify(e.arguments))}\n`);
      spinner.show(`running ${e.tool}…`);
      break;
    case "tool_result":
      spinner.hide();
      write(p.dim(`  ↳ ${clip(e.output)}  ${formatMs(e.durationMs)}\n`));
      break;
    case "tool_error":
      spinner.hide();
      write(p.red(`  ↳ ${e.kind}: ${clip(e.error)}\n`));
      break;
    case "max_steps":
      spinner.show("step budget used up: asking for a final answer…");
      break;
  }
};

const client = new LMStudioClient();
const agent = new Agent({
  client,
  tools: [calculate, currentTime],
  maxSteps: 6,
  // Typed out: two graphemes at a time, 12 ms apart.
  chunking: { graphemes: 2 },
  chunkDelayMs: 12,
  onEvent,
});
const prompt = args().join(" ") ||
  "What time is it in Tokyo, and what is 2 to the power of 20? Answer in two sentences.";

const controller = new AbortController();
const removeInterrupt = onInterrupt(() => controller.abort());

await runExample(client, async () => {
  spinner.show("connecting…");
  const model = await client.resolveModel(controller.signal);
  spinner.hide();
  write(`${p.dim(`${model} @ ${client.baseURL}`)}\n${p.bold("›")} ${prompt}\n\n`);

  const started = performance.now();
  const stream = agent.stream(prompt, { signal: controller.signal });
  let first = true;
  for await (const chunk of stream) {
    if (first) spinner.hide();
    if (first && chunk.step > 1) write("\n");
    first = false;
    write(chunk.text);
  }
  const { steps, usage } = await stream.result;
  write(
    `\n\n${
      p.dim(
        `${steps} steps · ${usage.totalTokens} tokens · ${formatMs(performance.now() - started)}`,
      )
    }\n`,
  );
}, () => spinner.hide());
removeInterrupt();

function tokens(n: number): string {
  return n === 1 ? "1 token" : `${n} tokens`;
}

function clip(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
