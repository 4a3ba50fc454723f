// The chat screen: prepares the model (stage, progress, the memory gate's "Load anyway"), then
// streams replies. Everything model-related goes through the SDK in ./sdk.
import './style.css';
import * as sdk from './sdk';
import {
  InsufficientMemoryError,
  LlmError,
  ModelInfo,
  OnDeviceLlm,
  PrepareStage,
  type GenerateOptions,
  type LlmEngine,
  type PrepareProgress,
} from './sdk';

type AppState = 'preparing' | 'memory-refused' | 'load-failed' | 'ready' | 'generating';

const element = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
};

const ui = {
  stage: element<HTMLParagraphElement>('stage'),
  progress: element<HTMLProgressElement>('progress'),
  progressBytes: element<HTMLParagraphElement>('progress-bytes'),
  memoryWarning: element<HTMLDivElement>('memory-warning'),
  memoryMessage: element<HTMLParagraphElement>('memory-message'),
  loadAnyway: element<HTMLButtonElement>('load-anyway'),
  loadError: element<HTMLDivElement>('load-error'),
  loadErrorMessage: element<HTMLParagraphElement>('load-error-message'),
  retryLoad: element<HTMLButtonElement>('retry-load'),
  messages: element<HTMLOListElement>('messages'),
  composer: element<HTMLFormElement>('composer'),
  prompt: element<HTMLTextAreaElement>('prompt'),
  send: element<HTMLButtonElement>('send'),
  stop: element<HTMLButtonElement>('stop'),
  retry: element<HTMLButtonElement>('retry'),
  newChat: element<HTMLButtonElement>('new-chat'),
  stats: element<HTMLParagraphElement>('stats'),
};

const STAGE_TEXT: Record<PrepareStage, string> = {
  CHECKING_MEMORY: 'Checking memory…',
  FETCHING_MODEL: 'Getting the model…',
  LOADING: 'Loading the model…',
};

const llm = new OnDeviceLlm();
let engine: LlmEngine | null = null;
let reply: AbortController | null = null;
let lastMessage: string | null = null;
// Did the last message's reply join the conversation? (A failed one did not.)
let lastTurnKept = false;

function setState(state: AppState): void {
  document.body.dataset.state = state;
  const ready = state === 'ready';
  ui.send.disabled = !ready;
  ui.newChat.disabled = !ready;
  ui.retry.disabled = !ready || lastMessage === null;
  ui.stop.disabled = state !== 'generating';
  ui.memoryWarning.hidden = state !== 'memory-refused';
  ui.loadError.hidden = state !== 'load-failed';
}

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

function showProgress(progress: PrepareProgress): void {
  const { phase, loadedBytes, totalBytes } = progress;
  ui.progress.max = Math.max(totalBytes, 1);
  ui.progress.value = loadedBytes;
  const verb = phase === 'download' ? 'Downloaded' : phase === 'verify' ? 'Checked' : 'Loaded';
  ui.progressBytes.textContent = `${verb} ${mib(loadedBytes)} of ${mib(totalBytes)}`;
}

/** Prepares the model; `allowInsufficientMemory` is the user's "Load anyway". */
async function prepare(allowInsufficientMemory = false): Promise<LlmEngine | null> {
  setState('preparing');
  try {
    const prepared = await llm.prepare({
      allowInsufficientMemory,
      onStage: (stage) => {
        ui.stage.textContent = STAGE_TEXT[stage];
        document.body.dataset.stage = stage;
      },
      onProgress: showProgress,
    });
    await engine?.close();
    engine = prepared;
    ui.stage.textContent = `Ready: ${ModelInfo.modelName} (${prepared.threads} thread${prepared.threads === 1 ? '' : 's'})`;
    ui.progress.value = ui.progress.max;
    setState('ready');
    ui.prompt.focus();
    return prepared;
  } catch (error) {
    if (error instanceof InsufficientMemoryError) {
      ui.stage.textContent = 'Not enough memory';
      ui.memoryMessage.textContent = error.message;
      setState('memory-refused');
      // Larger than any WebAssembly heap: loading anyway cannot work, so it is not offered.
      ui.loadAnyway.hidden = error.decision.kind === 'exceeds-wasm-heap';
    } else {
      ui.stage.textContent = 'The model could not be loaded';
      ui.loadErrorMessage.textContent = describe(error);
      setState('load-failed');
    }
    return null;
  }
}

