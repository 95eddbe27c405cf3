import { chromium, type Browser } from 'playwright-core';

/**
 * The one place dashboard tests launch Chromium: `CHROMIUM_PATH`, else the system's
 * /usr/bin/chromium, headless. (A fallback to a downloaded build belongs here too.)
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
