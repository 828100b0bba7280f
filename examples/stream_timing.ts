/**
 * A timeline that makes the buffering contract visible: when the provider's tokens arrived
 * (`model_delta` events) versus when the agent emitted answer chunks (iteration), per step.
 *
 *   deno run -A examples/stream_timing.ts [--live] ["your question"]
 *   bun run examples/stream_timing.ts [--live]
 *   node examples/stream_timing.ts [--live]
 *
 * Default (buffered) mode: every reply is received whole and validated before anything is
 * emitted, so the first chunk comes after the final reply's last token. With `--live`, the
 * final answer streams while the model is still writing it.
 *
 * Configure with LMSTUDIO_BASE_URL, LMSTUDIO_MODEL and LMSTUDIO_API_KEY.
 */
import { Agent, type AgentEvent, LMStudioClient } from "../mod.ts";
import { runExample } from "./_lmstudio_help.ts";
import { args, formatMs, setExitCode, write } from "./_runtime.ts";
import { calculate, currentTime } from "./_tools.ts";

const argv = args();
const live = argv.includes("--live");
const prompt = argv.filter((a) => a !== "--live").join(" ") ||
  "What is 1234 multiplied by 5678? Then write one short paragraph about how multiplication works.";

/** What happened in one step, in ms since the run started. */
interface Step {
  step: number;
  start: number;
  deltas: number[]; // arrival time of each provider delta with text or reasoning
  responseAt?: number; // reply complete (buffered and parsed from here on)
  tokens?: number; // completion tokens reported by the server
  outcome?: string;
  tools: { at: number; text: string }[];
}

const client = new LMStudioClient();
const agent = new Agent({ client, tools: [calculate, currentTime], maxSteps: 6 });
const steps: Step[] = [];
const chunkTimes: { at: number; step: number; chars: number }[] = [];
let t0 = 0;
const now = () => performance.now() - t0;
const current = () => steps[steps.length - 1]!;

const onEvent = (e: AgentEvent) => {
  const at = now();
  switch (e.type) {
    case "step_start":
    case "max_steps":
      steps.push({ step: e.step, start: at, deltas: [], tools: [] });
      break;
    case "model_delta":
      if (e.text || e.reasoning) current().deltas.push(at);
      break;
    case "model_response":
      current().responseAt = at;
      current().tokens = e.usage?.completionTokens;
      break;
    case "protocol_retry":
      current().tools.push({ at, text: `protocol retry: ${e.reason}` });
      break;
    case "tool_call":
      current().outcome = "tool call";
      current().tools.push({ at, text: `tool call ${e.tool}(${JSON.stringify(e.arguments)})` });
      break;
    case "tool_result":
      current().tools.push({
        at,
        text: `tool result ${clip(e.output)} (${formatMs(e.durationMs)})`,
      });
      break;
    case "tool_error":
      current().tools.push({ at, text: `tool error ${e.kind}: ${clip(e.error)}` });
      break;
  }
};

await runExample(client, async () => {
  write(`mode: ${live ? "live (--live)" : "buffered (default)"}\n> ${prompt}\n\n`);
  t0 = performance.now();
  const stream = agent.stream(prompt, { live, onEvent });
  for await (const chunk of stream) {
    chunkTimes.push({ at: now(), step: chunk.step, chars: chunk.text.length });
    write(chunk.text);
  }
  const result = await stream.result;
  const end = now();
  write("\n\n");
  printTimeline(end);
  printLanes(end);
  const ok = printSummary();
  write(
    `\n${result.steps} steps, stop reason ${result.stopReason}, ${result.usage.totalTokens} tokens\n`,
  );
  if (!ok) setExitCode(1);
});

