// Merges streamed native tool-call fragments by `index` (OpenAI streaming shape).
// Servers differ: LM Studio repeats `name: ""` on later fragments and may send `id: ""`;
// vLLM sends the id only on the first fragment. A known name or id is never overwritten by
// an empty one, and arguments are concatenated in arrival order.
import type { ToolCall, ToolCallDelta } from "./chat.ts";

interface Partial {
  id: string;
  name: string;
  args: string[];
}

/**
 * Collects streamed native tool-call fragments ({@link ToolCallDelta}) into whole
 * {@link ToolCall}s, merged by `index`, tolerant of servers that repeat an empty name or id.
 *
 * @example
 * ```ts
 * import { ToolCallAccumulator } from "@ai-agent/orchestrator";
 * const acc = new ToolCallAccumulator();
 * acc.add([{ index: 0, id: "7", name: "add", arguments: '{"a":' }]);
 * acc.add([{ index: 0, id: "", name: "", arguments: "2}" }]);
 * console.log(acc.result()[0]?.function); // { name: "add", arguments: '{"a":2}' }
 * ```
 */
export class ToolCallAccumulator {
  #calls = new Map<number, Partial>();

  /** Adds fragments in arrival order. */
  add(deltas: readonly ToolCallDelta[]): void {
    for (const d of deltas) {
      let call = this.#calls.get(d.index);
      if (!call) {
        call = { id: "", name: "", args: [] };
        this.#calls.set(d.index, call);
      }
      if (d.id) call.id = d.id;
      if (d.name) call.name = d.name;
      if (d.arguments) call.args.push(d.arguments);
    }
  }

  /** How many distinct calls have started. */
  get size(): number {
    return this.#calls.size;
  }

  /** The merged calls, ordered by index; calls without an id get `call_<index>`. */
  result(): ToolCall[] {
    return [...this.#calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, c]) => ({
        id: c.id || `call_${index}`,
        type: "function" as const,
        function: { name: c.name, arguments: c.args.join("") },
      }));
  }
}

/** Reads the OpenAI `tool_calls` array of a delta or message into fragments. */
export function toToolCallDeltas(raw: unknown): ToolCallDelta[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const out: ToolCallDelta[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i] as {
      index?: unknown;
      id?: unknown;
      function?: { name?: unknown; arguments?: unknown } | null;
    } | null;
    if (!t || typeof t !== "object") continue;
    const delta: ToolCallDelta = { index: typeof t.index === "number" ? t.index : i };
    if (typeof t.id === "string") delta.id = t.id;
    if (typeof t.function?.name === "string") delta.name = t.function.name;
    if (typeof t.function?.arguments === "string") delta.arguments = t.function.arguments;
    out.push(delta);
  }
  return out.length ? out : undefined;
}
