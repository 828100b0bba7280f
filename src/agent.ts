/**
 * {@link Agent}: the buffered tool-calling loop over a JSON reply protocol.
 *
 * @module
 */
import type { ChatMessage, ChatModel, ChatParams } from "./chat.ts";
import { LMStudioClient } from "./client.ts";
import type { AgentEvent, AgentResult, StreamChunk } from "./agent_types.ts";
import { AgentStream } from "./agent_stream.ts";
import { agentLoop, type LoopConfig } from "./_loop.ts";
import { createEnvelopeProtocol } from "./protocols/envelope.ts";
import { createNativeProtocol } from "./protocols/native.ts";
import { type Chunking, sliceText, validateChunking } from "./slice_stream.ts";
import { type AnyTool, createToolRegistry } from "./tools.ts";
import { describeTools } from "./tool_schema.ts";
import { abortableDelay } from "./_retry.ts";
import { anySignal } from "./_abort.ts";
import { checkOptionKeys, listChoices, showValue } from "./_options.ts";

/** What each `reasoning` setting sends as `reasoning_effort` (OpenAI's vocabulary). */
const REASONING_EFFORT: Readonly<Record<string, string>> = {
  off: "none",
  low: "low",
  medium: "medium",
  high: "high",
};

/**
 * Options for {@link Agent}.
 *
 * @example
 * ```ts
 * import { Agent, LMStudioClient } from "@ai-agent/orchestrator";
 * const agent = new Agent({
 *   client: new LMStudioClient({ model: "qwen3-4b" }),
 *   instructions: "Answer in one sentence.",
 *   maxSteps: 5,
 *   chunking: "word",
 *   params: { temperature: 0.2 },
 * });
 * ```
 */
export interface AgentOptions {
  /**
   * The model connection: an `LMStudioClient`, or any object with its `stream()` and
   * `generate()` (see {@link ChatModel}: a wrapper that logs, caches or routes, a scripted
   * model in tests).
   * @default new LMStudioClient()
   */
  client?: ChatModel;
  /** Tools the model may call (see `defineTool`). Names must be unique. */
  tools?: readonly AnyTool[];
  /** Your own instructions, appended to the protocol's system prompt. */
  instructions?: string;
  /**
   * Model turns allowed before the max-steps fallback (see README).
   * @default 10
   */
  maxSteps?: number;
  /**
   * How the model is called. Either way the whole reply is buffered before it is parsed.
   * @default "stream"
   */
  modelCall?: "stream" | "generate";
  /**
   * `"envelope"`: the JSON reply protocol (works with every model). `"native"`: OpenAI
   * `tools` / `tool_calls`, for models trained for native tool calling.
   * @default "envelope"
   */
  protocol?: "envelope" | "native";
  /**
   * Send `response_format: {type: "json_schema"}` describing the exact reply envelope, so
   * grammar-constrained servers cannot emit invalid JSON. Turned off automatically (once per
   * client: every agent on it) if the server rejects it. Envelope protocol only.
   * @default true
   */
  responseFormat?: boolean;
  /**
   * How much a reasoning model should think before it answers, sent as `reasoning_effort`
   * (`"off"` as `"none"`) on every call; overrides `params.reasoning_effort`. Servers differ:
   * LM Studio applies it on `/v1` only for models whose template reads it (gpt-oss and some
   * others) and ignores `"off"` there (lmstudio-bug-tracker #2413); see README "Messy model
   * output". Whatever the setting, earlier turns' reasoning is never sent back to the model.
   * @default undefined (nothing is sent: the model's own default)
   */
  reasoning?: "off" | "low" | "medium" | "high";
  /** Sampling parameters for every model call (temperature, max_tokens, …). */
  params?: Omit<ChatParams, "response_format" | "tools" | "tool_choice">;
  /**
   * How the final answer is cut into chunks in `stream()`.
   * @default "word"
   */
  chunking?: Chunking;
  /**
   * Pause between chunks in `stream()`, for paced display.
   * @default 0
   */
  chunkDelayMs?: number;
  /**
   * The delay function used for `chunkDelayMs` (inject one in tests).
   * @default an abortable `setTimeout`
   */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Stream the final answer while the model is still writing it (see README: "Live mode").
   * @default false
   */
  live?: boolean;
  /**
   * Tool results longer than this are truncated (with a note) before going back to the model:
   * a ceiling; within the context budget they may be cut shorter (see `contextLength`).
   * @default 20_000
   */
  maxToolResultChars?: number;
  /**
   * The model's loaded context window, in tokens. By default the agent asks the client
   * (`client.modelInfo()`: LM Studio's native API, or llama.cpp's) and keeps every prompt
   * inside that window, leaving room for the reply (`params.max_tokens`, else a quarter of
   * the window, at most 1024 tokens), by compacting old tool results when needed (see README
   * "Context windows"). Set it when the server cannot tell.
   * @default the window the server reports
   */
  contextLength?: number;
  /**
   * `false` turns the context budget off: no estimate, no compaction (a server's overflow
   * still ends the run with a `ContextOverflowError`).
   * @default true
   */
  contextBudget?: boolean;
  /** Observes progress of every run. Exceptions thrown here are ignored. */
  onEvent?: (event: AgentEvent) => void;
}

