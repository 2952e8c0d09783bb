import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { eventually } from './services.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots and other artefacts a person may want to look at after a run. */
export const TEST_OUTPUT = process.env.SWITCHBOARD_TEST_OUTPUT ?? fileURLToPath(new URL('../output/', import.meta.url));

export interface BrowserOptions {
  /** A CA certificate (PEM file) the browser trusts, as a person's would after installing it: put in the NSS database of the browser's own home. */
  trustCa?: string;
  /** More Chromium switches (e.g. `--host-resolver-rules=MAP chat.test 10.0.0.7`). */
  args?: string[];
}

/** Debian's Chromium, headless, downloading nothing; with a home of its own when it must trust a CA. */
export async function launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `Chromium is required at ${CHROMIUM} (make testenv-provision installs Debian's chromium)`);
  mkdirSync(TEST_OUTPUT, { recursive: true });
  let env: Record<string, string | undefined> | undefined;
  if (options.trustCa !== undefined) {
    // Chromium on Linux trusts what the NSS database in $HOME/.pki/nssdb trusts (certutil: libnss3-tools).
    const home = mkdtempSync(join(tmpdir(), 'chromium-home-'));
    const db = join(home, '.pki', 'nssdb');
    mkdirSync(db, { recursive: true });
    execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-n', 'switchboard test CA', '-t', 'C,,', '-i', options.trustCa]);
    env = { ...process.env, HOME: home };
  }
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    ...(env ? { env } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(options.args ?? []),
    ],
  });
}

/** A page in its own browser context (its own sessionStorage), as a second person would have. */
export async function newPerson(browser: Browser): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 900, height: 700 });
  return page;
}

/** The chat page's login as a person does it: a user id (insecure-dev) or a pasted token, and whom to talk to. */
export async function login(page: Page, who: { user?: string; token?: string }, peer: string): Promise<void> {
  // Once the form shows (the page shows it when it has read the gateway's settings; keys typed
  // before then reach no field).
  await page.waitForSelector('#login', { visible: true });
  if (who.user !== undefined) await page.type('#user', who.user);
  if (who.token !== undefined) await page.type('#token', who.token);
  await page.type('#peer', peer);
  await page.click('#connect');
  await page.waitForSelector('#status[data-state="connected"]');
}

/** The message lines on the page (notes left out). */
export const lines = (page: Page): Promise<string[]> => page.$$eval('#messages li:not(.note)', (ls) => ls.map((l) => l.firstChild?.textContent ?? ''));

/** Waits until `text` is a message line of the page (accepted, not merely typed). */
export const waitForLine = (page: Page, text: string): Promise<void> =>
  eventually(
    `"${text}" on the page`,
    async () => (await page.$$eval('#messages li:not(.note):not(.pending)', (ls) => ls.map((l) => l.firstChild?.textContent))).includes(text),
    20_000,
    100,
  );

/** Types `text` into the compose field and presses Enter. */
export async function say(page: Page, text: string): Promise<void> {
  await page.type('#text', text);
  await page.keyboard.press('Enter');
}
