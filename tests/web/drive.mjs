#!/usr/bin/env node
// Drives a generated `sdkgen web` app in headless Chromium and prints one JSON object.
//
//   node tests/web/drive.mjs PROJECT_DIR URL 'ACTIONS_JSON'
//
// PROJECT_DIR: the generated project, after `npm ci` (playwright-core is taken from its node_modules).
// URL: where its built site is served (with COOP/COEP headers); `autoload=0` is added unless the URL
// names `autoload`, so the page leaves the model alone and the actions drive the SDK
// (window.sdkgen) themselves.
// ACTIONS_JSON: a JSON list; each action is an object with "do" and its fields:
//   {"do": "env"}                                   crossOriginIsolated, memory readings, the gate's decision
//   {"do": "prepare", "storage": "opfs"|"cache"|"none"|"auto", "settings": {...},
//    "allowInsufficientMemory": false, "modelUrl": "...", "memory": {snapshot}}   OnDeviceLlm.prepare()
//   {"do": "generate", "prompt": "..." | "messages": [...], "maxTokens": 16, "banned": [ids],
//    "stream": true, "greedy": true}                 ids, text, finishReason, tokensPerSecond, streamed pieces
//   {"do": "chat", "message": "...", ...same options}  a conversation turn
//   {"do": "cancel", "prompt"|"messages"|"message", "afterTokens": 5, "maxTokens": 64, "banned": [...]}
//                                                   stops the stream after k tokens
//   {"do": "reset"} / {"do": "close"}
//   {"do": "stored"}                                 what the model store holds (size, storage)
//   {"do": "tamper", "byte": 100, "file": 0}          flips one byte of a stored model file (OPFS / Cache)
//   {"do": "ui-load", "allowInsufficientMemory": false}   the app's own prepare(): stage, progress, buttons
//   {"do": "ui-send", "message": "...", "stopAfterChars": 0, "banned": [...], "maxTokens": 32, "greedy": true}
//                                                   types, clicks Send (and Stop), waits for the reply
//   {"do": "screenshot", "path": "/abs/file.png"}
//   {"do": "evaluate", "expression": "..."}          any page expression (awaited), for one-off checks
// The output: {"ok": bool, "url", "results": [{"do", "ok", "ms", ...} | {"do", "ok": false, "error"}],
//              "console": [errors and warnings the page logged], "pageErrors": [...]}.
// An action that fails records its error and the driver goes on with the next one.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// DRIVE_WEBGPU=1: a WebGPU adapter for engines that need one (SwiftShader's, in software, on a
// machine without a GPU; ../shared/WEB.md); otherwise no GPU at all, as llama.cpp's wasm needs none.
const WEBGPU = process.env.DRIVE_WEBGPU === '1';
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  ...(WEBGPU ? ['--enable-unsafe-webgpu'] : ['--disable-gpu']),
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ACTION_TIMEOUT_MS = Number(process.env.DRIVE_ACTION_TIMEOUT_MS || 300_000);

function usage(message) {
  process.stderr.write(`${message}\nusage: node drive.mjs PROJECT_DIR URL 'ACTIONS_JSON'\n`);
  process.exit(2);
}

const [projectArg, urlArg, actionsArg] = process.argv.slice(2);
if (!projectArg || !urlArg || !actionsArg) usage('missing arguments');
let actions;
try {
  actions = JSON.parse(actionsArg);
} catch (error) {
  usage(`ACTIONS_JSON is not JSON: ${error.message}`);
}
if (!Array.isArray(actions)) usage('ACTIONS_JSON must be a list');

const projectDir = resolve(projectArg);
let chromium;
try {
  ({ chromium } = createRequire(join(projectDir, 'package.json'))('playwright-core'));
} catch (error) {
  usage(`playwright-core is not installed in ${projectDir} (run npm ci there): ${error.message}`);
}

const url = new URL(urlArg);
if (!url.searchParams.has('autoload')) url.searchParams.set('autoload', '0');

