// Merges streamed native tool-call fragments by `index` (OpenAI streaming shape).
// Servers differ: LM Studio repeats `name: ""` on later fragments and may send `id: ""`;
// vLLM sends the id only on the first fragment. A known name or id is never overwritten by
// an empty one, and arguments are concatenated in arrival order. Reading the fragments off the
// wire is _wire.ts's job (toolCallsOf); this file only merges them.
import type { ToolCall, ToolCallDelta } from "./chat.ts";

interface Partial {
  id: string;
  name: string;
  args: string[];
}

/** One whole call; a call the server sent without an id gets `call_<index>`. */
function toolCall(index: number, id: string | undefined, name: string, args: string): ToolCall {
  return { id: id || `call_${index}`, type: "function", function: { name, arguments: args } };
}

/**
 * The calls of a complete (non-streamed) message: each entry is a whole call, so nothing is
 * merged; ordered by index, with the same id fallback as {@link ToolCallAccumulator}.
 */
export function wholeToolCalls(calls: readonly ToolCallDelta[]): ToolCall[] {
  return [...calls]
    .sort((a, b) => a.index - b.index)
    .map((c) => toolCall(c.index, c.id, c.name ?? "", c.arguments ?? ""));
}

/**
 * Collects streamed native tool-call fragments ({@link ToolCallDelta}) into whole
 * {@link ToolCall}s, merged by `index`, tolerant of servers that repeat an empty name or id.
 *
 * @example
 * ```ts
 * import { ToolCallAccumulator } from "./tool_call_accumulator.ts";
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
      .map(([index, c]) => toolCall(index, c.id, c.name, c.args.join("")));
  }
}
