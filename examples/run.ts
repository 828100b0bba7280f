/**
 * `agent.run()`: one call, one result. The model may call two real tools (exact arithmetic,
 * the current time in a time zone) before it answers.
 *
 *   deno run -A examples/run.ts ["your question"]
 *   bun run examples/run.ts
 *   node examples/run.ts
 *
 * Configure with LMSTUDIO_BASE_URL (default http://localhost:1234/v1), LMSTUDIO_MODEL
 * (default: the first loaded model) and LMSTUDIO_API_KEY (if the server requires one).
 */
import { Agent, type AgentEvent, LMStudioClient } from "../mod.ts";
import { runExample } from "./_lmstudio_help.ts";
import { args, formatMs, write } from "./_runtime.ts";
import { calculate, currentTime } from "./_tools.ts";

const prompt = args().join(" ") ||
  "What time is it in Tokyo right now, and what is 1234 multiplied by 5678?";

// Tool calls are not part of the answer; events make them visible.
const onEvent = (e: AgentEvent) => {
  if (e.type === "tool_call") write(`  → ${e.tool}(${JSON.stringify(e.arguments)})\n`);
  if (e.type === "tool_result") write(`  ← ${e.output}  (${formatMs(e.durationMs)})\n`);
  if (e.type === "tool_error") write(`  ✗ ${e.tool}: ${e.kind}: ${e.error}\n`);
};

const client = new LMStudioClient();
const agent = new Agent({ client, tools: [calculate, currentTime], maxSteps: 6, onEvent });

await runExample(client, async () => {
  write(`> ${prompt}\n\n`);
  const started = performance.now();
  const result = await agent.run(prompt);
  const { promptTokens, completionTokens, totalTokens } = result.usage;
  write(`\n${result.text}\n\n`);
  write(`steps:        ${result.steps}\n`);
  write(`stop reason:  ${result.stopReason}\n`);
  write(`tokens:       ${totalTokens} (prompt ${promptTokens}, completion ${completionTokens})\n`);
  write(`time:         ${formatMs(performance.now() - started)}\n`);
});
