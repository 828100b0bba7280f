/**
 * Tool approval: the agent may delete files, but asks you on the terminal first. A call of a
 * tool with `needsApproval` pauses the run (`stopReason: "interrupted"`); the paused run is
 * plain JSON (`result.state`: store it anywhere, resume it in another process), and
 * `agent.resume()` runs what you approved and tells the model what you rejected.
 *
 *   deno run -A examples/approval.ts [--demo] ["your request"]
 *   bun run examples/approval.ts --demo
 *   node examples/approval.ts --demo
 *
 * `--demo` runs offline against the test kit's scripted model. Without it, configure
 * LMSTUDIO_BASE_URL, LMSTUDIO_MODEL and LMSTUDIO_API_KEY as for the other examples.
 */
import * as z from "zod";
import {
  Agent,
  type AgentEvent,
  type AgentResult,
  type AgentRunState,
  type ChatModel,
  defineTool,
  type Interruption,
  LMStudioClient,
} from "../mod.ts";
import { createScriptedModel, envelope } from "../testing.ts";
import { args, isMain, setExitCode, write, writeErr } from "./_runtime.ts";

/** Options of {@link main}. */
export interface ApprovalOptions {
  /** The request. */
  prompt?: string;
  /** Asks a person: `true` approves. */
  ask: (question: string) => Promise<boolean>;
  /** Where the output goes. @default stdout */
  write?: (text: string) => void;
  /** The model. @default the scripted demo model with `demo`, else an LMStudioClient */
  client?: ChatModel;
  /** Use the offline scripted model. @default false */
  demo?: boolean;
}

export const PROMPT = "Free some disk space: delete the old log and the build cache.";

/** A pretend file system: deleting only removes names from this set. */
export function files(): Set<string> {
  return new Set(["/var/log/app.log.1", "/home/me/.cache/build", "/home/me/thesis.tex"]);
}

function tools(disk: Set<string>) {
  const list = defineTool({
    name: "list_files",
    description: "Lists the files.",
    parameters: z.object({}),
    execute: () => [...disk],
  });
  const remove = defineTool({
    name: "delete_file",
    description: "Deletes one file.",
    parameters: z.object({ path: z.string() }),
    needsApproval: true, // a person decides every call
    execute: ({ path }) => disk.delete(path) ? `deleted ${path}` : `no such file: ${path}`,
  });
  return [list, remove];
}

/** The demo's model replies: list, then two deletions in a row, then the answer. */
function demoModel(): ChatModel {
  return createScriptedModel((request) => {
    const turns = request.messages.filter((m) => m.role === "assistant").length;
    if (turns === 0) return envelope.toolCall("list_files", {});
    if (turns === 1) return envelope.toolCall("delete_file", { path: "/var/log/app.log.1" });
    if (turns === 2) return envelope.toolCall("delete_file", { path: "/home/me/.cache/build" });
    const results = request.messages.filter((m) => m.role === "user").slice(-2);
    const refused = results.some((m) => String(m.content).includes("rejected"));
    return envelope.final(
      refused ? "I deleted what you allowed and left the rest alone." : "Both are deleted.",
    );
  });
}

/**
 * y/N questions on the terminal (node:readline works on Deno, Bun and Node); one reader for
 * the whole session, so piped answers are not lost between questions.
 */
async function terminal(): Promise<{ ask: (q: string) => Promise<boolean>; close(): void }> {
  const { createInterface } = await import("node:readline");
  const process = (await import("node:process")).default;
  const rl = createInterface({ input: process.stdin });
  // The line iterator buffers: answers piped in before a question are kept for it.
  const lines = rl[Symbol.asyncIterator]();
  return {
    ask: async (question) => {
      write(`${question} [y/N] `);
      const line = await lines.next();
      if (line.done) write("\n");
      return !line.done && /^y(es)?$/i.test(String(line.value).trim());
    },
    close: () => rl.close(),
  };
}

/** Runs the request, asking before every deletion. */
export async function main(options: ApprovalOptions): Promise<AgentResult> {
  const out = options.write ?? write;
  const { ask } = options;
  const prompt = options.prompt ?? PROMPT;
  const disk = files();
  const onEvent = (e: AgentEvent) => {
    if (e.type === "tool_result") out(`  ← ${e.output}\n`);
    if (e.type === "tool_error") out(`  ✗ ${e.tool}: ${e.error}\n`);
  };
  const agent = new Agent({
    client: options.client ?? (options.demo ? demoModel() : new LMStudioClient()),
    tools: tools(disk),
    onEvent,
  });
  out(`> ${prompt}${options.demo ? "  (scripted: no LM Studio needed)" : ""}\n\n`);
  let result = await agent.run(prompt);
  while (result.stopReason === "interrupted") {
    // The paused run is plain JSON: it could wait in a database for a day. Here it just
    // makes the round trip a real deployment would.
    const saved = JSON.stringify(result.state);
    const approve: string[] = [];
    const reject: { callId: string; reason: string }[] = [];
    for (const call of result.interruptions) {
      if (await ask(describe(call))) approve.push(call.callId);
      else reject.push({ callId: call.callId, reason: "The user said no." });
    }
    result = await agent.resume(JSON.parse(saved) as AgentRunState, { approve, reject });
  }
  out(`\n${result.text}\n\nleft on disk: ${[...disk].join(", ")}\n`);
  return result;
}

function describe(call: Interruption): string {
  return `Allow ${call.tool}(${JSON.stringify(call.arguments)})?`;
}

if (isMain(import.meta)) {
  const argv = args();
  const demo = argv.includes("--demo");
  const prompt = argv.filter((a) => a !== "--demo").join(" ") || undefined;
  const { ask, close } = await terminal();
  try {
    await main({ demo, prompt, ask });
  } catch (err) {
    writeErr(`${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    setExitCode(1);
  } finally {
    close();
  }
}