function describe(error: unknown): string {
  if (error instanceof LlmError) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function addMessage(role: 'user' | 'assistant' | 'error', text: string): HTMLElement {
  const item = document.createElement('li');
  item.className = role;
  const label = document.createElement('span');
  label.className = 'role';
  label.textContent = role === 'user' ? 'You' : role === 'assistant' ? 'Model' : 'Error';
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(label, body);
  ui.messages.append(item);
  item.scrollIntoView({ block: 'end' });
  return body;
}

async function send(message: string): Promise<void> {
  if (!engine || !message.trim()) return;
  lastMessage = message;
  lastTurnKept = false;
  addMessage('user', message);
  const body = addMessage('assistant', '');
  reply = new AbortController();
  setState('generating');
  // Screen readers hear the finished reply once, not every streamed piece.
  ui.messages.setAttribute('aria-busy', 'true');
  try {
    const result = await engine.chat(message, {
      ...app.chatOptions,
      signal: reply.signal,
      onToken: (piece) => {
        body.textContent += piece.text;
        body.scrollIntoView({ block: 'end' });
      },
    });
    body.textContent = result.text;
    const stopped = result.finishReason === 'cancelled' ? ' (stopped)' : '';
    ui.stats.textContent = `${result.tokenCount} tokens, ${result.tokensPerSecond.toFixed(1)} tokens/s${stopped}`;
    document.body.dataset.lastFinish = result.finishReason;
    lastTurnKept = true;
  } catch (error) {
    body.parentElement?.classList.replace('assistant', 'error');
    body.textContent = describe(error);
    document.body.dataset.lastFinish = 'error';
  } finally {
    reply = null;
    ui.messages.setAttribute('aria-busy', 'false');
    setState('ready');
    // Stop, which had the focus, is disabled now: give the keyboard back to the message box.
    if (document.activeElement === ui.stop || document.activeElement === document.body) ui.prompt.focus();
    document.body.dataset.replies = String(Number(document.body.dataset.replies ?? '0') + 1);
  }
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const message = ui.prompt.value;
  ui.prompt.value = '';
  void send(message);
});
ui.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !ui.send.disabled) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.stop.addEventListener('click', () => reply?.abort());
// Escape stops a reply, as the Stop button does.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && reply) reply.abort();
});
// Retry writes the last reply again in its place: the last turn leaves the conversation (and the
// screen) first, so the model answers the same conversation as before.
ui.retry.addEventListener('click', async () => {
  if (!engine || lastMessage === null) return;
  const message = lastTurnKept ? await engine.undoLastTurn() : lastMessage;
  if (message === null) return;
  ui.messages.lastElementChild?.remove(); // the reply (or its error)
  ui.messages.lastElementChild?.remove(); // the message
  void send(message);
});
ui.newChat.addEventListener('click', async () => {
  await engine?.reset();
  ui.messages.replaceChildren();
  ui.stats.textContent = '';
  lastMessage = null;
  setState('ready');
  ui.prompt.focus();
});
ui.loadAnyway.addEventListener('click', () => void prepare(true));
ui.retryLoad.addEventListener('click', () => void prepare());

// For tests and the console: the SDK, its instance here, and the engine once prepared.
const app = {
  ...sdk,
  llm,
  get engine(): LlmEngine | null {
    return engine;
  },
  prepare,
  send,
  /** Extra options for the chat screen's requests (tests set bannedTokens, maxTokens, greedy). */
  chatOptions: {} as GenerateOptions,
};
declare global {
  interface Window {
    sdkgen: typeof app;
  }
}
window.sdkgen = app;

// ?autoload=0 leaves the model alone until prepare() is called (tests drive the SDK themselves).
if (new URLSearchParams(location.search).get('autoload') !== '0') void prepare();
else setState('preparing');
