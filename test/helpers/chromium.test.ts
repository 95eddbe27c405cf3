import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, launchChromium, systemChromium } from './chromium.js';

/**
 * Where the browser tests get their Chromium. CI has Debian's, so the dashboard tests never
 * reach the last resort there; the last test here does, as a machine with only Node and npm
 * would.
 */
let dir: string;
let fake: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocf-chromium-'));
  fake = join(dir, 'chromium');
  await writeFile(fake, '#!/bin/sh\n');
  await chmod(fake, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('findChromium', () => {
  it('takes CHROMIUM_PATH first, whatever is on PATH', async () => {
    expect(await findChromium({ env: { CHROMIUM_PATH: '/opt/my/chrome', PATH: dir } })).toEqual({
      path: '/opt/my/chrome',
      source: 'CHROMIUM_PATH',
    });
  });

  it('then an executable chromium on PATH, then the fixed system paths', async () => {
    expect(await findChromium({ env: { CHROMIUM_PATH: '', PATH: `/nonexistent:${dir}` }, systemPaths: [] })).toEqual({
      path: fake,
      source: 'system',
    });
    expect(systemChromium({ PATH: '/nonexistent' }, ['/nonexistent/chromium', fake])).toBe(fake);
  });

  it('ignores a chromium on PATH that is not executable', async () => {
    const plain = await mkdtemp(join(dir, 'plain-'));
    await writeFile(join(plain, 'chromium'), '');
    expect(systemChromium({ PATH: plain }, [])).toBeUndefined();
  });

  it('without any, unpacks @sparticuz/chromium, which renders a page headless', { timeout: 60_000 }, async () => {
    const none = { env: { PATH: '/nonexistent' }, systemPaths: [] };
    const found = await findChromium(none);
    expect(found.source).toBe('@sparticuz/chromium');
    const browser = await launchChromium(none);
    try {
      const page = await browser.newPage();
      await page.setContent('<p id="n"></p><script>document.getElementById("n").textContent = String(6 * 7)</script>');
      expect(await page.textContent('#n')).toBe('42');
    } finally {
      await browser.close();
    }
  });
});
