// The agent's step loop, as one async generator: call the model, buffer and validate its
// whole reply, then run a tool or emit the final answer as chunks. Yields StreamChunks and
// returns the AgentResult.
//
// Invariants (README "Streaming contract"):
// - tools run only after the whole reply is buffered and parsed, never on finish "length";
// - a violation gets one corrective retry per step; a second is a ProtocolError;
// - the last yielded chunk, and only it, has isFinal: true;
// - in live mode, text already yielded can never be taken back: any later failure of that
//   reply ends the run with LiveStreamError.
import type { CallOptions, ChatMessage, ChatModel, ChatParams, ChatResult, Usage } from "./chat.ts";
import { addUsage } from "./chat.ts";
import { ContextOverflowError, LiveStreamError, ProtocolError } from "./errors.ts";
import type {
  AgentEvent,
  AgentResult,
  AgentRunState,
  Checkpoint,
  Interruption,
  PrepareStep,
  StopReason,
  StreamChunk,
  TranscriptEntry,
} from "./agent_types.ts";
import { MAX_STEPS_FALLBACK_TEXT } from "./agent_types.ts";
import type {
  Decision,
  ExecutedCall,
  ReplyProtocol,
  RequestedCall,
} from "./protocols/_reply_protocol.ts";
import { type AnyTool, callNeedsApproval, runTool, type ToolOutcome } from "./tools.ts";
import type { HistoryUnit } from "./_context.ts";
import { callKey, sealState, STATE_VERSION } from "./_run_state.ts";
import { type Chunking, sliceText, TextSlicer } from "./slice_stream.ts";
import { clip } from "./_text.ts";
import { ContextBudget, type ContextSettings } from "./_context_budget.ts";
import { ReasoningSplitter, replyReasoning, splitReasoning } from "./_reasoning.ts";

/** A step's protocol and tools: the agent's, or the subset `prepareStep` chose. */
export interface StepTools {
  protocol: ReplyProtocol;
  registry: ReadonlyMap<string, AnyTool>;
}

/** The final answer checked against the agent's `output` schema. */
export type OutputCheck = (
  content: string,
) => { ok: true; value: unknown; text: string } | { ok: false; reason: string };

