/**
 * {@link Agent}: the buffered tool-calling loop over a JSON reply protocol.
 *
 * @module
 */
import type { ChatMessage, ChatModel, ChatParams } from "./chat.ts";
import { LMStudioClient } from "./client.ts";
import type {
  AgentEvent,
  AgentResult,
  AgentRunState,
  Checkpoint,
  PrepareStep,
  StreamChunk,
} from "./agent_types.ts";
import { AgentStream, type RunSettlement } from "./agent_stream.ts";
import { agentLoop, type LoopConfig, type LoopRun, type StepTools } from "./_loop.ts";
import { createEnvelopeProtocol } from "./protocols/envelope.ts";
import { createNativeProtocol } from "./protocols/native.ts";
import { type Chunking, sliceText, validateChunking } from "./slice_stream.ts";
import { type AnyTool, createToolRegistry, type ObjectSchema } from "./tools.ts";
import { describeTools, type ToolDescription } from "./tool_schema.ts";
import { canonicalJson, openState, sha256Hex } from "./_run_state.ts";
import { outputCheck, outputJsonSchema } from "./_output.ts";
import { abortableDelay } from "./_retry.ts";
import { anySignal } from "./_abort.ts";
import { checkOptionKeys, listChoices, showValue } from "./_options.ts";
import type { AgentTracer } from "./tracing/tracer.ts";
import { type RunTrace, startRunTrace } from "./tracing/_run_trace.ts";

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
export interface AgentOptions<O = undefined> {
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
  /**
   * An OpenTelemetry tracer (`trace.getTracer("my-app")` from `@opentelemetry/api`): each run
   * emits GenAI spans (`invoke_agent`, `chat` per model call, `execute_tool` per tool call;
   * README "Tracing"). Without one, nothing is traced and nothing is paid.
   */
  tracer?: AgentTracer;
  /**
   * With a `tracer`: also record the prompt, the model's replies and tool arguments/results on
   * the spans (they may hold personal data).
   * @default false
   */
  recordContent?: boolean;
  /**
   * Typed final output: a zod object schema the answer must match. Envelope protocol: the
   * final's `content` is a JSON object constrained by this schema (in `response_format` too);
   * native: the answer text must be that JSON. `result.output` is the parsed value,
   * `result.text` its JSON text (also what the chunks carry). A mismatch gets the one
   * corrective retry. Not with `live`.
   * @default undefined (the answer is free text)
   */
  output?: ObjectSchema<O>;
  /**
   * Called before every model call: may return per-step `params`, the names of the `tools`
   * available in that step, and extra `instructions`. A changed tool list or system prompt
   * invalidates the server's prompt cache from that point (the system prompt comes first, so
   * changing it costs the whole prompt): see README "Controlling a run".
   * @default undefined
   */
  prepareStep?: PrepareStep;
  /**
   * A token budget for the run: once the summed `usage.totalTokens` reaches it, the run ends
   * through the same fallback as `maxSteps` (`stopReason: "token_budget"`). Counts only what
   * the server reports.
   * @default undefined (no budget)
   */
  maxTotalTokens?: number;
  /**
   * The loop guard: the same call (tool name and arguments, key order ignored) made this many
   * times in a row is not run again; the model is told it already has the result
   * (`repeated_call` event). 2 blocks the first repetition.
   * @default 3
   */
  maxRepeatedCalls?: number;
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
  /**
   * Receives the resumable state after every completed tool step, and is awaited before the
   * run goes on: persist `checkpoint.state` and a crashed run continues with
   * `agent.resume(state)` (README "Controlling a run"). A throw ends the run with that error.
   * States are built only when this is set.
   * @default undefined
   */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
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
  tracer: true,
  recordContent: true,
  output: true,
  prepareStep: true,
  maxTotalTokens: true,
  maxRepeatedCalls: true,
};

/** Every key of {@link RunOptions} (see {@link AGENT_OPTIONS}). */
const RUN_OPTIONS: Readonly<Record<keyof RunOptions, true>> = {
  signal: true,
  messages: true,
  onEvent: true,
  live: true,
  onCheckpoint: true,
};

/**
 * Options for `agent.resume()`: those of a run, without `messages` (the state has the
 * history).
 *
 * @example Resume with a deadline
 * ```ts
 * import type { ResumeOptions } from "@ai-agent/orchestrator";
 * const options: ResumeOptions = { signal: AbortSignal.timeout(60_000) };
 * ```
 */
export type ResumeOptions = Omit<RunOptions, "messages">;

