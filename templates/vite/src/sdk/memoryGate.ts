// The memory gate: before downloading the model, and again before loading it, the plan's figures
// (ModelInfo.requiredBytes) are checked against what this browser says about memory. The decision
// is plain TypeScript over a MemorySnapshot, so it can be tested without a browser.
import { ModelInfo } from './modelInfo';

const GiB = 1024 ** 3;

/**
 * Chromium rounds navigator.deviceMemory down to a power of two and caps it: 8 means
 * "8 GiB or more". A reading at the cap is a lower bound.
 */
export const DEVICE_MEMORY_CAP_GIB = 8;

/** What the browser reports about memory right now. Every field is optional: browsers differ. */
export interface MemorySnapshot {
  /** navigator.deviceMemory (GiB, bucketed; Chromium only). */
  deviceMemoryGiB?: number;
  /** performance.memory (Chromium only): what this page's JavaScript already uses, and its ceiling. */
  usedJsHeapBytes?: number;
  jsHeapLimitBytes?: number;
  /** The most one WebAssembly memory can grow to (4 GiB in today's browsers). */
  wasmHeapLimitBytes: number;
}

/** How the gate decided. `proceeds` says whether loading goes on without asking the user. */
export type MemoryDecision =
  | {
      kind: 'fits';
      proceeds: true;
      requiredBytes: number;
      usableBytes: number;
      message: string;
    }
  | {
      /** The browser does not say how much memory the device has (Firefox, Safari): load and see. */
      kind: 'unmeasured';
      proceeds: true;
      requiredBytes: number;
      usableBytes: number | null;
      message: string;
    }
  | {
      /** More than the device can give this tab, less the safety margin. */
      kind: 'too-large';
      proceeds: false;
      requiredBytes: number;
      usableBytes: number;
      shortfallBytes: number;
      message: string;
    }
  | {
      /** More than a WebAssembly heap can ever hold, whatever the device. */
      kind: 'exceeds-wasm-heap';
      proceeds: false;
      requiredBytes: number;
      heapLimitBytes: number;
      message: string;
    };

const mib = (bytes: number) => Math.round(bytes / 1024 ** 2);

/** Reads what this browser exposes about memory. */
export function readMemorySnapshot(): MemorySnapshot {
  const nav = navigator as Navigator & { deviceMemory?: number };
  const perf = performance as Performance & {
    memory?: { usedJSHeapSize: number; jsHeapSizeLimit: number };
  };
  return {
    deviceMemoryGiB: typeof nav.deviceMemory === 'number' ? nav.deviceMemory : undefined,
    usedJsHeapBytes: perf.memory?.usedJSHeapSize,
    jsHeapLimitBytes: perf.memory?.jsHeapSizeLimit,
    wasmHeapLimitBytes: ModelInfo.browser.heapLimitBytes,
  };
}

/** The share of a device's RAM one tab may use, as the plan's profile gives it. */
export const TAB_SHARE = ModelInfo.browser.tabMemoryBytes / (ModelInfo.browser.deviceMemoryGiB * GiB);

/**
 * The decision. The model's planned footprint (weights, KV cache, working memory and the
 * runtime's own, from sdkgen's plan) must fit in a WebAssembly heap, and in the profile's share of
 * the RAM this device reports, less what the page's JavaScript already holds.
 */
export function decideMemory(
  snapshot: MemorySnapshot,
  requiredBytes: number = ModelInfo.requiredBytes,
  tabShare: number = TAB_SHARE,
  heapBytes: number = ModelInfo.heapBytes,
): MemoryDecision {
  // Only the weights, KV cache and working buffers live in the WebAssembly heap.
  if (heapBytes > snapshot.wasmHeapLimitBytes) {
    return {
      kind: 'exceeds-wasm-heap',
      proceeds: false,
      requiredBytes: heapBytes,
      heapLimitBytes: snapshot.wasmHeapLimitBytes,
      message:
        `The model needs ${mib(heapBytes)} MiB of WebAssembly memory, more than a browser can give one page ` +
        `(${mib(snapshot.wasmHeapLimitBytes)} MiB). Use a smaller quantization or context.`,
    };
  }
  if (snapshot.deviceMemoryGiB === undefined) {
    return {
      kind: 'unmeasured',
      proceeds: true,
      requiredBytes,
      usableBytes: null,
      message: `This browser does not report the device's memory; the model needs ${mib(requiredBytes)} MiB.`,
    };
  }
  const used = snapshot.usedJsHeapBytes ?? 0;
  const usable = Math.max(0, Math.min(snapshot.deviceMemoryGiB * GiB * tabShare, snapshot.wasmHeapLimitBytes) - used);
  if (requiredBytes <= usable) {
    return {
      kind: 'fits',
      proceeds: true,
      requiredBytes,
      usableBytes: usable,
      message: `The model needs ${mib(requiredBytes)} MiB of the ${mib(usable)} MiB this tab may use.`,
    };
  }
  if (snapshot.deviceMemoryGiB >= DEVICE_MEMORY_CAP_GIB) {
    // "8 GiB or more": the device may well have what the plan's profile has.
    return {
      kind: 'unmeasured',
      proceeds: true,
      requiredBytes,
      usableBytes: usable,
      message:
        `The browser reports at least ${snapshot.deviceMemoryGiB} GiB of memory; the model needs ` +
        `${mib(requiredBytes)} MiB, more than ${mib(usable)} MiB, the least this tab may use.`,
    };
  }
  return {
    kind: 'too-large',
    proceeds: false,
    requiredBytes,
    usableBytes: usable,
    shortfallBytes: requiredBytes - usable,
    message:
      `The model needs ${mib(requiredBytes)} MiB but this device (${snapshot.deviceMemoryGiB} GiB) can give ` +
      `this tab about ${mib(usable)} MiB (${mib(requiredBytes - usable)} MiB short). Close other tabs and retry.`,
  };
}