/** Everything the loop needs, fixed per agent. */
export interface LoopConfig {
  model: ChatModel;
  registry: ReadonlyMap<string, AnyTool>;
  protocol: ReplyProtocol;
  /** The protocol's name, recorded in states. */
  protocolName: "envelope" | "native";
  /** The protocol and registry for a subset of tools (`undefined`: all), cached per agent. */
  stepTools: (names: readonly string[] | undefined) => StepTools;
  prepareStep: PrepareStep | undefined;
  /** Run-level token budget (summed `totalTokens`); `undefined`: none. */
  maxTotalTokens: number | undefined;
  /** The same call this many times in a row is not run again. */
  maxRepeatedCalls: number;
  /** Checks the final answer against the `output` schema. */
  output: OutputCheck | undefined;
  /** The tool-set and settings fingerprints states carry. */
  fingerprint: () => Promise<{ tools: string; settings: string }>;
  params: ChatParams;
  context: ContextSettings;
  maxSteps: number;
  modelCall: "stream" | "generate";
  maxToolResultChars: number;
  chunking: Chunking;
  chunkDelayMs: number;
  delay: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Per-run settings. */
export interface LoopRun {
  prompt: string;
  history: ChatMessage[];
  signal: AbortSignal;
  /** Slice the answer into chunks (stream) or yield it whole (run). */
  chunked: boolean;
  live: boolean;
  emit: (event: AgentEvent) => void;
  /** Receives a state after every completed tool step (awaited); states are built only for it. */
  onCheckpoint: ((checkpoint: Checkpoint) => void | Promise<void>) | undefined;
  /** Continue this (opened, checked) state instead of starting from `prompt`. */
  resume?: AgentRunState;
  /** For a resumed interrupted step: callId → rejected (with the reason) or approved. */
  decisions?: ReadonlyMap<string, { approved: boolean; reason?: string }>;
}

interface Reply extends ChatResult {
  /** Live mode: text already yielded to the user, in order. */
  delivered: string[];
  /** Live mode: the slices produced but not yet yielded (the last is held for isFinal). */
  held: string[];
  /** Live mode: the slicer, for flushing the tail once the reply is validated. */
  slicer?: TextSlicer;
}

const ZERO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

/**
 * The id of a call the server gave none (envelope replies, tool calls written as text):
 * `s<step>c<index>`, 9 alphanumerics (`s00001c00` is step 1's first call), because the chat
 * templates of Mistral models raise "Tool call IDs should be alphanumeric strings with length
 * 9!" for any other id in the history. Past step 99999 or call 99 of a step it grows longer.
 */
function callIdFor(step: number, index: number): string {
  return `s${String(step).padStart(5, "0")}c${String(index).padStart(2, "0")}`;
}

/** What one run accumulates: the history, the summed usage, the context budget. */
interface RunState {
  history: ChatMessage[];
  /** The display transcript (AgentResult.transcript): no protocol turns. */
  transcript: TranscriptEntry[];
  usage: { total: Usage };
  budget: ContextBudget;
  /** The repeat guard's memory: the last call's key and how often it came in a row. */
  repeat: { key: string; count: number } | null;
}

/** The per-step setup: the protocol, tools, system prompt and parameters of one call. */
interface StepSetup extends StepTools {
  system: string;
  params: Partial<ChatParams>;
  /** The tool names `prepareStep` chose, or `null` for all. */
  tools: string[] | null;
}

/** A requested call with the id it has in events, history and states. */
interface IdentifiedCall {
  call: RequestedCall;
  callId: string;
}

/** How the conversation ended: the answer to emit, and the live reply it may continue. */
interface Outcome {
  content: string;
  step: number;
  stopReason: StopReason;
  /** Live mode: the reply whose first slices are out already. */
  live: Reply | undefined;
  /** The answering reply's reasoning. */
  reasoning: string;
  /** Model turns used (the fallback excluded). */
  steps: number;
  /** The validated `output` value. */
  output: unknown;
  /** Interrupted: the calls waiting and the state to resume. */
  interrupted?: { interruptions: Interruption[]; state: AgentRunState };
}

/** Runs one agent conversation (or continues a saved one: `run.resume`). */
export async function* agentLoop(
  cfg: LoopConfig,
  run: LoopRun,
): AsyncGenerator<StreamChunk, AgentResult<unknown>, undefined> {
  const saved = run.resume;
  const history: ChatMessage[] = saved
    ? saved.history
    : [...run.history, { role: "user", content: run.prompt }];
  const usage = { total: saved?.usage ?? ZERO_USAGE };
  const budget = new ContextBudget(cfg.context, cfg.model, cfg.params);
  if (saved) budget.units.push(...(saved.units as HistoryUnit[]));
  const transcript: TranscriptEntry[] = saved
    ? saved.transcript
    : [{ type: "user", text: run.prompt }];
  const state: RunState = { history, transcript, usage, budget, repeat: saved?.repeat ?? null };
  const outcome = yield* converse(cfg, run, state);
  const { content, step, stopReason, live, reasoning } = outcome;
  // The result, as a run ends: answered or interrupted, the rest is the same.
  const finish = (
    ending: Pick<AgentResult<unknown>, "text" | "output" | "interruptions" | "state">,
  ): AgentResult<unknown> => {
    const result: AgentResult<unknown> = {
      ...ending,
      steps: outcome.steps,
      stopReason,
      usage: usage.total,
      reasoning,
      messages: history,
      transcript,
    };
    run.emit({ type: "finish", result });
    return result;
  };
  if (outcome.interrupted) {
    // Nothing to say yet: no chunk at all (README "The streaming contract").
    const { interruptions, state } = outcome.interrupted;
    return finish({ text: "", output: undefined, interruptions, state });
  }
  // The final answer's chunks are yielded here, not by a helper generator: each level of
  // `yield*` costs every chunk a resumption (measurable at 100k chunks).
  const slices = finalSlices(cfg, run, content, live);
  let first = !live?.delivered.length;
  let next = slices.next();
  if (next.done) next = { done: false, value: "" }; // an empty answer is still one final chunk
  while (!next.done) {
    const text = next.value;
    next = slices.next(); // one slice ahead, to know which is last
    if (!first && cfg.chunkDelayMs > 0) await cfg.delay(cfg.chunkDelayMs, run.signal);
    first = false;
    const chunk = { text, step, isFinal: next.done === true };
    run.emit({ type: "chunk", chunk });
    yield chunk;
  }
  transcript.push({ type: "assistant", step, text: content });
  return finish({ text: content, output: outcome.output, interruptions: [], state: undefined });
}

/**
 * The step loop and the fallback (max steps or token budget), up to a validated final answer
 * or an interruption. Yields only live chunks; the caller emits the rest. `usage.total` sums
 * every model call.
 */
async function* converse(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
): AsyncGenerator<StreamChunk, Outcome, undefined> {
  const { emit } = run;
  const { history, usage, budget } = state;
  let step = 0;
  const pending = run.resume?.pending;
  if (run.resume) {
    step = run.resume.step;
    if (pending) {
      // The interrupted step, decided: its calls run now (approved ones exactly once), and the
      // step is recorded as if it had never paused.
      const tools = cfg.stepTools(pending.tools ?? undefined);
      const calls: IdentifiedCall[] = pending.calls.map((c) => ({
        callId: c.callId,
        call: {
          id: c.id,
          name: c.name,
          args: c.args,
          ...(c.argsError === undefined ? {} : { argsError: c.argsError }),
        },
      }));
      const plan = planRepeats(cfg, state.repeat, calls);
      const rejected = new Map<string, string | undefined>();
      for (const [callId, d] of run.decisions ?? []) {
        if (!d.approved) rejected.set(callId, d.reason);
      }
      const executed = await runTools(
        cfg,
        run,
        step,
        calls,
        tools.registry,
        plan.blocked,
        rejected,
      );
      state.repeat = plan.repeat;
      recordToolStep(state, tools.protocol, step, pending.reply, executed);
      await checkpoint(cfg, run, state, step);
    }
  }

  let stopReason: StopReason = "max_steps";
  for (step++; step <= cfg.maxSteps; step++) {
    if (cfg.maxTotalTokens !== undefined && usage.total.totalTokens >= cfg.maxTotalTokens) {
      stopReason = "token_budget";
      emit({
        type: "token_budget",
        step,
        used: usage.total.totalTokens,
        limit: cfg.maxTotalTokens,
      });
      break;
    }
    const setup = await prepare(cfg, run, state, step);
    const { protocol } = setup;
    emit({ type: "step_start", step });
    for (let attempt = 0;; attempt++) {
      const reply = yield* callModel(cfg, run, state, step, setup, { fallback: false });
      usage.total = addUsage(usage.total, reply.usage) ?? usage.total;
      const decision = decide(cfg, protocol, reply);
      const delivered = reply.delivered.length > 0;

      if (decision.kind === "violation") {
        if (delivered) throw liveFailure(reply, decision.reason);
        if (attempt >= 1) {
          throw new ProtocolError(
            `Step ${step}: the model broke the reply protocol twice in a row; the last ` +
              `reply: ${developerReason(decision.reason)} (the reply is err.rawText, the words ` +
              "the model was given err.reason)",
            { rawText: reply.text, reason: decision.reason, step },
          );
        }
        emit({ type: "protocol_retry", step, reason: decision.reason, rawText: reply.text });
        budget.units.push({ at: history.length, count: 2, step, level: 0 });
        // The rejected reply goes back without its reasoning: earlier turns' reasoning is
        // never sent back (README "Messy model output").
        const echo = clip(splitReasoning(reply.text).text, 4000);
        history.push({ role: "assistant", content: echo || "(empty reply)" });
        history.push(protocol.correction(decision.reason));
        continue;
      }
      if (decision.kind === "final") {
        history.push(protocol.finalTurn(decision.content));
        // Only the live reply goes on: the raw reply is as large as the answer, and nothing
        // may keep it reachable while the chunks are emitted.
        const live = reply.slicer ? reply : undefined;
        return {
          content: decision.content,
          step,
          steps: step,
          stopReason: "final",
          live,
          reasoning: replyReasoning(reply),
          output: decision.output,
        };
      }
      if (delivered) throw liveFailure(reply, "the reply turned out to be a tool call");
      const calls = decision.calls.map((call, i) => ({
        call,
        callId: call.id || callIdFor(step, i),
      }));
      const plan = planRepeats(cfg, state.repeat, calls);
      const gated = await Promise.all(
        calls.map(({ call, callId }, i) =>
          plan.blocked[i] === undefined && call.argsError === undefined
            ? callNeedsApproval(setup.registry, call.name, call.args, {
              signal: run.signal,
              step,
              callId,
            })
            : false
        ),
      );
      // Nothing of a step runs until its gated calls are decided: the step stays atomic.
      if (gated.some(Boolean)) return await interrupt(cfg, state, step, setup, reply, calls, gated);
      const executed = await runTools(cfg, run, step, calls, setup.registry, plan.blocked);
      state.repeat = plan.repeat;
      recordToolStep(state, protocol, step, reply, executed);
      await checkpoint(cfg, run, state, step);
      break;
    }
  }

  // The fallback: one last call, told to answer now without tools.
  if (stopReason === "max_steps") emit({ type: "max_steps", step });
  const setup = await prepare(cfg, run, state, step);
  history.push(setup.protocol.maxStepsMessage());
  const reply = yield* callModel(cfg, run, state, step, setup, { fallback: true });
  usage.total = addUsage(usage.total, reply.usage) ?? usage.total;
  const decision = decide(cfg, setup.protocol, reply);
  let content = MAX_STEPS_FALLBACK_TEXT;
  if (decision.kind === "final") content = decision.content;
  else if (reply.delivered.length) {
    throw liveFailure(
      reply,
      decision.kind === "violation" ? decision.reason : "the reply was not a final answer",
    );
  }
  history.push(setup.protocol.finalTurn(content));
  const live = decision.kind === "final" && reply.slicer ? reply : undefined;
  const reasoning = decision.kind === "final" ? replyReasoning(reply) : "";
  const output = decision.kind === "final" ? decision.output : undefined;
  return { content, step, steps: step - 1, stopReason, live, reasoning, output };
}

/** The step's setup: the agent's, changed by `prepareStep` when there is one. */
async function prepare(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
  step: number,
): Promise<StepSetup> {
  const chosen = cfg.prepareStep
    ? await cfg.prepareStep({
      step,
      messages: state.history,
      usage: state.usage.total,
      signal: run.signal,
    })
    : undefined;
  run.signal.throwIfAborted();
  if (chosen === undefined || chosen === null) {
    return {
      ...cfg.stepTools(undefined),
      system: cfg.protocol.systemPrompt,
      params: {},
      tools: null,
    };
  }
  if (typeof chosen !== "object") {
    throw new TypeError(
      `prepareStep must return an object ({ params?, tools?, instructions? }) or undefined, got ${typeof chosen}`,
    );
  }
  const { params, tools, instructions } = chosen;
  if (tools !== undefined && !Array.isArray(tools)) {
    throw new TypeError("prepareStep: tools must be an array of tool names");
  }
  if (instructions !== undefined && typeof instructions !== "string") {
    throw new TypeError("prepareStep: instructions must be a string");
  }
  const names = tools === undefined ? undefined : [...tools];
  const stepTools = cfg.stepTools(names);
  const extra = instructions?.trim();
  return {
    ...stepTools,
    system: extra
      ? `${stepTools.protocol.systemPrompt}\n\n${extra}`
      : stepTools.protocol.systemPrompt,
    params: { ...params },
    tools: names ?? null,
  };
}

/** The tool step's transcript entries, history turn and compaction unit. */
function recordToolStep(
  state: RunState,
  protocol: ReplyProtocol,
  step: number,
  reply: Pick<ChatResult, "text" | "toolCalls">,
  executed: ExecutedCall[],
): void {
  state.transcript.push(...executed.flatMap((e) => transcriptEntries(step, e)));
  const turn = protocol.toolTurn(reply, executed);
  state.budget.units.push({
    at: state.history.length,
    count: turn.length,
    step,
    // Only what re-rendering needs: the reply itself may be large.
    tools: { reply: { text: reply.text, toolCalls: reply.toolCalls }, calls: executed },
    level: 0,
  });
  state.history.push(...turn);
}

/**
 * The repeat guard for one step's calls, in order: the same call (name and canonical
 * arguments) for the `maxRepeatedCalls`-th time in a row, and after, is blocked. Returns, per
 * call, how often it came in a row when blocked, and the guard's memory after the step.
 */
function planRepeats(
  cfg: LoopConfig,
  repeat: RunState["repeat"],
  calls: readonly IdentifiedCall[],
): { blocked: (number | undefined)[]; repeat: RunState["repeat"] } {
  const blocked: (number | undefined)[] = [];
  let memory = repeat;
  for (const { call } of calls) {
    const key = callKey(call.name, call.args);
    const count = memory?.key === key ? memory.count + 1 : 1;
    memory = { key, count };
    blocked.push(count >= cfg.maxRepeatedCalls ? count : undefined);
  }
  return { blocked, repeat: memory };
}

/**
 * Hands a checkpoint to `onCheckpoint` after a completed step and waits for it (a state that
 * is being saved must be saved before later steps act), only when there is one: a state is
 * O(history) to build.
 */
async function checkpoint(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
  step: number,
): Promise<void> {
  if (!run.onCheckpoint) return;
  await run.onCheckpoint({ step, state: await snapshot(cfg, state, step, null) });
  run.signal.throwIfAborted();
}

/** The run paused at `step`: its calls wait, nothing of the step ran. */
async function interrupt(
  cfg: LoopConfig,
  state: RunState,
  step: number,
  setup: StepSetup,
  reply: Reply,
  calls: readonly IdentifiedCall[],
  gated: readonly boolean[],
): Promise<Outcome> {
  const pending: NonNullable<AgentRunState["pending"]> = {
    reply: { text: reply.text, ...(reply.toolCalls ? { toolCalls: reply.toolCalls } : {}) },
    tools: setup.tools,
    calls: calls.map(({ call, callId }, i) => ({
      id: call.id,
      callId,
      name: call.name,
      args: call.args,
      ...(call.argsError === undefined ? {} : { argsError: call.argsError }),
      needsApproval: gated[i]!,
    })),
  };
  const interruptions = calls.filter((_, i) => gated[i]).map(({ call, callId }) => ({
    callId,
    tool: call.name,
    arguments: call.args,
  }));
  return {
    content: "",
    step,
    // The paused step's model turn was used; its calls run on resume.
    steps: step,
    stopReason: "interrupted",
    live: undefined,
    reasoning: replyReasoning(reply),
    output: undefined,
    interrupted: { interruptions, state: await snapshot(cfg, state, step, pending) },
  };
}

/** The resumable state now (a deep plain-JSON copy, sealed). */
async function snapshot(
  cfg: LoopConfig,
  state: RunState,
  step: number,
  pending: AgentRunState["pending"],
): Promise<AgentRunState> {
  const { tools, settings } = await cfg.fingerprint();
  return await sealState({
    version: STATE_VERSION,
    protocol: cfg.protocolName,
    tools,
    settings,
    step,
    usage: state.usage.total,
    history: state.history,
    transcript: state.transcript,
    repeat: state.repeat,
    units: state.budget.units.map(savedUnit),
    pending,
  });
}

/**
 * A compaction unit as JSON: an outcome's `value` (whatever the tool returned) and `cause`
 * are not data, and its validated `args` may hold non-JSON values; re-rendering needs neither.
 */
function savedUnit(unit: HistoryUnit): unknown {
  if (!unit.tools) return unit;
  return {
    ...unit,
    tools: {
      reply: unit.tools.reply,
      calls: unit.tools.calls.map(({ call, callId, outcome }) => {
        const { value: _value, cause: _cause, ...rest } = outcome as ToolOutcome & {
          value?: unknown;
          cause?: unknown;
        };
        return { call, callId, outcome: { ...rest, args: call.args } };
      }),
    },
  };
}

/**
 * A reply cut off by the token limit is never acted on, whatever the protocol; the rest is the
 * protocol's call.
 */
function decide(
  cfg: LoopConfig,
  protocol: ReplyProtocol,
  reply: ChatResult,
): Exclude<Decision, { kind: "final" }> | { kind: "final"; content: string; output: unknown } {
  if (reply.finishReason === "length") {
    return {
      kind: "violation",
      reason: 'your reply was cut off by the token limit (finish_reason "length") before it ' +
        "was complete; reply again, shorter",
    };
  }
  const decision = protocol.decide(reply);
  if (decision.kind !== "final") return decision;
  if (!cfg.output) return { ...decision, output: undefined };
  // Typed output: a mismatch is a violation like any other (one corrective retry).
  const checked = cfg.output(decision.content);
  if (!checked.ok) return { kind: "violation", reason: checked.reason };
  return { kind: "final", content: checked.text, output: checked.value };
}

/** One model call (stream or generate), with the protocol's request extras and live slicing. */
async function* callModel(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
  step: number,
  setup: StepSetup,
  opts: { fallback: boolean },
): AsyncGenerator<StreamChunk, Reply, undefined> {
  const { protocol } = setup;
  const { history, budget } = state;
  const system: ChatMessage = { role: "system", content: setup.system };
  const render = protocol.toolTurn.bind(protocol);
  const onRetry: CallOptions["onRetry"] = (info) =>
    run.emit({ type: "model_retry", step, ...info });
  // A server-reported overflow gets one harder compaction and one more try per call.
  let harder = false;

  for (;;) {
    const extras = protocol.requestExtras(opts.fallback);
    await budget.ready(run.signal);
    const { messages, bytes } = budget.fit(history, system, extras, render, step, run.emit, harder);
    const req = { ...cfg.params, ...setup.params, ...extras, messages, signal: run.signal };
    try {
      const reply = cfg.modelCall === "generate"
        ? await generateReply(cfg, req, onRetry)
        : yield* streamReply(cfg, run, protocol, req, step, onRetry);
      run.emit({
        type: "model_response",
        step,
        text: reply.text,
        // One reasoning channel: the server's reasoning field, then inline blocks (<think>…).
        reasoning: replyReasoning(reply),
        finishReason: reply.finishReason,
        ...(reply.usage ? { usage: reply.usage } : {}),
      });
      budget.observe(bytes, reply.usage);
      return reply;
    } catch (err) {
      if (
        err instanceof ContextOverflowError && !harder &&
        await budget.overflowed(err, bytes, run.signal)
      ) {
        harder = true;
        continue;
      }
      const notice = protocol.rejected(err, extras);
      if (notice === undefined) throw err;
      run.emit({ type: "response_format_unsupported", step, message: notice });
    }
  }
}

async function generateReply(
  cfg: LoopConfig,
  req: Parameters<ChatModel["generate"]>[0],
  onRetry: CallOptions["onRetry"],
): Promise<Reply> {
  const result = await cfg.model.generate(req, { onRetry });
  return { ...result, delivered: [], held: [] };
}

async function* streamReply(
  cfg: LoopConfig,
  run: LoopRun,
  protocol: ReplyProtocol,
  req: Parameters<ChatModel["stream"]>[0],
  step: number,
  onRetry: CallOptions["onRetry"],
): AsyncGenerator<StreamChunk, Reply, undefined> {
  const live = run.live && run.chunked ? protocol.live() : undefined;
  const slicer = live ? new TextSlicer({ chunking: cfg.chunking }) : undefined;
  const delivered: string[] = [];
  const held: string[] = [];
  const stream = cfg.model.stream(req, { onRetry });
  // Inline reasoning blocks in the content stream out as model_delta reasoning, as they arrive.
  const inline = new ReasoningSplitter();
  try {
    for await (const delta of stream) {
      if (!inline.answering && delta.text !== "") inline.push(delta.text);
      const reasoning = delta.reasoning + inline.takeReasoning();
      run.emit({ type: "model_delta", step, text: delta.text, reasoning });
      if (!live || delta.text === "") continue;
      const text = live.push(delta.text);
      if (text === "") continue;
      held.push(...slicer!.push(text));
      // Keep the newest slice back: it may turn out to be the last one (isFinal).
      while (held.length > 1) {
        if (delivered.length) await cfg.delay(cfg.chunkDelayMs, run.signal);
        const slice = held.shift()!;
        delivered.push(slice);
        const chunk = { text: slice, step, isFinal: false };
        run.emit({ type: "chunk", chunk });
        yield chunk;
      }
    }
    const result = await stream.finalResult();
    return { ...result, delivered, held, slicer };
  } catch (err) {
    if (delivered.length && !run.signal.aborted) {
      throw new LiveStreamError(
        `The model's reply failed after ${delivered.join("").length} characters of the final ` +
          `answer were already streamed: ${(err as Error).message}`,
        { deliveredText: delivered.join(""), cause: err },
      );
    }
    throw err;
  }
}

/**
 * The final answer's slices: the whole text (run), its slices, lazily (stream: an array of
 * every slice would hold about three times the answer), or the rest of a live reply.
 */
function finalSlices(
  cfg: LoopConfig,
  run: LoopRun,
  content: string,
  live: Reply | undefined,
): Iterator<string, void, undefined> {
  if (!run.chunked) return [content].values();
  if (live && live.slicer && (live.delivered.length || live.held.length)) {
    // Part of the answer is out already. The rest is held + the slicer's tail, and the whole
    // must equal the validated content.
    const rest = [...live.held, ...live.slicer.flush()];
    const shown = live.delivered.join("");
    if (shown + rest.join("") !== content) {
      throw new LiveStreamError(
        "Live streaming emitted text that differs from the validated final answer",
        { deliveredText: shown },
      );
    }
    return rest.values();
  }
  return sliceText(content, { chunking: cfg.chunking });
}

/**
 * Runs the calls of one step in parallel; every outcome is also an event. A call the repeat
 * guard blocked (`blocked[i]`: how often it came in a row) or a person rejected is not run:
 * the model is told why.
 */
async function runTools(
  cfg: LoopConfig,
  run: LoopRun,
  step: number,
  calls: readonly IdentifiedCall[],
  registry: ReadonlyMap<string, AnyTool>,
  blocked: readonly (number | undefined)[],
  rejected: ReadonlyMap<string, string | undefined> = new Map(),
): Promise<ExecutedCall[]> {
  return await Promise.all(calls.map(async ({ call, callId }, i): Promise<ExecutedCall> => {
    run.emit({ type: "tool_call", step, tool: call.name, arguments: call.args, callId });
    let outcome: ToolOutcome;
    const fail = (kind: "invalid_arguments" | "rejected" | "repeated_call", error: string) => ({
      ok: false as const,
      tool: call.name,
      args: call.args,
      kind,
      error,
      durationMs: 0,
    });
    const repeats = blocked[i];
    if (call.argsError !== undefined) {
      outcome = fail("invalid_arguments", call.argsError);
    } else if (rejected.has(callId)) {
      const reason = rejected.get(callId)?.trim();
      outcome = fail(
        "rejected",
        `The user rejected this call, so it did not run${reason ? `: ${reason}` : "."} ` +
          "Do not make the same call again; continue without it or answer.",
      );
    } else if (repeats !== undefined) {
      run.emit({
        type: "repeated_call",
        step,
        tool: call.name,
        callId,
        arguments: call.args,
        count: repeats,
      });
      outcome = fail(
        "repeated_call",
        `You made this same call ${repeats} times in a row and already have its result ` +
          "above; it was not run again. Use that result, or do something else.",
      );
    } else {
      outcome = await runTool(registry, call.name, call.args, {
        signal: run.signal,
        step,
        callId,
        maxResultChars: cfg.maxToolResultChars,
      });
    }
    if (outcome.ok) {
      run.emit({
        type: "tool_result",
        step,
        tool: call.name,
        callId,
        output: outcome.output,
        durationMs: outcome.durationMs,
      });
    } else {
      run.emit({
        type: "tool_error",
        step,
        tool: call.name,
        callId,
        kind: outcome.kind,
        error: outcome.error,
        durationMs: outcome.durationMs,
      });
    }
    return { call, callId, outcome };
  }));
}

/**
 * A violation's reason as a developer reads it: its first sentence, without the instructions
 * that follow it for the model ("Reply with…", "Use {…}").
 */
function developerReason(reason: string): string {
  const first = reason.split(/(?<=[.;])\s+(?=Reply |Use |Either |Call )/)[0]!;
  return clip(first.replace(/[.;]\s*$/, ""), 300);
}

function liveFailure(reply: Reply, reason: string): LiveStreamError {
  const shown = reply.delivered.join("");
  return new LiveStreamError(
    `The model's reply failed after ${shown.length} characters of the final answer were ` +
      `already streamed: ${reason}`,
    { deliveredText: shown },
  );
}

/** A tool call and its outcome as transcript entries. */
function transcriptEntries(step: number, e: ExecutedCall): TranscriptEntry[] {
  const { call, callId, outcome } = e;
  const tool = call.name;
  return [
    { type: "tool_call", step, tool, callId, arguments: call.args },
    outcome.ok
      ? { type: "tool_result", step, tool, callId, output: outcome.output }
      : { type: "tool_error", step, tool, callId, kind: outcome.kind, error: outcome.error },
  ];
}
