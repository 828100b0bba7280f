// One agent, built the same way in every process: two tools (send_mail needs approval) and a
// scripted model whose reply depends only on the history, so a run paused in one runtime
// process resumes identically in another.
import * as z from "zod";
import { Agent, type ChatRequest, defineTool } from "../../mod.ts";
import { createScriptedModel, envelope } from "../../testing.ts";

/** The reply to a request: look up, then mail (gated), then answer with what it saw. */
export function reply(request: ChatRequest) {
  const turns = request.messages.filter((m) => m.role === "assistant").length;
  if (turns === 0) return envelope.toolCall("lookup", { name: "ada" });
  if (turns === 1) return envelope.toolCall("send_mail", { to: "ada@example.com", body: "hi" });
  const seen = request.messages.filter((m) => m.role === "user").map((m) => String(m.content));
  return envelope.final(
    `Done after ${seen.length - 1} results; last: ${seen.at(-1)!.split("\n")[1]}`,
  );
}

/**
 * The mail tools: `lookup`, `send_mail` (always needs approval) and `remove` (needs it outside
 * /tmp), logging each call that ran to `executed`. Shared with tests/approval_test.ts.
 */
export function mailTools() {
  const executed: string[] = [];
  const send = defineTool({
    name: "send_mail",
    description: "Sends an email.",
    parameters: z.object({ to: z.string(), body: z.string() }),
    needsApproval: true,
    execute: ({ to }) => {
      executed.push(`send_mail(${to})`);
      return `sent to ${to}`;
    },
  });
  const lookup = defineTool({
    name: "lookup",
    description: "Looks up an address.",
    parameters: z.object({ name: z.string() }),
    execute: ({ name }) => {
      executed.push(`lookup(${name})`);
      return `${name}@example.com`;
    },
  });
  const remove = defineTool({
    name: "remove",
    description: "Deletes a file.",
    parameters: z.object({ path: z.string() }),
    // Only paths outside /tmp need a person.
    needsApproval: ({ path }) => !path.startsWith("/tmp/"),
    execute: ({ path }) => {
      executed.push(`remove(${path})`);
      return "deleted";
    },
  });
  return { send, lookup, remove, executed };
}

/** The agent, and a log of the tool calls that ran in this process. */
export function makeAgent(): { agent: Agent; executed: string[] } {
  const { lookup, send, executed } = mailTools();
  const agent = new Agent({ client: createScriptedModel(reply), tools: [lookup, send] });
  return { agent, executed };
}

/** Which runtime runs this code. */
export function runtimeName(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}
