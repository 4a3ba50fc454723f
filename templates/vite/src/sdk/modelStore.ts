// Puts the verified model file in the browser: fetched once with progress, checked (exact size
// and SHA-256), kept in the Origin Private File System (or the Cache API where there is none),
// and handed to the runtime as a disk-backed Blob. A file that fails the check is deleted and
// never loaded.
import { DownloadError, ModelIntegrityError } from './errors';
import { ModelInfo } from './modelInfo';

/** Where the verified model is kept between visits. `none`: in memory only, fetched every visit. */
export type StorageKind = 'opfs' | 'cache' | 'none';

export interface FetchProgress {
  phase: 'download' | 'verify';
  loadedBytes: number;
  totalBytes: number;
}

export interface ModelFile {
  blob: Blob;
  /** Where the bytes came from this time. */
  source: 'network' | StorageKind;
  storage: StorageKind;
  sha256: string;
}

export interface ModelSpec {
  url: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * crypto.subtle.digest needs the whole file in one buffer and fails near 2 GiB; above this size
 * the SHA-256 is computed while the bytes stream (hash-wasm, constant memory).
 */
export const STREAMING_HASH_FROM_BYTES = 1024 ** 3;

const FOLDER = 'sdkgen-models';

const hex = (buffer: ArrayBuffer) =>
  Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');

interface StreamingHash {
  update(chunk: Uint8Array): void;
  digest(): string;
}

async function streamingSha256(): Promise<StreamingHash> {
  const { createSHA256 } = await import('hash-wasm'); // its own chunk, loaded only for big models
  const hasher = await createSHA256();
  hasher.init();
  return { update: (chunk) => void hasher.update(chunk), digest: () => hasher.digest('hex') };
}

/** SHA-256 of a Blob, in hex: one digest call for small files, streamed for big ones. */
export async function sha256Hex(blob: Blob, onProgress?: (hashedBytes: number) => void): Promise<string> {
  if (blob.size < STREAMING_HASH_FROM_BYTES) {
    const digest = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
    onProgress?.(blob.size);
    return digest;
  }
  const hasher = await streamingSha256();
  const reader = blob.stream().getReader();
  let hashed = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
    hashed += value.byteLength;
    onProgress?.(hashed);
  }
  return hasher.digest();
}

function abortError(signal: AbortSignal | undefined, url: string): DownloadError {
  return new DownloadError('The download was cancelled.', url, null, { cause: signal?.reason });
}

export class ModelStore {
  readonly spec: ModelSpec;
  private storagePromise: Promise<StorageKind> | null = null;

  constructor(
    spec: Partial<ModelSpec> = {},
    private readonly preferredStorage: StorageKind | 'auto' = 'auto',
  ) {
    this.spec = {
      url: ModelInfo.url,
      fileName: ModelInfo.fileName,
      sizeBytes: ModelInfo.sizeBytes,
      sha256: ModelInfo.sha256,
      ...spec,
    };
  }

  /** The absolute URL the model is fetched from (a bundled model's is relative to the page). */
  get url(): string {
    return new URL(this.spec.url, document.baseURI).href;
  }

  /** The storage this browser offers: OPFS where it can write files, else the Cache API. */
  storage(): Promise<StorageKind> {
    this.storagePromise ??= this.detectStorage();
    return this.storagePromise;
  }

  private async detectStorage(): Promise<StorageKind> {
    const wanted = this.preferredStorage;
    if (wanted === 'none') return 'none';
    if (wanted !== 'cache' && typeof navigator.storage?.getDirectory === 'function') {
      try {
        const folder = await this.opfsFolder();
        const probe = await folder.getFileHandle('.probe', { create: true });
        const writable = typeof probe.createWritable === 'function';
        await folder.removeEntry('.probe');
        if (writable) return 'opfs';
      } catch {
        // private browsing, or OPFS disabled: try the Cache API
      }
    }
    if (typeof caches !== 'undefined') {
      try {
        await caches.open(FOLDER);
        return 'cache';
      } catch {
        // not a secure context
      }
    }
    return 'none';
  }

