// Every error the SDK throws is an LlmError; its subclasses say what went wrong and carry the
// figures a screen needs to explain it. Catch them with `instanceof`.
import type { MemoryDecision } from './memoryGate';

export type LlmErrorCode =
  | 'model-integrity'
  | 'insufficient-memory'
  | 'context-full'
  | 'download'
  | 'unsupported-browser'
  | 'engine';

/** The base of every error this SDK throws. */
export class LlmError extends Error {
  readonly code: LlmErrorCode;

  constructor(code: LlmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  // Spelled out: a production build renames classes, so `constructor.name` would be a mangled one.
  override readonly name: string = 'LlmError';
}

/**
 * The model file is not the one sdkgen converted and verified: wrong size or wrong SHA-256.
 * The SDK has already deleted it, so a retry downloads it afresh; it is never loaded.
 */
export class ModelIntegrityError extends LlmError {
  override readonly name: string = 'ModelIntegrityError';

  constructor(
    readonly fileName: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
    readonly expectedSha256: string,
    readonly actualSha256: string | null,
  ) {
    super(
      'model-integrity',
      actualBytes !== expectedBytes
        ? `${fileName} has ${actualBytes} bytes, not the expected ${expectedBytes}; it was deleted.`
        : `${fileName} has the SHA-256 ${actualSha256}, not the expected ${expectedSha256}; it was deleted.`,
    );
  }
}

/**
 * The browser cannot hold the model right now. `decision` says what was needed, what the browser
 * reported and how that was measured. `OnDeviceLlm.prepare({ allowInsufficientMemory: true })`
 * loads anyway (the app's "Load anyway").
 */
export class InsufficientMemoryError extends LlmError {
  override readonly name: string = 'InsufficientMemoryError';

  constructor(readonly decision: MemoryDecision) {
    super('insufficient-memory', decision.message);
  }
}

/** The conversation no longer fits the model's context; call `engine.reset()` (a new chat). */
export class ContextFullError extends LlmError {
  override readonly name: string = 'ContextFullError';

  constructor(
    readonly usedTokens: number,
    readonly contextTokens: number,
    options?: { cause?: unknown },
  ) {
    super(
      'context-full',
      usedTokens > 0
        ? `The conversation is full: ${usedTokens} of ${contextTokens} tokens are used. Start a new chat.`
        : `The conversation is full (${contextTokens} tokens of context). Start a new chat.`,
      options,
    );
  }
}

/** The model could not be fetched or stored (network, HTTP status, storage quota, cancelled). */
export class DownloadError extends LlmError {
  override readonly name: string = 'DownloadError';

  constructor(
    message: string,
    readonly url: string,
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super('download', message, options);
  }
}

/** The runtime failed: loading the model, or running it. */
export class EngineError extends LlmError {
  override readonly name: string = 'EngineError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('engine', message, options);
  }
}

/**
 * This browser lacks a WebAssembly feature the engine needs; the message names it and the browsers
 * that have it. Checked before anything is downloaded.
 */
export class UnsupportedBrowserError extends LlmError {
  override readonly name: string = 'UnsupportedBrowserError';

  constructor(message: string) {
    super('unsupported-browser', message);
  }
}
