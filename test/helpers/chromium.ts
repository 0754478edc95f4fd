/**
 * The system Chromium, driven by playwright-core (which downloads no browser of its own).
 * Without it a developer's run skips the browser tests with a loud warning; CI must run
 * them, so under `CI=true` a missing Chromium is an error.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/** True when the browser tests can run; warns (or, under CI, throws) when they cannot. */
export function browserTestsEnabled(): boolean {
  if (existsSync(chromiumPath)) return true;
  const reason = `no Chromium at ${chromiumPath} (Debian/Ubuntu: apt-get install -y chromium)`;
  if (process.env['CI'] === 'true') throw new Error(`Browser tests must run under CI=true, but there is ${reason}`);
  console.warn(`\n!!! SKIPPING the browser tests: ${reason} !!!\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}