  private async opfsFolder(): Promise<FileSystemDirectoryHandle> {
    const root = await navigator.storage.getDirectory();
    return root.getDirectoryHandle(FOLDER, { create: true });
  }

  private get cacheKey(): string {
    return new URL(`/${FOLDER}/${encodeURIComponent(this.spec.fileName)}`, location.origin).href;
  }

  private get markerName(): string {
    return `${this.spec.fileName}.verified.json`;
  }

  /** The stored copy, not yet checked, or null. */
  async stored(): Promise<Blob | null> {
    const storage = await this.storage();
    if (storage === 'opfs') {
      try {
        return await (await (await this.opfsFolder()).getFileHandle(this.spec.fileName)).getFile();
      } catch {
        return null;
      }
    }
    if (storage === 'cache') {
      const response = await (await caches.open(FOLDER)).match(this.cacheKey);
      return response ? await response.blob() : null;
    }
    return null;
  }

  /** Deletes the stored copy (a later fetch downloads it again). */
  async delete(): Promise<void> {
    const storage = await this.storage();
    if (storage === 'opfs') {
      const folder = await this.opfsFolder();
      await folder.removeEntry(this.markerName).catch(() => undefined);
      await folder.removeEntry(this.spec.fileName).catch(() => undefined);
    } else if (storage === 'cache') {
      await (await caches.open(FOLDER)).delete(this.cacheKey);
    }
  }

  /**
   * The verified model: the stored copy when it passes the check, else downloaded, checked and
   * stored. Throws ModelIntegrityError (after deleting the bad bytes) or DownloadError.
   */
  async fetch(onProgress?: (progress: FetchProgress) => void, signal?: AbortSignal): Promise<ModelFile> {
    const storage = await this.storage();
    const stored = await this.stored();
    if (stored) {
      const sha256 = await this.checkStored(stored, storage, onProgress);
      if (sha256) return { blob: stored, source: storage, storage, sha256 };
    }
    return this.download(storage, onProgress, signal);
  }

  /** The SHA-256 of a stored copy that passes the check; deletes one that does not. */
  private async checkStored(
    stored: Blob,
    storage: StorageKind,
    onProgress?: (progress: FetchProgress) => void,
  ): Promise<string | null> {
    const { sizeBytes, sha256 } = this.spec;
    if (stored.size !== sizeBytes) {
      await this.delete();
      return null;
    }
    // An OPFS file verified earlier and not modified since keeps its verdict (no re-hashing of a
    // multi-GB file on every visit); any change of the file changes its lastModified.
    if (storage === 'opfs' && stored instanceof File && (await this.readMarker()) === markerText(stored, sha256)) {
      return sha256;
    }
    const actual = await sha256Hex(stored, (hashed) => onProgress?.({ phase: 'verify', loadedBytes: hashed, totalBytes: sizeBytes }));
    if (actual !== sha256) {
      await this.delete();
      return null;
    }
    if (storage === 'opfs' && stored instanceof File) await this.writeMarker(markerText(stored, sha256));
    return actual;
  }

  private async readMarker(): Promise<string | null> {
    try {
      return await (await (await (await this.opfsFolder()).getFileHandle(this.markerName)).getFile()).text();
    } catch {
      return null;
    }
  }

  private async writeMarker(text: string): Promise<void> {
    const writable = await (await (await this.opfsFolder()).getFileHandle(this.markerName, { create: true })).createWritable();
    await writable.write(text);
    await writable.close();
  }

