// Puts the verified model in the browser: each of its files (the one GGUF, or the shards of a split
// one) fetched once with progress, checked (exact size and SHA-256), kept in the Origin Private
// File System (or the Cache API where there is none), and handed to the runtime as disk-backed
// Blobs. A file that fails the check is deleted and never loaded; the files already verified are
// kept, so an interrupted or refused download resumes with the first file still missing, and in
// OPFS from the first byte still missing (an HTTP Range request, where the server honours it).
import { DownloadError, ModelIntegrityError } from './errors';
import { ModelInfo, type ModelFileInfo } from './modelInfo';

/** Where the verified model is kept between visits. `none`: in memory only, fetched every visit. */
export type StorageKind = 'opfs' | 'cache' | 'none';

export interface FetchProgress {
  phase: 'download' | 'verify';
  /** Bytes of all the model's files together, so one bar covers them all. */
  loadedBytes: number;
  totalBytes: number;
}

/** One file of the model, verified. */
export interface VerifiedFile {
  fileName: string;
  blob: Blob;
  /** Where its bytes came from this time. */
  source: 'network' | StorageKind;
  sha256: string;
}

/** The verified model: every file, in the order the runtime loads them. */
export interface ModelFile {
  /** The first (or only) file: it holds all the model's metadata (a split GGUF's first shard does). */
  blob: Blob;
  /** Every file in load order (one unless the model is split): what the runtime is given. */
  parts: readonly VerifiedFile[];
  /** 'network' when any file was downloaded this time, else where the files were kept. */
  source: 'network' | StorageKind;
  storage: StorageKind;
  /** SHA-256 of the first (or only) file; each file's own is in `parts`. */
  sha256: string;
}

export interface ModelSpec {
  /**
   * Where the model is fetched from. One file: its URL. A split model: each file's URL is this one
   * with its last path segment replaced by the file's name (the files sit side by side).
   */
  url: string;
  /** The files in load order, each with its exact size and SHA-256. */
  files: readonly ModelFileInfo[];
}

/**
 * crypto.subtle.digest needs the whole file in one buffer (fails near 2 GiB, and holds a copy of
 * the model beside the runtime's while it runs); above this size the SHA-256 is computed while the
 * bytes stream (hash-wasm, constant memory).
 */
export const STREAMING_HASH_FROM_BYTES = 64 * 1024 ** 2;

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

