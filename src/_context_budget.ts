// One run's context budget: learns the loaded window (the agent's `contextLength`, else the
// model connection's modelInfo()), keeps every prompt inside it by compacting the history
// (src/_context.ts), calibrates the estimate on the server's own counts, and turns a prompt
// that cannot fit into a ContextOverflowError that says what to do.
import type { ChatMessage, ChatModel, ChatParams, Usage } from "./chat.ts";
import { ContextOverflowError } from "./errors.ts";
import type { AgentEvent } from "./agent_types.ts";
import {
  compact,
  defaultReplyReserve,
  type HistoryUnit,
  type RenderTurn,
  TokenEstimator,
  utf8Length,
} from "./_context.ts";

/** The fewest tokens a reply needs: a prompt leaving less is certain to fail. */
const MIN_REPLY_TOKENS = 16;

/** The agent's context settings. */
export interface ContextSettings {
  /** The window by hand; otherwise asked of the model connection. */
  contextLength?: number;
  /** `false`: no estimate, no compaction (a server overflow is still a ContextOverflowError). */
  budget: boolean;
}

/** What {@link ContextBudget.fit} measured for the prompt about to be sent. */
export interface Fitted {
  messages: ChatMessage[];
  /** Its estimated size in bytes, for calibrating on the reply's usage. */
  bytes: number;
}

export class ContextBudget {
  #settings: ContextSettings;
  #model: ChatModel;
  #modelId: string | undefined;
  #window: number | undefined;
  #reserveOverride: number | undefined;
  #estimator = new TokenEstimator();
  #toolBytes = new WeakMap<object, number>();
  #answered = false;
  #asked = false;
  /** This run's compactable units (tool steps, corrections), oldest first. */
  readonly units: HistoryUnit[] = [];

  constructor(settings: ContextSettings, model: ChatModel, params: ChatParams) {
    this.#settings = settings;
    this.#model = model;
    this.#modelId = params.model;
    this.#window = settings.contextLength;
    this.#reserveOverride = params.max_tokens;
  }

  /**
   * Learns the window before a call, once a reply has shown the server is up: the first call
   * of a run goes out at once (a dead server costs no lookup and no second round of
   * retries; a first prompt that overflows is reported by the server itself, with the
   * window). The connection caches the answer, so later runs know the window from the start.
   */
  async ready(signal: AbortSignal): Promise<void> {
    if (this.#asked || !this.#answered) return;
    this.#asked = true;
    await this.learnWindow(signal);
  }

  /** Asks the model connection for the loaded window (it caches), or again with `refresh`. */
  async learnWindow(signal: AbortSignal, refresh = false): Promise<void> {
    if (!this.#settings.budget || this.#settings.contextLength !== undefined) return;
    if (typeof this.#model.modelInfo !== "function") return;
    try {
      const info = await this.#model.modelInfo(this.#modelId, { signal, refresh });
      if (info.contextLength !== undefined) this.#window = info.contextLength;
    } catch {
      if (signal.aborted) throw signal.reason;
      // Unknown window: no budget until a server overflow says what it is.
    }
  }

  /** The window, when known. */
  get window(): number | undefined {
    return this.#window;
  }

  /**
   * Compacts the history if the next prompt would not fit, then returns the messages to send.
   * Throws ContextOverflowError when it certainly cannot fit even fully compacted.
   */
  fit(
    history: ChatMessage[],
    system: ChatMessage,
    extras: Partial<ChatParams>,
    render: RenderTurn,
    step: number,
    emit: (event: AgentEvent) => void,
    harder = false,
  ): Fitted {
    // Budget off: nothing to measure (an overflow the server reports stays typed).
    if (!this.#settings.budget) return { messages: [system, ...history], bytes: 0 };
    const window = this.#window;
    const fixedBytes = this.#estimator.bytes([system], this.#extrasBytes(extras));
    if (window !== undefined) {
      const limit = window - this.reserve(window);
      const done = compact(
        history,
        this.units,
        render,
        this.#estimator,
        fixedBytes,
        limit,
        harder,
      );
      if (done && done.removed.length > 0) {
        emit({
          type: "context_compacted",
          step,
          contextLength: window,
          before: done.before,
          after: done.after,
          removed: done.removed,
        });
      }
      const bytes = this.#estimator.bytes(history, fixedBytes);
      // Still over the limit after compacting everything allowed. The reply reserve is the
      // budget's own aim, not the server's rule: the prompt is refused here only when even the
      // fewest tokens it could be leave no room for a reply in the window itself. Otherwise
      // the server judges (an overflow it reports gets one harder compaction and one retry).
      const fewest = this.#estimator.fewestTokens(bytes);
      if (fewest > window - MIN_REPLY_TOKENS) throw this.#cannotFit(fewest, window);
    }
    return {
      messages: [system, ...history],
      bytes: this.#estimator.bytes(history, fixedBytes),
    };
  }

  /**
   * What the request extras add to the prompt, in bytes: native `tools` (a chat template
   * writes them into the prompt). `response_format` adds nothing: the server turns it into a
   * grammar. A protocol hands out the same tools array on every call: measured once.
   */
  #extrasBytes(extras: Partial<ChatParams>): number {
    const tools = extras.tools;
    if (!tools) return 0;
    let size = this.#toolBytes.get(tools);
    if (size === undefined) {
      size = utf8Length(JSON.stringify(tools));
      this.#toolBytes.set(tools, size);
    }
    return size;
  }

  /** Tokens kept free for the reply: `max_tokens`, else a quarter of the window (≤ 1024). */
  reserve(window: number): number {
    return this.#reserveOverride ?? defaultReplyReserve(window);
  }

  /** Calibrates on a reply's usage (the server's count of the prompt just sent). */
  observe(bytes: number, usage: Usage | undefined): void {
    this.#answered = true;
    if (usage && usage.promptTokens > 0) this.#estimator.calibrate(bytes, usage.promptTokens);
  }

  /**
   * The server said the prompt overflowed: learn the window again (the model may have been
   * reloaded with another one) and from the error's numbers. Returns whether compacting
   * harder may help (the budget is on and the window is known).
   */
  async overflowed(
    err: ContextOverflowError,
    bytes: number,
    signal: AbortSignal,
  ): Promise<boolean> {
    if (!this.#settings.budget) return false;
    this.#asked = true;
    await this.learnWindow(signal, true);
    if (this.#settings.contextLength === undefined && err.contextLength !== undefined) {
      this.#window = err.contextLength;
    }
    if (err.promptTokens !== undefined) this.#estimator.calibrate(bytes, err.promptTokens);
    return this.#window !== undefined;
  }

  #cannotFit(tokens: number, window: number): ContextOverflowError {
    return new ContextOverflowError(
      `The prompt cannot fit the model's context window: at least ${tokens} tokens of system ` +
        `prompt, request and latest step leave no room for a reply in the ${window}-token ` +
        "window, even after compacting the history. Load the model with a " +
        "larger context (e.g. `client.loadModel(model, { contextLength: 16384 })`, or in LM " +
        "Studio's model settings), use fewer or shorter tool descriptions, or a smaller " +
        "`max_tokens`.",
      { promptTokens: tokens, contextLength: window },
    );
  }
}