/**
 * What a person decided about an interrupted run's calls (`result.interruptions`): every one
 * must be approved or rejected. A rejection's `reason` reaches the model.
 *
 * @example Approve one call, reject another
 * ```ts
 * import type { ResumeDecisions } from "@ai-agent/orchestrator";
 * const decisions: ResumeDecisions = {
 *   approve: ["s00001c00"],
 *   reject: [{ callId: "s00001c01", reason: "Do not email the CEO." }],
 * };
 * ```
 */
export interface ResumeDecisions {
  /** Call ids to run (each exactly once). */
  approve?: readonly string[];
  /** Call ids not to run, each with an optional reason for the model. */
  reject?: readonly { callId: string; reason?: string }[];
}

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
export class Agent<O = undefined> {
  #config: LoopConfig;
  #modelCall: "stream" | "generate";
  #live: boolean;
  #onEvent: ((event: AgentEvent) => void) | undefined;
  #tracer: AgentTracer | undefined;
  #recordContent = false;
  #typed: boolean;

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
  constructor(options: AgentOptions<O> = {}) {
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
    const maxTotalTokens = options.maxTotalTokens === undefined
      ? undefined
      : positiveInteger("maxTotalTokens", options.maxTotalTokens, 0, " (tokens)");
    const maxRepeatedCalls = positiveInteger("maxRepeatedCalls", options.maxRepeatedCalls, 3);
    if (options.prepareStep !== undefined && typeof options.prepareStep !== "function") {
      throw new TypeError(
        `${WHERE}: prepareStep must be a function, got ${showValue(options.prepareStep)}`,
      );
    }
    if (options.output !== undefined && options.live === true) {
      throw new TypeError(
        `${WHERE}: output (typed output) cannot stream live: the answer is validated as a ` +
          "whole before it is shown; drop live or output",
      );
    }
    // Derived now, so that a schema the model cannot write as JSON fails at construction.
    const output = options.output === undefined ? undefined : outputJsonSchema(options.output);
    this.#modelCall = modelCall;
    this.#typed = output !== undefined;
    const tools = [...(options.tools ?? [])];
    const registry = createToolRegistry(tools);
    // Each tool's JSON Schema, derived once and shared by whichever protocol runs.
    const described = describeTools(tools);
    const userDelay = options.delay;
    const makeProtocol = (subset: readonly ToolDescription[]) =>
      protocol === "native"
        ? createNativeProtocol({ tools: subset, instructions: options.instructions, output })
        : createEnvelopeProtocol({
          model: client,
          tools: subset,
          instructions: options.instructions,
          responseFormat: options.responseFormat ?? true,
          output,
        });
    const all: StepTools = { protocol: makeProtocol(described), registry };
    // prepareStep's tool subsets: a protocol (prompt, response_format) per subset, built once.
    const subsets = new Map<string, StepTools>();
    const stepTools = (names: readonly string[] | undefined): StepTools => {
      if (names === undefined) return all;
      for (const name of names) {
        if (typeof name !== "string" || !registry.has(name)) {
          throw new TypeError(
            `prepareStep: tools must name tools of this agent; ${showValue(name)} is not one ` +
              `(the tools are ${listChoices([...registry.keys()])})`,
          );
        }
      }
      const key = [...new Set(names)].sort().join("\n");
      let got = subsets.get(key);
      if (got === undefined) {
        const chosen = described.filter((t) => names.includes(t.name));
        got = {
          protocol: makeProtocol(chosen),
          registry: new Map(chosen.map((t) => [t.name, registry.get(t.name)!])),
        };
        subsets.set(key, got);
      }
      return got;
    };
    let fingerprint: Promise<{ tools: string; settings: string }> | undefined;
    this.#config = {
      model: client,
      registry,
      protocol: all.protocol,
      protocolName: protocol,
      stepTools,
      prepareStep: options.prepareStep,
      maxTotalTokens,
      maxRepeatedCalls,
      output: options.output === undefined ? undefined : outputCheck(options.output),
      // Computed once per agent, when a state is first built or opened.
      fingerprint: () =>
        fingerprint ??= Promise.all([
          sha256Hex(canonicalJson(described.map((t) => ({ name: t.name, schema: t.schema })))),
          sha256Hex(canonicalJson({ protocol, output: output ?? null })),
        ]).then(([tools, settings]) => ({ tools, settings })),
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
    if (
      options.tracer !== undefined &&
      (options.tracer === null || typeof options.tracer.startSpan !== "function")
    ) {
      throw new TypeError(
        `${WHERE}: tracer must be an OpenTelemetry Tracer (with startSpan), got ${
          showValue(options.tracer)
        }`,
      );
    }
    if (options.recordContent !== undefined && typeof options.recordContent !== "boolean") {
      throw new TypeError(
        `${WHERE}: recordContent must be true or false, got ${showValue(options.recordContent)}`,
      );
    }
    this.#tracer = options.tracer;
    this.#recordContent = options.recordContent ?? false;
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
  async run(prompt: string, options?: RunOptions): Promise<AgentResult<O>> {
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
  stream(prompt: string, options?: RunOptions): AgentStream<O> {
    return this.#stream(prompt, options ?? {}, true);
  }

  /**
   * Continues a run from its state: an interrupted run's `result.state` (with a decision for
   * every call in `result.interruptions`) or a `checkpoint` event's `state` (no decisions).
   * Approved calls run exactly once; rejected ones go back to the model as an observation
   * with the reason. The state may come from `JSON.parse(JSON.stringify(state))`, another
   * process or another runtime; the agent must have the same tools, protocol and output
   * schema.
   *
   * @param state `result.state` or a checkpoint's `state`.
   * @param decisions What to do with each interrupted call.
   * @param options Signal, per-run event callback.
   * @returns The same result as `run()`: possibly interrupted again.
   * @throws {ResumeError} for a malformed, incompatible, tampered or foreign state.
   * @throws {TypeError} for a decision on an unknown call, or an interrupted call without one.
   *
   * @example Ask, then continue
   * ```ts
   * import { Agent } from "@ai-agent/orchestrator";
   * const agent = new Agent();
   * let result = await agent.run("Clean up my inbox");
   * while (result.stopReason === "interrupted") {
   *   const approve = result.interruptions.map((i) => i.callId); // ask a person here
   *   result = await agent.resume(result.state!, { approve });
   * }
   * ```
   */
  async resume(
    state: AgentRunState,
    decisions?: ResumeDecisions,
    options?: ResumeOptions,
  ): Promise<AgentResult<O>> {
    const stream = this.#resumeStream(state, decisions, options ?? {}, false);
    for await (const _chunk of stream) { /* the result holds the text */ }
    return await stream.result;
  }

  /**
   * {@link Agent.resume}, streaming the final answer as {@link Agent.stream} does. The state
   * is checked when the stream starts (the error comes from iterating or `result`).
   *
   * @param state `result.state` or a checkpoint's `state`.
   * @param decisions What to do with each interrupted call.
   * @param options Signal, per-run event callback, live mode.
   * @returns An {@link AgentStream}.
   *
   * @example
   * ```ts
   * import { Agent, type AgentRunState } from "@ai-agent/orchestrator";
   * declare const saved: AgentRunState;
   * for await (const chunk of new Agent().resumeStream(saved)) console.log(chunk.text);
   * ```
   */
  resumeStream(
    state: AgentRunState,
    decisions?: ResumeDecisions,
    options?: ResumeOptions,
  ): AgentStream<O> {
    return this.#resumeStream(state, decisions, options ?? {}, true);
  }

  #resumeStream(
    state: AgentRunState,
    decisions: ResumeDecisions | undefined,
    options: ResumeOptions,
    chunked: boolean,
  ): AgentStream<O> {
    if (options !== null && typeof options === "object" && "messages" in options) {
      throw new TypeError(
        "Cannot resume the run: messages is not an option of resume() (the state holds the history)",
      );
    }
    const byCall = resumeDecisions(decisions);
    const config = this.#config;
    return this.#start(options, chunked, "Cannot resume the run", async () => {
      const opened = await openState(state, {
        protocol: config.protocolName,
        ...(await config.fingerprint()),
      });
      const gated = new Set(
        (opened.pending?.calls ?? []).filter((c) => c.needsApproval).map((c) => c.callId),
      );
      for (const callId of byCall.keys()) {
        if (!gated.has(callId)) {
          throw new TypeError(
            `Cannot resume the run: ${JSON.stringify(callId)} is not a call waiting for ` +
              `approval (those are ${listChoices([...gated])})`,
          );
        }
      }
      const undecided = [...gated].filter((id) => !byCall.has(id));
      if (undecided.length > 0) {
        throw new TypeError(
          `Cannot resume the run: every interrupted call needs a decision (approve or reject); ` +
            `missing: ${undecided.join(", ")}`,
        );
      }
      return { prompt: "", history: [], resume: opened, decisions: byCall };
    });
  }

  #stream(prompt: string, options: RunOptions, chunked: boolean): AgentStream<O> {
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
    const history = [...(options.messages ?? [])];
    return this.#start(options, chunked, "Cannot start the run", () => ({ prompt, history }));
  }

  /** Validates the per-run options and starts the loop on what `begin` prepares. */
  #start(
    options: ResumeOptions,
    chunked: boolean,
    where: string,
    begin: () =>
      | Pick<LoopRun, "prompt" | "history" | "resume" | "decisions">
      | Promise<Pick<LoopRun, "prompt" | "history" | "resume" | "decisions">>,
  ): AgentStream<O> {
    checkOptionKeys(where, options, RUN_OPTIONS);
    if (options.live !== undefined && typeof options.live !== "boolean") {
      throw new TypeError(`${where}: live must be true or false, got ${showValue(options.live)}`);
    }
    if (options.live === true && this.#modelCall === "generate") {
      throw new TypeError(
        `${where}: live: true needs the agent's modelCall to be "stream" (it is ` +
          '"generate": the reply arrives whole, so nothing can stream live)',
      );
    }
    if (options.onCheckpoint !== undefined && typeof options.onCheckpoint !== "function") {
      throw new TypeError(
        `${where}: onCheckpoint must be a function, got ${showValue(options.onCheckpoint)}`,
      );
    }
    if (options.live === true && this.#typed) {
      throw new TypeError(
        `${where}: live: true cannot be used with the agent's output schema (the answer is ` +
          "validated as a whole before it is shown)",
      );
    }
    const config = this.#config;
    const listeners = [this.#onEvent, options.onEvent].filter((f) => f !== undefined);
    const tracer = this.#tracer;
    const recordContent = this.#recordContent;
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
    return new AgentStream<O>(async function* (
      cancelled: AbortSignal,
      settle: RunSettlement<O>,
    ): AsyncGenerator<StreamChunk, void, undefined> {
      const own = new AbortController();
      const signal = anySignal(userSignal, own.signal, cancelled);
      let trace: RunTrace | undefined;
      let failure: unknown;
      let settled = false;
      try {
        signal.throwIfAborted();
        const start = await begin();
        if (tracer !== undefined) {
          trace = startRunTrace(tracer, traceInfo(config, start.prompt, recordContent));
          listeners.push(trace.onEvent);
        }
        const result = yield* agentLoop(config, {
          ...start,
          signal,
          chunked,
          live,
          emit,
          onCheckpoint: options.onCheckpoint,
        });
        settled = true;
        settle.resolve(result as AgentResult<O>);
      } catch (err) {
        // Aborted: reject with the signal's own reason, whatever the failing layer threw.
        failure = userSignal?.aborted ? userSignal.reason : err;
        settled = true;
        settle.reject(failure);
        throw failure;
      } finally {
        // The consumer stopped early (`return()`): the run ends here, and so does `result`.
        if (!settled) {
          settle.reject(new DOMException("The agent stream was cancelled", "AbortError"));
        }
        trace?.close(failure);
        own.abort(new DOMException("The agent run was stopped", "AbortError"));
      }
    }, chunked ? (text) => sliceText(text, { chunking }) : undefined);
  }
}

