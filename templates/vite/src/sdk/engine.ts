// One on-device language model, whatever runtime runs it: the contract the app (and its tests)
// program against, the same as the phone SDKs' LlmEngine.
import { ModelInfo } from './modelInfo';

/** Settings an engine is created with; defaults come from sdkgen's plan (ModelInfo). */
export interface EngineSettings {
  /** Context length: prompt and reply tokens together. */
  contextTokens: number;
  /** CPU threads; more than one needs cross-origin isolation (else the runtime uses one). */
  threads: number;
  temperature: number;
  topK: number;
  topP: number;
  /** Longest reply, in tokens. */
  maxReplyTokens: number;
  seed: number;
}

export const defaultEngineSettings = (): EngineSettings => ({
  contextTokens: ModelInfo.contextTokens,
  threads: ModelInfo.threads,
  temperature: ModelInfo.sampler.temperature,
  topK: ModelInfo.sampler.topK,
  topP: ModelInfo.sampler.topP,
  maxReplyTokens: 256,
  seed: 0,
});

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One generated token: its id and the text it adds (may be empty while a character is split). */
export interface TokenPiece {
  id: number;
  text: string;
}

export interface GenerateOptions {
  /** Stops the reply: the promise resolves with what was generated, `finishReason: 'cancelled'`. */
  signal?: AbortSignal;
  /** Streams the reply: called for every token as it is generated. */
  onToken?: (piece: TokenPiece) => void;
  maxTokens?: number;
  /** Per-call sampling; `greedy: true` is temperature 0, top-k 1 (deterministic). */
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Token ids that may never be generated. */
  bannedTokens?: number[];
  stop?: string[];
}

export interface Generation {
  text: string;
  /** The generated token ids, in order (empty where the runtime reports none: MediaPipe on the web). */
  ids: number[];
  /** How many tokens the reply has, whatever the runtime reports of them. */
  tokenCount: number;
  finishReason: 'stop' | 'length' | 'cancelled';
  promptTokens: number;
  /** Prompt tokens whose KV cache was reused from the previous request (multi-turn chat). */
  cachedTokens: number;
  tokensPerSecond: number;
  /** From the request's start to the first token, in milliseconds (null when none came). */
  firstTokenMs: number | null;
}

export type LoadProgress = (loadedBytes: number, totalBytes: number) => void;

/**
 * Call `load` once, then `chat` for each user message: the reply streams through `onToken` and
 * stays in the conversation, so the next message follows it (the runtime reuses its KV cache).
 * `reset` starts a new chat; a full context rejects with ContextFullError. A reply stops when
 * `options.signal` aborts (or on `cancel()`); `close` frees the runtime's memory.
 */
export interface LlmEngine {
  readonly isLoaded: boolean;
  /** The chat template read from the model file (null when it has none). */
  readonly chatTemplate: string | null;
  readonly contextTokens: number;
  /** Threads the runtime really uses (1 without cross-origin isolation). */
  readonly threads: number;
  /** The conversation so far (chat turns; not `generate` calls). */
  readonly messages: readonly ChatMessage[];

  load(onProgress?: LoadProgress): Promise<void>;

  /**
   * One stateless request: a string is completed as raw text, messages go through the model's chat
   * template. Does not touch the conversation.
   */
  generate(input: string | readonly ChatMessage[], options?: GenerateOptions): Promise<Generation>;

  /** The next user message of the conversation; the reply (even a stopped one) is kept in it. */
  chat(message: string, options?: GenerateOptions): Promise<Generation>;

  /**
   * Takes the last turn back out of the conversation (the user's message and the reply to it) and
   * returns that message, to be sent again (the app's Retry); null when there is no turn.
   */
  undoLastTurn(): Promise<string | null>;

  /** Forgets the conversation (a new chat). */
  reset(): Promise<void>;

  /** Stops the request in flight, if any. */
  cancel(): void;

  close(): Promise<void>;
}
