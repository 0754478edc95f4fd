/**
 * One person's demo page in its own browser context (its own storage, like a separate
 * browser), with the steps a person takes on it, found by their accessible names.
 */
import { expect, vi } from 'vitest';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';

export const password = 'correct-horse-battery';

/** Waits for `assertion` to pass; browser round trips are fast, reconnect backoff is not. */
export function eventually<T>(assertion: () => Promise<T>, timeout = 15_000): Promise<T> {
  return vi.waitFor(assertion, { timeout, interval: 50 });
}

export class DemoPage {
  /** Uncaught errors of the page's scripts; checked when the page is disposed. */
  readonly #pageErrors: Error[] = [];

  private constructor(
    readonly context: BrowserContext,
    public page: Page,
    readonly url: string,
  ) {
    context.on('weberror', (error) => this.#pageErrors.push(error.error()));
  }

  static async open(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<DemoPage> {
    const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-US', ...options });
    const demo = new DemoPage(context, await context.newPage(), url);
    await demo.page.goto(url);
    return demo;
  }

  /** Replaces the page with a new one on the same storage, e.g. after the lid was closed. */
  async reopen(hash = ''): Promise<void> {
    await this.page.close();
    this.page = await this.context.newPage();
    await this.page.goto(`${this.url}/${hash}`);
  }

  async register(userId: string): Promise<void> {
    await this.fillSignIn(userId, password);
    await this.page.getByRole('button', { name: 'Create account' }).click();
    await this.page.getByText(`Signed in as ${userId}`).waitFor();
  }

  async fillSignIn(userId: string, secret: string): Promise<void> {
    await this.page.getByLabel('User id', { exact: true }).fill(userId);
    await this.page.getByLabel('Password', { exact: true }).fill(secret);
  }

  async startConversation(peer: string): Promise<void> {
    await this.page.getByLabel('Message a user id', { exact: true }).fill(peer);
    await this.page.getByLabel('Message a user id', { exact: true }).press('Enter');
    await this.page.getByRole('heading', { name: peer, exact: true }).waitFor();
  }

  async openFromList(peer: string): Promise<void> {
    await this.conversationLink(peer).click();
    await this.page.getByRole('heading', { name: peer, exact: true }).waitFor();
  }

  /** Sends with Enter or the Send button, and waits until the server has stored it. */
  async send(text: string, via: 'enter' | 'button' = 'enter'): Promise<void> {
    const composer = this.page.getByRole('textbox', { name: 'Message', exact: true });
    await composer.fill(text);
    if (via === 'enter') await composer.press('Enter');
    else await this.page.getByRole('button', { name: 'Send' }).click();
    await eventually(async () => expect(await this.page.locator('#messages .pending').count()).toBe(0));
  }

  /** The texts of the open conversation, top to bottom. */
  messages(): Promise<string[]> {
    return this.page.locator('#messages .message .text').allTextContents();
  }

  async waitForMessages(expected: string[]): Promise<void> {
    await eventually(async () => expect(await this.messages()).toEqual(expected));
  }

  conversationLink(peer: string) {
    return this.page.locator(`#conversation-list a[data-peer="${peer}"]`);
  }

  async unread(peer: string): Promise<number> {
    const badge = this.conversationLink(peer).locator('.badge');
    return (await badge.count()) === 0 ? 0 : Number.parseInt((await badge.textContent()) ?? '', 10);
  }

  async waitForUnread(peer: string, count: number): Promise<void> {
    await eventually(async () => expect(await this.unread(peer)).toBe(count));
  }

  async waitForConnection(state: 'connected' | 'reconnecting' | 'offline'): Promise<void> {
    await eventually(async () => expect(await this.page.locator('#connection').getAttribute('data-state')).toBe(state));
  }

  /** Closes the browser context; a script error the page threw fails the test here. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.context.close();
    expect(this.#pageErrors, 'uncaught errors in the page').toEqual([]);
  }
}
