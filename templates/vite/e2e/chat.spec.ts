import { expect, test, type Page } from '@playwright/test';

// Token ids whose text is not valid UTF-8 on its own. A real model completes such a character
// with its next token; a random-weight demo model may not, and the runtime then fails the request.
// Read from the GGUF's vocabulary (tokenizer.ggml.tokens), in the page, from the loaded model file.
async function incompleteUtf8Tokens(page: Page): Promise<number[]> {
  return page.evaluate(async () => {
    const blob = window.sdkgen.llm.lastModelFile?.blob;
    if (!blob) return [];
    const view = new DataView(await blob.slice(0, Math.min(blob.size, 256 * 1024 ** 2)).arrayBuffer());
    const text = new TextDecoder();
    let at = 0;
    const u32 = () => ((at += 4), view.getUint32(at - 4, true));
    const u64 = () => ((at += 8), Number(view.getBigUint64(at - 8, true)));
    const str = () => {
      const length = u64();
      at += length;
      return text.decode(new Uint8Array(view.buffer, at - length, length));
    };
    const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
    const skip = (type: number): void => {
      if (type === 8) str();
      else if (type === 9) {
        const inner = u32();
        const count = u64();
        for (let i = 0; i < count; i++) skip(inner);
      } else at += sizes[type];
    };
    if (u32() !== 0x46554747) return []; // "GGUF"
    u32(); // version
    u64(); // tensors
    const kvs = u64();
    let tokens: string[] = [];
    let model = '';
    for (let i = 0; i < kvs; i++) {
      const key = str();
      const type = u32();
      if (key === 'tokenizer.ggml.tokens' && type === 9) {
        u32();
        const count = u64();
        tokens = Array.from({ length: count }, str);
      } else if (key === 'tokenizer.ggml.model' && type === 8) model = str();
      else skip(type);
    }
    // GPT-2 style byte-level vocabularies spell each byte as one printable character.
    const byteOf = new Map<string, number>();
    const printable = [...Array(256).keys()].filter((b) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174);
    let extra = 0;
    for (let b = 0; b < 256; b++) byteOf.set(String.fromCodePoint(printable.includes(b) ? b : 256 + extra++), b);
    const strict = new TextDecoder('utf-8', { fatal: true });
    const banned: number[] = [];
    tokens.forEach((token, id) => {
      let bytes: Uint8Array;
      const byteToken = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
      if (model === 'gpt2') bytes = Uint8Array.from([...token], (c) => byteOf.get(c) ?? 0x3f);
      else if (byteToken) bytes = Uint8Array.of(parseInt(byteToken[1], 16));
      else return;
      try {
        strict.decode(bytes);
      } catch {
        banned.push(id);
      }
    });
    return banned;
  });
}

test('loads the model, streams a reply, stops one, starts a new chat', async ({ page }, testInfo) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));

  // The app prepares the model on load: memory check, fetch + SHA-256 check, load.
  await page.goto('/');
  // Wait for the outcome, not only for success: a failed load is reported with its reason at once.
  await page.waitForFunction(
    () => ['ready', 'load-failed', 'memory-refused'].includes(document.body.dataset.state ?? ''),
    null,
    { timeout: 8 * 60_000 },
  );
  const outcome = await page.evaluate(() => document.body.dataset.state);
  const why = (await page.locator('#load-error-message').textContent()) || (await page.locator('#stage').textContent());
  expect(outcome, `the model did not load: ${why}`).toBe('ready');
  await expect(page.locator('#stage')).toContainText('Ready');
  await expect(page.locator('#send')).toBeEnabled();
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);

  const banned = await incompleteUtf8Tokens(page);

  // A streamed reply through the SDK the app uses: pieces arrive one by one.
  const streamed = await page.evaluate(async (bannedTokens) => {
    const engine = window.sdkgen.engine!;
    const pieces: string[] = [];
    const reply = await engine.chat('Hello! Who are you?', {
      maxTokens: 24,
      greedy: true,
      bannedTokens,
      onToken: (piece) => pieces.push(piece.text),
    });
    return { text: reply.text, pieces: pieces.length, joined: pieces.join(''), ids: reply.ids.length, finish: reply.finishReason };
  }, banned);
  expect(streamed.pieces).toBeGreaterThan(1);
  expect(streamed.joined).toBe(streamed.text);
  expect(streamed.ids).toBeGreaterThan(0);

  // Stop: the reply ends where it was stopped, and the next one works.
  const stopped = await page.evaluate(async (bannedTokens) => {
    const engine = window.sdkgen.engine!;
    const controller = new AbortController();
    let seen = 0;
    const reply = await engine.chat('Tell me a long story.', {
      maxTokens: 200,
      greedy: true,
      bannedTokens,
      signal: controller.signal,
      onToken: () => {
        if (++seen === 3) controller.abort();
      },
    });
    const next = await engine.chat('Thanks.', { maxTokens: 8, greedy: true, bannedTokens });
    return { finish: reply.finishReason, ids: reply.ids.length, nextIds: next.ids.length };
  }, banned);
  expect(stopped.finish).toBe('cancelled');
  expect(stopped.ids).toBeLessThan(200);
  expect(stopped.nextIds).toBeGreaterThan(0);

  // New chat forgets the conversation.
  await page.click('#new-chat');
  expect(await page.evaluate(() => window.sdkgen.engine!.messages.length)).toBe(0);

  // The chat screen: type, Send, Stop; the reply shows and the app is ready again.
  await page.evaluate((bannedTokens) => (window.sdkgen.chatOptions = { bannedTokens }), banned);
  await page.fill('#prompt', 'Hello!');
  await page.click('#send');
  await expect(page.locator('#messages li')).toHaveCount(2);
  await page.locator('#stop').click({ timeout: 2_000 }).catch(() => undefined); // may be done already
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  await expect(page.locator('#send')).toBeEnabled();
  await expect(page.locator('#messages li.error')).toHaveCount(0);

  await page.screenshot({ path: testInfo.outputPath('chat.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
});