// In the page: run one SDK action. Everything crossing the boundary is plain JSON.
async function pageAction(action) {
  const sdk = window.sdkgen;
  const state = (window.__drive ??= { engine: null, llm: null });
  const errorJson = (error) => ({
    name: error?.name ?? 'Error',
    code: error?.code ?? null,
    message: String(error?.message ?? error),
  });
  const requireEngine = () => {
    if (!state.engine) throw new Error('no engine: run a "prepare" action first');
    return state.engine;
  };
  const options = (a, extra = {}) => ({
    maxTokens: a.maxTokens ?? 16,
    greedy: a.greedy ?? true,
    bannedTokens: a.banned ?? [],
    ...(a.temperature !== undefined ? { temperature: a.temperature, greedy: false } : {}),
    ...(a.seed !== undefined ? { seed: a.seed } : {}),
    ...extra,
  });
  const run = async (engine, a, opts) => {
    if (a.message !== undefined) return engine.chat(a.message, opts);
    return engine.generate(a.messages ?? a.prompt, opts);
  };
  const summary = (g, pieces) => ({
    ids: g.ids,
    tokenCount: g.tokenCount,
    text: g.text,
    finishReason: g.finishReason,
    tokensPerSecond: g.tokensPerSecond,
    promptTokens: g.promptTokens,
    cachedTokens: g.cachedTokens,
    firstTokenMs: g.firstTokenMs,
    ...(pieces ? { streamedIds: pieces.map((p) => p.id), streamedText: pieces.map((p) => p.text).join(''), pieces: pieces.length } : {}),
  });

  switch (action.do) {
    case 'env': {
      const llm = state.llm ?? new sdk.OnDeviceLlm();
      return {
        crossOriginIsolated: globalThis.crossOriginIsolated,
        isSecureContext: globalThis.isSecureContext,
        userAgent: navigator.userAgent,
        hardwareConcurrency: navigator.hardwareConcurrency,
        memory: sdk.readMemorySnapshot(),
        decision: llm.checkMemory(),
        modelInfo: { fileName: sdk.ModelInfo.fileName, sizeBytes: sdk.ModelInfo.sizeBytes, url: sdk.ModelInfo.url, requiredBytes: sdk.ModelInfo.requiredBytes },
      };
    }
    case 'prepare': {
      await state.engine?.close();
      state.engine = null;
      const memory = action.memory;
      state.llm = new sdk.OnDeviceLlm({
        storage: action.storage ?? 'auto',
        ...(action.modelUrl ? { modelUrl: action.modelUrl } : {}),
        ...(memory ? { memorySnapshot: () => ({ wasmHeapLimitBytes: sdk.ModelInfo.browser.heapLimitBytes, ...memory }) } : {}),
      });
      const stages = [];
      const phases = {};
      let lastProgress = null;
      try {
        state.engine = await state.llm.prepare({
          settings: action.settings ?? {},
          allowInsufficientMemory: action.allowInsufficientMemory ?? false,
          onStage: (stage) => stages.push(stage),
          onProgress: (p) => {
            phases[p.phase] = (phases[p.phase] ?? 0) + 1;
            lastProgress = p;
          },
        });
      } catch (error) {
        return { prepared: false, stages, phases, error: errorJson(error), decision: error?.decision ?? null };
      }
      const engine = state.engine;
      const file = state.llm.lastModelFile;
      return {
        prepared: true,
        stages,
        phases,
        lastProgress,
        source: file?.source,
        storage: file?.storage,
        sha256: file?.sha256,
        threads: engine.threads,
        contextTokens: engine.contextTokens,
        chatTemplate: engine.chatTemplate,
      };
    }
    case 'generate':
    case 'chat': {
      const engine = requireEngine();
      const stream = action.stream ?? true;
      const pieces = stream ? [] : null;
      const g = await run(engine, action, options(action, stream ? { onToken: (p) => pieces.push(p) } : {}));
      return summary(g, pieces);
    }
    case 'cancel': {
      const engine = requireEngine();
      const controller = new AbortController();
      const pieces = [];
      const after = action.afterTokens ?? 5;
      const started = performance.now();
      let abortedAt = null;
      const g = await run(
        engine,
        action,
        options(action, {
          maxTokens: action.maxTokens ?? 64,
          signal: controller.signal,
          onToken: (p) => {
            pieces.push(p);
            if (pieces.length === after) {
              abortedAt = performance.now();
              controller.abort();
            }
          },
        }),
      );
      return { ...summary(g, pieces), stopMs: abortedAt === null ? null : performance.now() - abortedAt, totalMs: performance.now() - started };
    }
    case 'reset':
      await requireEngine().reset();
      return { messages: requireEngine().messages.length };
    case 'close':
      await state.engine?.close();
      state.engine = null;
      return { closed: true };
    case 'stored': {
      const llm = state.llm ?? new sdk.OnDeviceLlm();
      const blob = await llm.store.stored();
      return { storage: await llm.store.storage(), bytes: blob ? blob.size : null };
    }
    case 'tamper': {
      const llm = state.llm ?? new sdk.OnDeviceLlm();
      const storage = await llm.store.storage();
      const file = llm.store.spec.files[action.file ?? 0];
      const blob = (await llm.store.storedFiles())[action.file ?? 0];
      if (!blob) throw new Error('nothing stored to tamper with');
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const at = action.byte ?? 100;
      bytes[at] ^= 0xff;
      if (storage === 'opfs') {
        const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle('sdkgen-models');
        const writable = await (await folder.getFileHandle(file.fileName)).createWritable();
        await writable.write(bytes);
        await writable.close();
      } else if (storage === 'cache') {
        const cache = await caches.open('sdkgen-models');
        const key = (await cache.keys()).find((request) => request.url.endsWith(`/${encodeURIComponent(file.fileName)}`));
        await cache.put(key, new Response(bytes));
      } else {
        throw new Error('storage "none" keeps nothing to tamper with');
      }
      return { storage, flipped: at };
    }
    case 'evaluate':
      // eslint-disable-next-line no-eval
      return { value: await (0, eval)(action.expression) };
    default:
      throw new Error(`unknown action ${JSON.stringify(action.do)}`);
  }
}

