// Resumes the state read from stdin (approving every interrupted call) with the agent of
// resume_kit.ts and prints the outcome as one JSON line. Spawned by tests/resume_test.ts in a
// runtime other than the test's own.
import process from "node:process";
import { makeAgent, runtimeName } from "./resume_kit.ts";

const parts: string[] = [];
const decoder = new TextDecoder();
for await (const chunk of process.stdin) {
  parts.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
}
const state = JSON.parse(parts.join(""));
const { agent, executed } = makeAgent();
const approve = state.pending.calls.filter((c: { needsApproval: boolean }) => c.needsApproval)
  .map((c: { callId: string }) => c.callId);
const result = await agent.resume(state, { approve });
console.log(JSON.stringify({
  runtime: runtimeName(),
  text: result.text,
  steps: result.steps,
  stopReason: result.stopReason,
  messages: result.messages,
  executed,
}));