function printTimeline(end: number): void {
  write("timeline (time since the request)\n");
  for (const s of steps) {
    // In live mode chunks interleave with the reply's tokens: sort each step's rows by time.
    const rows: [number, string][] = [[s.start, "request sent"]];
    const first = s.deltas[0];
    const last = s.deltas[s.deltas.length - 1];
    if (first !== undefined && last !== undefined) {
      rows.push([first, `first model token  (${formatMs(first - s.start)} after the request)`]);
      rows.push([last, `last model token   ${rate(s)}`]);
    }
    if (s.responseAt !== undefined) rows.push([s.responseAt, "reply complete → validated"]);
    for (const t of s.tools) rows.push([t.at, t.text]);
    const chunks = chunkTimes.filter((c) => c.step === s.step);
    if (chunks.length) {
      s.outcome = "final answer";
      rows.push([chunks[0]!.at, "first agent chunk"]);
      rows.push([
        chunks[chunks.length - 1]!.at,
        `last agent chunk (isFinal) · ${chunks.length} chunks`,
      ]);
    }
    rows.sort((a, b) => a[0] - b[0]).forEach(([at, what], i) =>
      write(
        `  ${formatMs(at).padStart(9)}  ${(i === 0 ? `step ${s.step}` : "").padEnd(7)} ${what}\n`,
      )
    );
  }
  write(`  ${formatMs(end).padStart(9)}          done\n`);
}

/** One lane per source; a mark in the column of each arrival. Shows overlap at a glance. */
function printLanes(end: number): void {
  const width = 64;
  const col = (at: number) => Math.min(width - 1, Math.floor((at / Math.max(end, 1)) * width));
  const lane = (times: number[], mark: string) => {
    const cells = Array<string>(width).fill(" ");
    for (const t of times) cells[col(t)] = mark;
    return cells.join("");
  };
  write(`\n  ${"0".padEnd(width - formatMs(end).length)}${formatMs(end)}\n`);
  write(`  ${lane(steps.flatMap((s) => s.deltas), "·")}  model tokens\n`);
  write(`  ${lane(steps.flatMap((s) => s.tools.map((t) => t.at)), "T")}  tools\n`);
  write(`  ${lane(chunkTimes.map((c) => c.at), "█")}  agent chunks\n`);
}

/** Prints the headline numbers; returns false if the buffering contract was broken. */
function printSummary(): boolean {
  const firstToken = steps.find((s) => s.deltas.length)?.deltas[0];
  const firstChunk = chunkTimes[0];
  write("\n");
  if (firstToken !== undefined) write(`  time to first model token  ${formatMs(firstToken)}\n`);
  if (firstChunk) write(`  time to first agent chunk  ${formatMs(firstChunk.at)}\n`);
  for (const s of steps) {
    if (s.deltas.length) {
      write(`  step ${s.step}: ${rate(s)}${s.outcome ? ` → ${s.outcome}` : ""}\n`);
    }
  }
  const finalStep = steps.find((s) => s.step === firstChunk?.step);
  const lastToken = finalStep?.deltas[finalStep.deltas.length - 1];
  if (!firstChunk || lastToken === undefined) return true;
  const gap = firstChunk.at - lastToken;
  if (!live) {
    const ok = gap >= 0;
    write(
      ok
        ? `\n  ✓ buffered: the first chunk came ${
          formatMs(gap)
        } after the final reply's last token\n`
        : `\n  ✗ a chunk came ${formatMs(-gap)} before the final reply was complete\n`,
    );
    return ok;
  }
  write(
    gap < 0
      ? `\n  live: the first chunk came ${formatMs(-gap)} before the model finished its reply\n`
      : `\n  live: the reply was too short (or too fast) to overlap: first chunk ${
        formatMs(gap)
      } after its last token\n`,
  );
  return true;
}

function rate(s: Step): string {
  const first = s.deltas[0];
  const last = s.deltas[s.deltas.length - 1];
  if (first === undefined || last === undefined) return "no tokens";
  const tokens = s.tokens ?? s.deltas.length;
  const span = last - first;
  const perSecond = span > 0 ? ` = ${(tokens / (span / 1000)).toFixed(1)} tok/s` : "";
  return `${tokens} tokens in ${formatMs(span)}${perSecond}`;
}

function clip(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