/**
 * Options for one run.
 *
 * @example Continue a conversation
 * ```ts
 * import { Agent } from "@ai-agent/orchestrator";
 * const agent = new Agent();
 * const first = await agent.run("My name is Ada.");
 * const second = await agent.run("What is my name?", { messages: first.messages });
 * ```
 */
export interface RunOptions {
  /** Aborts the run: the model request and running tools (their `signal`). */
  signal?: AbortSignal;
  /** Earlier conversation (`result.messages` of a previous run) to continue from. */
  messages?: readonly ChatMessage[];
  /** Observes this run's progress (in addition to the agent's `onEvent`). */
  onEvent?: (event: AgentEvent) => void;
  /** Override the agent's `live` setting for this stream. */
  live?: boolean;
}

const WHERE = "Cannot create Agent";

/**
 * Every key of {@link AgentOptions}. The type makes a missing or extra key a compile error, so
 * an option added to the interface is also accepted at run time.
 */
const AGENT_OPTIONS: Readonly<Record<keyof AgentOptions, true>> = {
  client: true,
  tools: true,
  instructions: true,
  maxSteps: true,
  modelCall: true,
  protocol: true,
  responseFormat: true,
  reasoning: true,
  params: true,
  chunking: true,
  chunkDelayMs: true,
  delay: true,
  live: true,
  maxToolResultChars: true,
  contextLength: true,
  contextBudget: true,
  onEvent: true,
};

/** Every key of {@link RunOptions} (see {@link AGENT_OPTIONS}). */
const RUN_OPTIONS: Readonly<Record<keyof RunOptions, true>> = {
  signal: true,
  messages: true,
  onEvent: true,
  live: true,
};

/** `value` (or `fallback` when undefined) if it is a positive integer; else a RangeError. */
function positiveInteger(name: string, value: unknown, fallback: number, unit = ""): number {
  if (value === undefined) return fallback;
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return value;
  // RangeError even for a string: callers already catch this option's errors as RangeError.
  throw new RangeError(
    `${WHERE}: ${name} must be a positive integer${unit}, got ${showValue(value)}`,
  );
}

/** `value` (or `fallback` when undefined) if it is one of `choices`; else a TypeError. */
function choice<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if ((choices as readonly unknown[]).includes(value)) return value as T;
  throw new TypeError(
    `${WHERE}: ${name} must be ${listChoices(choices)}, got ${showValue(value)}`,
  );
}

/**
 * A tool-calling agent for local models. Each model reply must be one JSON object — a tool
 * call or a final answer. The agent always buffers the whole reply, validates it, and only
 * then runs a tool or emits the answer.
 *
 * Instances are reusable and safe to run concurrently (each run has its own history).
 *
 * @example Tools, a run, and a stream
 * ```ts
 * import { Agent, defineTool, LMStudioClient } from "@ai-agent/orchestrator";
 * import * as z from "zod";
 *
 * const add = defineTool({
 *   name: "add",
 *   description: "Add two numbers",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const agent = new Agent({ client: new LMStudioClient(), tools: [add], maxSteps: 10 });
 *
 * const result = await agent.run("What is 2 + 3?");
 * console.log(result.text, result.steps, result.stopReason);
 *
 * for await (const chunk of agent.stream("What is 2 + 3?")) console.log(chunk.text);
 * ```
 */
export class Agent {
  #config: LoopConfig;
  #modelCall: "stream" | "generate";
  #live: boolean;
  #onEvent: ((event: AgentEvent) => void) | undefined;