/** What the run's spans say about the model: its name and the server's address. */
function traceInfo(
  config: LoopConfig,
  prompt: string,
  recordContent: boolean,
): Parameters<typeof startRunTrace>[1] {
  const client = config.model as { model?: unknown; baseURL?: unknown };
  const model = config.params.model ?? client.model;
  return {
    model: typeof model === "string" ? model : undefined,
    baseURL: typeof client.baseURL === "string" ? client.baseURL : undefined,
    recordContent,
    prompt,
  };
}

/** The decisions by call id; a TypeError for a malformed or contradictory one. */
function resumeDecisions(
  decisions: ResumeDecisions | undefined,
): Map<string, { approved: boolean; reason?: string }> {
  const where = "Cannot resume the run";
  const byCall = new Map<string, { approved: boolean; reason?: string }>();
  if (decisions === undefined) return byCall;
  if (decisions === null || typeof decisions !== "object") {
    throw new TypeError(
      `${where}: decisions must be { approve?, reject? }, got ${showValue(decisions)}`,
    );
  }
  const { approve = [], reject = [] } = decisions;
  if (!Array.isArray(approve) || !Array.isArray(reject)) {
    throw new TypeError(`${where}: approve and reject must be arrays`);
  }
  const add = (callId: unknown, decision: { approved: boolean; reason?: string }) => {
    if (typeof callId !== "string") {
      throw new TypeError(`${where}: a call id must be a string, got ${showValue(callId)}`);
    }
    if (byCall.has(callId)) {
      throw new TypeError(`${where}: call ${JSON.stringify(callId)} is decided twice`);
    }
    byCall.set(callId, decision);
  };
  for (const callId of approve) add(callId, { approved: true });
  for (const entry of reject) {
    if (entry === null || typeof entry !== "object") {
      throw new TypeError(
        `${where}: reject entries are { callId, reason? }, got ${showValue(entry)}`,
      );
    }
    if (entry.reason !== undefined && typeof entry.reason !== "string") {
      throw new TypeError(`${where}: a rejection's reason must be a string`);
    }
    add(entry.callId, {
      approved: false,
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    });
  }
  return byCall;
}