  private async download(
    storage: StorageKind,
    onProgress?: (progress: FetchProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelFile> {
    const { sizeBytes, sha256, fileName } = this.spec;
    const url = this.url;
    if (signal?.aborted) throw abortError(signal, url);
    let response: Response;
    try {
      response = await fetch(url, { signal, cache: 'no-store' });
    } catch (error) {
      if (signal?.aborted) throw abortError(signal, url);
      throw new DownloadError(`Could not fetch the model from ${url}: ${String(error)}`, url, null, { cause: error });
    }
    if (!response.ok || !response.body) {
      throw new DownloadError(`Fetching the model from ${url} failed: HTTP ${response.status}.`, url, response.status);
    }
    if (storage !== 'none') await this.makeRoom(storage, url);

    // Count (and, for big files, hash) the bytes as they stream past.
    const hasher = sizeBytes >= STREAMING_HASH_FROM_BYTES ? await streamingSha256() : null;
    let loaded = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          loaded += chunk.byteLength;
          if (loaded > sizeBytes) {
            controller.error(new Error(`more than the expected ${sizeBytes} bytes`));
            return;
          }
          hasher?.update(chunk);
          onProgress?.({ phase: 'download', loadedBytes: loaded, totalBytes: sizeBytes });
          controller.enqueue(chunk);
        },
      }),
    );

    let blob: Blob;
    try {
      if (storage === 'opfs') {
        await this.delete();
        const handle = await (await this.opfsFolder()).getFileHandle(fileName, { create: true });
        await counted.pipeTo(await handle.createWritable());
        blob = await handle.getFile(); // disk-backed: the runtime reads it in slices
      } else {
        // The browser builds this Blob from the stream. (A Blob built in JavaScript from a large
        // ArrayBuffer, `new Blob([buffer])`, fails the runtime's reads with NotReadableError.)
        blob = await new Response(counted).blob();
      }
    } catch (error) {
      await this.delete();
      if (signal?.aborted) throw abortError(signal, url);
      if (loaded > sizeBytes) throw new ModelIntegrityError(fileName, sizeBytes, loaded, sha256, null);
      throw new DownloadError(`Downloading the model from ${url} failed: ${String(error)}`, url, null, { cause: error });
    }

    if (blob.size !== sizeBytes) {
      await this.delete();
      throw new ModelIntegrityError(fileName, sizeBytes, blob.size, sha256, null);
    }
    onProgress?.({ phase: 'verify', loadedBytes: 0, totalBytes: sizeBytes });
    const actual = hasher ? hasher.digest() : await sha256Hex(blob);
    onProgress?.({ phase: 'verify', loadedBytes: sizeBytes, totalBytes: sizeBytes });
    if (actual !== sha256) {
      await this.delete();
      throw new ModelIntegrityError(fileName, sizeBytes, blob.size, sha256, actual);
    }

    if (storage === 'opfs' && blob instanceof File) {
      await this.writeMarker(markerText(blob, sha256));
    } else if (storage === 'cache') {
      const cache = await caches.open(FOLDER);
      await cache.put(this.cacheKey, new Response(blob, { headers: { 'Content-Length': String(blob.size) } }));
      const kept = await cache.match(this.cacheKey);
      if (kept) blob = await kept.blob(); // the stored, disk-backed copy
    }
    return { blob, source: 'network', storage, sha256: actual };
  }

  /** Asks for persistent storage and checks the quota before a download. */
  private async makeRoom(storage: StorageKind, url: string): Promise<void> {
    await navigator.storage?.persist?.().catch(() => false);
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    if (estimate?.quota === undefined) return;
    const stored = await this.stored();
    const free = estimate.quota - (estimate.usage ?? 0) + (stored?.size ?? 0);
    if (free < this.spec.sizeBytes) {
      throw new DownloadError(
        `Not enough browser storage for the model (${storage}): ${this.spec.sizeBytes} bytes needed, ${free} free.`,
        url,
      );
    }
  }
}

function markerText(file: File, sha256: string): string {
  return JSON.stringify({ sha256, size: file.size, lastModified: file.lastModified });
}