  /**
   * Creates an agent; validates every option.
   *
   * @param options See {@link AgentOptions}.
   * @throws {TypeError} for an unknown option (naming the closest known one), a value of the
   *   wrong type or not among the choices (naming the option, quoting the value, listing the
   *   choices), duplicate or invalid tools, a bad client, bad chunking, or a contradiction
   *   (`live: true` with `modelCall: "generate"`, `responseFormat: true` with
   *   `protocol: "native"`).
   * @throws {RangeError} for a `maxSteps`, `maxToolResultChars` or `contextLength` that is not a
   *   positive integer, a negative `chunkDelayMs`.
   */
  constructor(options: AgentOptions = {}) {
    checkOptionKeys(WHERE, options, AGENT_OPTIONS);
    const maxSteps = positiveInteger("maxSteps", options.maxSteps, 10);
    const client = options.client ?? new LMStudioClient();
    // Structural, never instanceof: wrappers, test doubles and a second installed copy of
    // this package all work.
    if (
      client === null || typeof client !== "object" || typeof client.stream !== "function" ||
      typeof client.generate !== "function"
    ) {
      throw new TypeError(
        `${WHERE}: client must be an LMStudioClient or an object with stream() and generate() ` +
          `methods (a ChatModel), got ${showValue(client)}`,
      );
    }
    const protocol = choice("protocol", options.protocol, ["envelope", "native"], "envelope");
    const modelCall = choice("modelCall", options.modelCall, ["stream", "generate"], "stream");
    const chunkDelayMs = options.chunkDelayMs ?? 0;
    if (typeof chunkDelayMs !== "number" || !(chunkDelayMs >= 0) || chunkDelayMs === Infinity) {
      throw new (typeof chunkDelayMs === "number" ? RangeError : TypeError)(
        `${WHERE}: chunkDelayMs must be a finite number ≥ 0 (milliseconds), got ${
          showValue(chunkDelayMs)
        }`,
      );
    }
    const maxToolResultChars = positiveInteger(
      "maxToolResultChars",
      options.maxToolResultChars,
      20_000,
    );
    if (options.instructions !== undefined && typeof options.instructions !== "string") {
      throw new TypeError(
        `${WHERE}: instructions must be a string, got ${showValue(options.instructions)}`,
      );
    }
    const contextLength = options.contextLength === undefined
      ? undefined
      : positiveInteger("contextLength", options.contextLength, 0, " (tokens)");
    const reasoning = options.reasoning === undefined
      ? undefined
      : choice("reasoning", options.reasoning, Object.keys(REASONING_EFFORT), "");
    for (const key of ["responseFormat", "live", "contextBudget"] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== "boolean") {
        throw new TypeError(
          `${WHERE}: ${key} must be true or false, got ${showValue(value)}`,
        );
      }
    }
    for (const key of ["delay", "onEvent"] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== "function") {
        throw new TypeError(`${WHERE}: ${key} must be a function, got ${showValue(value)}`);
      }
    }
    const params = options.params;
    if (params !== undefined && (params === null || typeof params !== "object")) {
      throw new TypeError(
        `${WHERE}: params must be an object of sampling parameters, got ${showValue(params)}`,
      );
    }
    if (options.live === true && modelCall === "generate") {
      throw new TypeError(
        `${WHERE}: live: true needs modelCall "stream" (with modelCall "generate" the reply ` +
          "arrives whole, so nothing can stream live); drop one of the two",
      );
    }
    if (options.responseFormat === true && protocol === "native") {
      throw new TypeError(
        `${WHERE}: responseFormat applies to protocol "envelope" only, but protocol is ` +
          '"native" (native tool calls are not constrained by a response format); drop one',
      );
    }
    if (options.tools !== undefined && !Array.isArray(options.tools)) {
      throw new TypeError(
        `${WHERE}: tools must be an array of tools (tools: [myTool]), got ${
          showValue(options.tools)
        }`,
      );
    }
    this.#modelCall = modelCall;
    const tools = [...(options.tools ?? [])];
    const registry = createToolRegistry(tools);
    // Each tool's JSON Schema, derived once and shared by whichever protocol runs.
    const described = describeTools(tools);
    const userDelay = options.delay;
    this.#config = {
      model: client,
      registry,
      protocol: protocol === "native"
        ? createNativeProtocol({ tools: described, instructions: options.instructions })
        : createEnvelopeProtocol({
          model: client,
          tools: described,
          instructions: options.instructions,
          responseFormat: options.responseFormat ?? true,
        }),
      params: reasoning === undefined
        ? { ...options.params }
        : { ...options.params, reasoning_effort: REASONING_EFFORT[reasoning] },
      context: { contextLength, budget: options.contextBudget ?? true },
      maxSteps,
      modelCall,
      maxToolResultChars,
      chunking: validateChunking(options.chunking ?? "word"),
      chunkDelayMs,
      delay: (ms, signal) => ms > 0 ? (userDelay ?? abortableDelay)(ms, signal) : Promise.resolve(),
    };
    this.#live = options.live ?? false;
    this.#onEvent = options.onEvent;
  }

  /** The system prompt this agent sends (protocol description, tools, your instructions). */
  get systemPrompt(): string {
    return this.#config.protocol.systemPrompt;
  }

  /**
   * Runs the agent to the end and returns the result.
   *
   * @param prompt The user's message.
   * @param options Signal, earlier messages, per-run event callback.
   * @returns The final text, steps, stop reason, summed usage and the message history.
   * @throws {ProtocolError} when the model breaks the protocol twice in a row.
   * @throws {LMStudioError} subclasses for server, connection and stream failures.
   *
   * @example
   * ```ts
   * import { Agent } from "@ai-agent/orchestrator";
   * const { text, stopReason } = await new Agent().run("Hi!");
   * ```
   */
  async run(prompt: string, options?: RunOptions): Promise<AgentResult> {
    const stream = this.#stream(prompt, options ?? {}, false);
    // Unchunked: the answer is one chunk, and iterating here starts the run at once.
    for await (const _chunk of stream) { /* the result holds the text */ }
    return await stream.result;
  }

  /**
   * Runs the agent and streams the final answer as {@link StreamChunk}s.
   *
   * Only the final answer (or the max-steps fallback) is streamed; tool calls are visible as
   * events. By default the whole reply is validated before the first chunk; with `live`, the
   * answer streams while the model writes it.
   *
   * @param prompt The user's message.
   * @param options Signal, earlier messages, per-run event callback, live mode.
   * @returns An {@link AgentStream}: iterate it, await `.result`, or convert it to a `Response`.
   *
   * @example
   * ```ts
   * import { Agent } from "@ai-agent/orchestrator";
   * for await (const chunk of new Agent().stream("Tell me a story")) {
   *   console.log(chunk.text, chunk.isFinal);
   * }
   * ```
   */
  stream(prompt: string, options?: RunOptions): AgentStream {
    return this.#stream(prompt, options ?? {}, true);
  }

  #stream(prompt: string, options: RunOptions, chunked: boolean): AgentStream {
    if (typeof prompt !== "string" || prompt.trim() === "") {
      throw new TypeError(
        `prompt must be a non-empty string, got ${
          typeof prompt === "string" ? JSON.stringify(prompt) : typeof prompt
        }`,
      );
    }
    checkOptionKeys("Cannot start the run", options, RUN_OPTIONS);
    if (options.messages !== undefined && !Array.isArray(options.messages)) {
      throw new TypeError(
        `Cannot start the run: messages must be an array of chat messages (result.messages), got ${
          showValue(options.messages)
        }`,
      );
    }
    if (options.live !== undefined && typeof options.live !== "boolean") {
      throw new TypeError(
        `Cannot start the run: live must be true or false, got ${showValue(options.live)}`,
      );
    }
    if (options.live === true && this.#modelCall === "generate") {
      throw new TypeError(
        'Cannot start the run: live: true needs the agent\'s modelCall to be "stream" (it is ' +
          '"generate": the reply arrives whole, so nothing can stream live)',
      );
    }
    const config = this.#config;
    const listeners = [this.#onEvent, options.onEvent].filter((f) => f !== undefined);
    const emit = (event: AgentEvent) => {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch { /* a listener's failure must not break the run */ }
      }
    };
    const live = options.live ?? this.#live;
    const userSignal = options.signal;
    const chunking = config.chunking;
    return new AgentStream(async function* (
      cancelled: AbortSignal,
    ): AsyncGenerator<StreamChunk, AgentResult, undefined> {
      const own = new AbortController();
      const signal = anySignal(userSignal, own.signal, cancelled);
      try {
        signal.throwIfAborted();
        return yield* agentLoop(config, {
          prompt,
          history: [...(options.messages ?? [])],
          signal,
          chunked,
          live,
          emit,
        });
      } catch (err) {
        // Aborted: reject with the signal's own reason, whatever the failing layer threw.
        if (userSignal?.aborted) throw userSignal.reason;
        throw err;
      } finally {
        own.abort(new DOMException("The agent run was stopped", "AbortError"));
      }
    }, chunked ? (text) => sliceText(text, { chunking }) : undefined);
  }
}
