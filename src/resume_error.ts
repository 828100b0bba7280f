/**
 * {@link ResumeError}: a saved run state that this agent cannot continue.
 *
 * @module
 */
import { LMStudioError } from "./errors.ts";

/** Details of a {@link ResumeError}. */
export interface ResumeErrorDetails {
  /** The underlying error, kept as the standard `cause`. */
  cause?: unknown;
  /**
   * What is wrong: `"malformed"` (not a run state), `"version"` (saved by an incompatible
   * version of this library), `"tampered"` (its content no longer matches its checksum),
   * `"tools"` (saved by an agent with other tools or tool schemas), `"settings"` (another
   * protocol or output schema).
   */
  reason: "malformed" | "version" | "tampered" | "tools" | "settings";
}

/**
 * `agent.resume()` refused a state: malformed, from an incompatible version, changed after it
 * was saved, or saved by an agent with other tools or settings. The checksum is a guard
 * against accidents (a truncated row, a hand edit, the wrong agent), not a security boundary:
 * anyone can recompute it. Keep states where only you can write them.
 *
 * @example Start over when a saved state no longer fits
 * ```ts
 * import { Agent, type AgentRunState, ResumeError } from "@ai-agent/orchestrator";
 * async function continueRun(agent: Agent, saved: AgentRunState) {
 *   try {
 *     return await agent.resume(saved);
 *   } catch (err) {
 *     if (err instanceof ResumeError && err.reason === "tools") return undefined;
 *     throw err;
 *   }
 * }
 * ```
 */
export class ResumeError extends LMStudioError {
  /** Stable error name, safe to compare against. */
  override name: "ResumeError" = "ResumeError" as const;
  /** What is wrong with the state (see {@link ResumeErrorDetails.reason}). */
  readonly reason: ResumeErrorDetails["reason"];
  /**
   * Creates the error.
   *
   * @param message Summary.
   * @param details The reason, and `cause`.
   */
  constructor(message: string, details: ResumeErrorDetails) {
    super(message, details);
    this.reason = details.reason;
  }
}