/** Every file's absolute URL, in order: see ModelSpec.url. */
export function modelFileUrls(spec: ModelSpec, base: string = document.baseURI): string[] {
  const url = new URL(spec.url, base);
  if (spec.files.length === 1) return [url.href];
  return spec.files.map((file) => new URL(encodeURIComponent(file.fileName), url).href);
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
    this.spec = { url: ModelInfo.url, files: ModelInfo.files, ...spec };
  }

  /** The absolute URL the model is fetched from (a bundled model's is relative to the page). */
  get url(): string {
    return new URL(this.spec.url, document.baseURI).href;
  }

  /** Each file's absolute URL, in load order. */
  get fileUrls(): string[] {
    return modelFileUrls(this.spec);
  }

  /** All files together, in bytes. */
  get totalBytes(): number {
    return this.spec.files.reduce((sum, file) => sum + file.sizeBytes, 0);
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

  private cacheKey(file: ModelFileInfo): string {
    return new URL(`/${FOLDER}/${encodeURIComponent(file.fileName)}`, location.origin).href;
  }

  private markerName(file: ModelFileInfo): string {
    return `${file.fileName}.verified.json`;
  }

  /** Each file's stored copy, not yet checked, in load order (null where there is none). */
  async storedFiles(): Promise<(Blob | null)[]> {
    return Promise.all(this.spec.files.map((file) => this.storedFile(file)));
  }

  /**
   * The stored copy of the whole model, not yet checked: the file itself, or one Blob over every
   * file of a split model in order; null unless every file is stored.
   */
  async stored(): Promise<Blob | null> {
    const blobs = await this.storedFiles();
    if (blobs.some((blob) => blob === null)) return null;
    return blobs.length === 1 ? blobs[0] : new Blob(blobs as Blob[]);
  }

  private async storedFile(file: ModelFileInfo): Promise<Blob | null> {
    const storage = await this.storage();
    if (storage === 'opfs') {
      try {
        return await (await (await this.opfsFolder()).getFileHandle(file.fileName)).getFile();
      } catch {
        return null;
      }
    }
    if (storage === 'cache') {
      const response = await (await caches.open(FOLDER)).match(this.cacheKey(file));
      return response ? await response.blob() : null;
    }
    return null;
  }

  /** Deletes every stored file (a later fetch downloads them again). */
  async delete(): Promise<void> {
    for (const file of this.spec.files) await this.deleteFile(file);
  }

  private async deleteFile(file: ModelFileInfo): Promise<void> {
    const storage = await this.storage();
    if (storage === 'opfs') {
      const folder = await this.opfsFolder();
      await folder.removeEntry(this.markerName(file)).catch(() => undefined);
      await folder.removeEntry(file.fileName).catch(() => undefined);
    } else if (storage === 'cache') {
      await (await caches.open(FOLDER)).delete(this.cacheKey(file));
    }
  }

  /**
   * The verified model: each stored file that passes the check, and the others downloaded,
   * checked and stored, one after another. Throws ModelIntegrityError (after deleting the bad
   * file; the good ones stay) or DownloadError.
   */
  async fetch(onProgress?: (progress: FetchProgress) => void, signal?: AbortSignal): Promise<ModelFile> {
    const storage = await this.storage();
    const files = this.spec.files;
    const urls = this.fileUrls;
    const totalBytes = this.totalBytes;
    const before = (index: number) => files.slice(0, index).reduce((sum, file) => sum + file.sizeBytes, 0);
    const progress = (phase: FetchProgress['phase'], index: number) => (bytes: number) =>
      onProgress?.({ phase, loadedBytes: before(index) + bytes, totalBytes });

    // What an earlier visit (or an interrupted download) left: kept when it passes the check.
    const parts: (VerifiedFile | null)[] = [];
    const kept: number[] = []; // bytes an interrupted download left, per missing file
    for (const [index, file] of files.entries()) {
      const stored = await this.storedFile(file);
      if (stored && stored.size < file.sizeBytes && storage === 'opfs') kept.push(stored.size);
      const sha256 = stored ? await this.checkStored(file, stored, storage, progress('verify', index)) : null;
      parts.push(stored && sha256 ? { fileName: file.fileName, blob: stored, source: storage, sha256 } : null);
    }
    const missing = files.filter((_, index) => parts[index] === null);
    if (missing.length > 0 && storage !== 'none') await this.makeRoom(storage, missing, kept, urls[0]);
    for (const [index, file] of files.entries()) {
      parts[index] ??= await this.download(file, urls[index], storage, progress('download', index), progress('verify', index), signal);
    }

    const verified = parts as VerifiedFile[];
    return {
      blob: verified[0].blob,
      parts: verified,
      source: verified.some((part) => part.source === 'network') ? 'network' : storage,
      storage,
      sha256: verified[0].sha256,
    };
  }

  /** The SHA-256 of a stored file that passes the check; deletes one that does not. */
  private async checkStored(
    file: ModelFileInfo,
    stored: Blob,
    storage: StorageKind,
    onHashed: (hashedBytes: number) => void,
  ): Promise<string | null> {
    const { sizeBytes, sha256 } = file;
    if (storage === 'opfs' && stored.size < sizeBytes) return null; // an interrupted download: resumed
    if (stored.size !== sizeBytes) {
      await this.deleteFile(file);
      return null;
    }
    // An OPFS file verified earlier and not modified since keeps its verdict (no re-hashing of a
    // multi-GB file on every visit); any change of the file changes its lastModified.
    if (storage === 'opfs' && stored instanceof File && (await this.readMarker(file)) === markerText(stored, sha256)) {
      return sha256;
    }
    const actual = await sha256Hex(stored, onHashed);
    if (actual !== sha256) {
      await this.deleteFile(file);
      return null;
    }
    if (storage === 'opfs' && stored instanceof File) await this.writeMarker(file, markerText(stored, sha256));
    return actual;
  }

  private async readMarker(file: ModelFileInfo): Promise<string | null> {
    try {
      return await (await (await (await this.opfsFolder()).getFileHandle(this.markerName(file))).getFile()).text();
    } catch {
      return null;
    }
  }

  private async writeMarker(file: ModelFileInfo, text: string): Promise<void> {
    const handle = await (await this.opfsFolder()).getFileHandle(this.markerName(file), { create: true });
    const writable = await handle.createWritable();
    await writable.write(text);
    await writable.close();
  }

  private async download(
    file: ModelFileInfo,
    url: string,
    storage: StorageKind,
    onDownloaded: (bytes: number) => void,
    onVerified: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<VerifiedFile> {
    const { sizeBytes, sha256, fileName } = file;
    if (signal?.aborted) throw abortError(signal, url);
    // What an interrupted download left in OPFS (never verified: checked with the rest at the end).
    const kept = storage === 'opfs' ? await this.storedFile(file) : null;
    const keptBytes = kept && kept.size < sizeBytes ? kept.size : 0;
    let response: Response;
    try {
      const headers: HeadersInit = keptBytes > 0 ? { Range: `bytes=${keptBytes}-` } : {};
      response = await fetch(url, { signal, cache: 'no-store', headers });
    } catch (error) {
      if (signal?.aborted) throw abortError(signal, url);
      throw new DownloadError(`Could not fetch the model from ${url}: ${String(error)}`, url, null, { cause: error });
    }
    if (keptBytes > 0 && (response.status === 416 || (response.status === 206 && contentRangeStart(response) !== keptBytes))) {
      // The server cannot continue the kept bytes (the file changed, or it miscounts): they go,
      // and the file is fetched whole.
      await response.body?.cancel().catch(() => undefined);
      await this.deleteFile(file);
      return this.download(file, url, storage, onDownloaded, onVerified, signal);
    }
    if (!response.ok || !response.body) {
      throw new DownloadError(`Fetching the model from ${url} failed: HTTP ${response.status}.`, url, response.status);
    }

    // A 206 that starts where the kept bytes end continues them; anything else starts afresh.
    const resumeFrom = response.status === 206 && contentRangeStart(response) === keptBytes ? keptBytes : 0;
    if (response.status === 206 && resumeFrom === 0) {
      throw new DownloadError(`Fetching the model from ${url} returned a range it was not asked for.`, url, 206);
    }

    // Count (and, for big files, hash) the bytes as they stream past.
    let hasher: StreamingHash | null = null;
    try {
      hasher = sizeBytes >= STREAMING_HASH_FROM_BYTES ? await streamingSha256() : null;
    } catch (error) {
      // The hashing code is a chunk of this site, fetched on first use: the network failed.
      throw new DownloadError(`Could not load the hashing code for ${fileName}: ${String(error)}`, url, null, { cause: error });
    }
    if (hasher && kept && resumeFrom > 0) {
      // The streaming hash starts with the bytes already kept.
      const reader = kept.slice(0, resumeFrom).stream().getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) hasher.update(part.value);
    }
    let loaded = resumeFrom;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          loaded += chunk.byteLength;
          if (loaded > sizeBytes) {
            controller.error(new Error(`more than the expected ${sizeBytes} bytes`));
            return;
          }
          hasher?.update(chunk);
          onDownloaded(loaded);
          controller.enqueue(chunk);
        },
      }),
    );

    let blob: Blob;
    try {
      if (storage === 'opfs') {
        if (resumeFrom === 0) await this.deleteFile(file);
        const handle = await (await this.opfsFolder()).getFileHandle(fileName, { create: true });
        const writable = await handle.createWritable({ keepExistingData: resumeFrom > 0 });
        if (resumeFrom > 0) await writable.seek(resumeFrom);
        try {
          // The writable is not aborted when the download fails: closing it below writes what
          // arrived into the file (an OPFS writable reaches its file only when closed), so a
          // dropped connection or Stop keeps it for the next attempt. (A tab closed mid-download
          // keeps nothing of that attempt.)
          await counted.pipeTo(writable, { preventAbort: true, preventClose: true });
        } finally {
          await writable.close();
        }
        blob = await handle.getFile(); // disk-backed: the runtime reads it in slices
      } else {
        // The browser builds this Blob from the stream. (A Blob built in JavaScript from a large
        // ArrayBuffer, `new Blob([buffer])`, fails the runtime's reads with NotReadableError.)
        blob = await new Response(counted).blob();
      }
    } catch (error) {
      // Too many bytes is a wrong file; anything else (a dropped connection, Stop) keeps in OPFS
      // what arrived, for the next attempt to continue.
      if (loaded > sizeBytes || storage !== 'opfs') await this.deleteFile(file);
      if (signal?.aborted) throw abortError(signal, url);
      if (loaded > sizeBytes) throw new ModelIntegrityError(fileName, sizeBytes, loaded, sha256, null);
      throw new DownloadError(`Downloading the model from ${url} failed: ${String(error)}`, url, null, { cause: error });
    }

    if (blob.size !== sizeBytes) {
      await this.deleteFile(file);
      throw new ModelIntegrityError(fileName, sizeBytes, blob.size, sha256, null);
    }
    onVerified(0);
    const actual = hasher ? hasher.digest() : await sha256Hex(blob);
    onVerified(sizeBytes);
    if (actual !== sha256) {
      await this.deleteFile(file);
      throw new ModelIntegrityError(fileName, sizeBytes, blob.size, sha256, actual);
    }

    if (storage === 'opfs' && blob instanceof File) {
      await this.writeMarker(file, markerText(blob, sha256));
    } else if (storage === 'cache') {
      const cache = await caches.open(FOLDER);
      await cache.put(this.cacheKey(file), new Response(blob, { headers: { 'Content-Length': String(blob.size) } }));
      const kept = await cache.match(this.cacheKey(file));
      if (kept) blob = await kept.blob(); // the stored, disk-backed copy
    }
    return { fileName, blob, source: 'network', sha256: actual };
  }

  /** Asks for persistent storage and checks the quota for the files still to download, before the first. */
  private async makeRoom(storage: StorageKind, missing: readonly ModelFileInfo[], kept: readonly number[], url: string): Promise<void> {
    await navigator.storage?.persist?.().catch(() => false);
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    if (estimate?.quota === undefined) return;
    // A stored copy of a missing file that failed its check was deleted; bytes kept from an
    // interrupted download count as used already, but continuing one copies it first (an OPFS
    // writer works on a copy until it closes), so the largest kept part is needed once more.
    const keptBytes = kept.reduce((sum, bytes) => sum + bytes, 0);
    const needed = missing.reduce((sum, file) => sum + file.sizeBytes, 0) - keptBytes + Math.max(0, ...kept);
    const free = estimate.quota - (estimate.usage ?? 0);
    if (free < needed) {
      throw new DownloadError(`Not enough browser storage for the model (${storage}): ${needed} bytes needed, ${free} free.`, url);
    }
  }
}

/** The first byte a 206 response carries ("Content-Range: bytes 100-199/200"), or null. */
function contentRangeStart(response: Response): number | null {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('Content-Range') ?? '');
  return match ? Number(match[1]) : null;
}

function markerText(file: File, sha256: string): string {
  return JSON.stringify({ sha256, size: file.size, lastModified: file.lastModified });
}
