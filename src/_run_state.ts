// A run's resumable state as plain JSON: sealing it (canonical JSON + SHA-256 checksum) and
// opening it again (version, checksum, tool-set and settings fingerprints), for
// agent.resume(). The checksum guards against accidents (truncation, hand edits, the wrong
// agent), not against an attacker: anyone can recompute it.
import type { AgentRunState } from "./agent_types.ts";
import { ResumeError } from "./resume_error.ts";
import { isPlainObject } from "./_text.ts";

/** The state format this version writes and reads. */
export const STATE_VERSION = 1;

/**
 * JSON with the keys of every plain object sorted, so equal data gives equal text whatever
 * the key order (`JSON.stringify` semantics otherwise: `undefined` properties dropped).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (!isPlainObject(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort()) sorted[key] = item[key];
    return sorted;
  }) ?? "null";
}

/** SHA-256 of the UTF-8 text, as lowercase hex (Web Crypto: every runtime has it). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A deep plain-JSON copy of the state's content, with its checksum. */
export async function sealState(body: Omit<AgentRunState, "checksum">): Promise<AgentRunState> {
  const text = canonicalJson(body);
  const copy = JSON.parse(text) as Omit<AgentRunState, "checksum">;
  return { ...copy, checksum: await sha256Hex(text) };
}

/** What the resuming agent expects of a state. */
export interface StateExpectation {
  protocol: "envelope" | "native";
  tools: string;
  settings: string;
}

/**
 * Checks a state before it is resumed; returns a private copy of it.
 *
 * @throws {ResumeError} malformed, another version, tampered, other tools or settings.
 */
export async function openState(
  state: unknown,
  expected: StateExpectation,
): Promise<AgentRunState> {
  const where = "Cannot resume the run";
  if (!isPlainObject(state)) {
    throw new ResumeError(`${where}: the state must be the object of result.state`, {
      reason: "malformed",
    });
  }
  if (state.version !== STATE_VERSION) {
    throw new ResumeError(
      `${where}: the state has version ${
        JSON.stringify(state.version) ?? "undefined"
      }, this library reads version ${STATE_VERSION}`,
      { reason: "version" },
    );
  }
  const { checksum, ...body } = state;
  if (typeof checksum !== "string" || await sha256Hex(canonicalJson(body)) !== checksum) {
    throw new ResumeError(
      `${where}: the state was changed after it was saved (its checksum does not match)`,
      { reason: "tampered" },
    );
  }
  const s = state as unknown as AgentRunState;
  if (
    !Array.isArray(s.history) || !Array.isArray(s.transcript) || !Array.isArray(s.units) ||
    !Number.isInteger(s.step) || !isPlainObject(s.usage)
  ) {
    throw new ResumeError(`${where}: the state is missing fields`, { reason: "malformed" });
  }
  if (s.tools !== expected.tools) {
    throw new ResumeError(
      `${where}: the state was saved by an agent with other tools (names or argument ` +
        "schemas differ); resume it with an agent that has the same tools",
      { reason: "tools" },
    );
  }
  if (s.protocol !== expected.protocol || s.settings !== expected.settings) {
    throw new ResumeError(
      `${where}: the state was saved by an agent with other settings (protocol ` +
        `${JSON.stringify(s.protocol)} here ${JSON.stringify(expected.protocol)}, or another ` +
        "output schema)",
      { reason: "settings" },
    );
  }
  return JSON.parse(canonicalJson(s)) as AgentRunState;
}

/** The repeat guard's identity of a call: its name and its arguments in canonical JSON. */
export function callKey(name: string, args: unknown): string {
  return `${name}\u0000${canonicalJson(args ?? {})}`;
}