async function uiLoad(page, action) {
  const before = await page.evaluate(() => document.body.dataset.state ?? null);
  const stages = [];
  await page.exposeFunction('__driveStage', (s) => stages.push(s)).catch(() => undefined);
  await page.evaluate(() => {
    // Every value data-stage takes: each record's old value, then the current one.
    let seen = document.body.dataset.stage;
    const observer = new MutationObserver((records) => {
      for (const record of records.slice(1)) window.__driveStage?.(record.oldValue);
      if (document.body.dataset.stage !== seen || records.length > 1) window.__driveStage?.(document.body.dataset.stage);
      seen = document.body.dataset.stage;
    });
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-stage'], attributeOldValue: true });
  });
  await page.evaluate((allow) => void window.sdkgen.prepare(allow), action.allowInsufficientMemory ?? false);
  await page.waitForFunction(() => ['ready', 'memory-refused', 'load-failed'].includes(document.body.dataset.state), null, {
    timeout: ACTION_TIMEOUT_MS,
  });
  return page.evaluate(
    ({ before, stages }) => ({
      before,
      state: document.body.dataset.state,
      stages,
      stageText: document.getElementById('stage').textContent,
      progress: { value: document.getElementById('progress').value, max: document.getElementById('progress').max },
      progressText: document.getElementById('progress-bytes').textContent,
      sendEnabled: !document.getElementById('send').disabled,
      memoryWarningShown: !document.getElementById('memory-warning').hidden,
    }),
    { before, stages },
  );
}

async function uiSend(page, action) {
  // Options for the chat screen's requests (e.g. banned token ids, a reply length).
  await page.evaluate(
    (a) => (window.sdkgen.chatOptions = { ...(a.banned ? { bannedTokens: a.banned } : {}), ...(a.maxTokens ? { maxTokens: a.maxTokens } : {}), ...(a.greedy ? { greedy: true } : {}) }),
    action,
  );
  const replies = await page.evaluate(() => Number(document.body.dataset.replies ?? '0'));
  await page.fill('#prompt', action.message ?? 'Hello');
  await page.click('#send');
  const stopAfter = action.stopAfterChars ?? 0;
  let stopped = false;
  if (stopAfter > 0) {
    await page.waitForFunction(
      (n) => (document.querySelector('#messages li:last-child .text')?.textContent?.length ?? 0) >= n || document.body.dataset.state !== 'generating',
      stopAfter,
      { timeout: ACTION_TIMEOUT_MS },
    );
    if (await page.isEnabled('#stop')) {
      await page.click('#stop');
      stopped = true;
    }
  }
  await page.waitForFunction((n) => Number(document.body.dataset.replies ?? '0') > n, replies, { timeout: ACTION_TIMEOUT_MS });
  return page.evaluate((stopped) => {
    const items = [...document.querySelectorAll('#messages li')];
    const last = items[items.length - 1];
    return {
      stopClicked: stopped,
      reply: last?.querySelector('.text')?.textContent ?? null,
      replyRole: last?.className ?? null,
      finish: document.body.dataset.lastFinish ?? null,
      stats: document.getElementById('stats').textContent,
      messages: items.length,
      state: document.body.dataset.state,
    };
  }, stopped);
}

const output = { ok: true, url: url.href, chromium: CHROMIUM, results: [], console: [], pageErrors: [] };
const userDataDir = mkdtempSync(join(tmpdir(), 'sdkgen-web-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: false, // '--headless=new' is in the arguments: Playwright must not add its own mode
    args: CHROMIUM_ARGS,
    viewport: { width: 900, height: 700 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') output.console.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => output.pageErrors.push(String(error)));
  await page.goto(url.href);
  await page.waitForFunction(() => window.sdkgen !== undefined, null, { timeout: 60_000 });

  for (const action of actions) {
    const started = Date.now();
    let result;
    try {
      let value;
      if (action.do === 'screenshot') {
        await page.screenshot({ path: resolve(action.path), fullPage: true });
        value = { path: resolve(action.path) };
      } else if (action.do === 'ui-load') {
        value = await uiLoad(page, action);
      } else if (action.do === 'ui-send') {
        value = await uiSend(page, action);
      } else {
        value = await page.evaluate(pageAction, action);
      }
      result = { do: action.do, ok: true, ms: Date.now() - started, ...value };
    } catch (error) {
      output.ok = false;
      result = { do: action.do, ok: false, ms: Date.now() - started, error: String(error?.message ?? error).split('\n')[0] };
    }
    output.results.push(result);
  }
} catch (error) {
  output.ok = false;
  output.error = String(error?.message ?? error);
} finally {
  await context?.close().catch(() => undefined);
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(output)}\n`);
process.exit(output.ok ? 0 : 1);
