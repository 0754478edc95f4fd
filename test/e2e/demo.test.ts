/**
 * The demo page in real Chromium, against real servers on port 0: people chatting, a cut
 * connection, reloads, hostile text, sign-in failures, and the README's screenshot.
 * One browser for the file, one context per person (separate storage, like two browsers).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { buildDemo } from '../../demo/build.mjs';
import { browserTestsEnabled, launchChromium } from '../helpers/chromium.js';
import { repoRoot } from '../helpers/build.js';
import { signToken, startServer } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { DemoPage, eventually, password } from './demo-page.js';

describe.skipIf(!browserTestsEnabled())('the demo page', () => {
  let browser: Browser;

  beforeAll(async () => {
    // The server reads the built page when it starts, so build before any server does.
    await buildDemo();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('shows alice’s message live on bob’s page and in her conversation, and carries his reply back', async () => {
    await using t = await startServer();
    await using alice = await DemoPage.open(browser, t.url);
    await using bob = await DemoPage.open(browser, t.url);
    await alice.register('alice');
    await bob.register('bob');

    await alice.startConversation('bob');
    await alice.send('Hi Bob, it is Alice');
    await alice.waitForMessages(['Hi Bob, it is Alice']);
    await bob.waitForUnread('alice', 1);

    await bob.openFromList('alice');
    await bob.waitForMessages(['Hi Bob, it is Alice']);
    await bob.waitForUnread('alice', 0);
    await alice.send('Are you there?', 'button');
    await bob.waitForMessages(['Hi Bob, it is Alice', 'Are you there?']);

    await bob.send('Hello Alice, I am here');
    await alice.waitForMessages(['Hi Bob, it is Alice', 'Are you there?', 'Hello Alice, I am here']);
    await bob.waitForMessages(['Hi Bob, it is Alice', 'Are you there?', 'Hello Alice, I am here']);
    expect(await alice.unread('bob')).toBe(0);
  });

  it('delivers every message sent while bob’s connection was cut exactly once, in order, without a reload', async () => {
    await using t = await startServer();
    // Bob reaches the server through a proxy that can really cut his socket:
    // Chromium's offline emulation (context.setOffline) leaves open WebSockets open.
    const proxy = await startTcpProxy(t.url);
    try {
      await using alice = await DemoPage.open(browser, t.url);
      await using bob = await DemoPage.open(browser, proxy.url);
      await alice.register('alice');
      await bob.register('bob');
      await alice.startConversation('bob');
      await alice.send('before the cut');
      await bob.openFromList('alice');
      await bob.waitForMessages(['before the cut']);
      await bob.waitForConnection('connected');
      await bob.page.evaluate(() => {
        (window as { sameDocument?: boolean }).sameDocument = true;
      });

      await proxy.cut();
      await bob.waitForConnection('reconnecting');
      // The lid closes: the browser knows it is offline, and the indicator says so.
      await bob.context.setOffline(true);
      await bob.waitForConnection('offline');
      for (const n of [1, 2, 3]) await alice.send(`sent while bob was away ${n}`);
      expect(await bob.messages()).toEqual(['before the cut']);

      await bob.context.setOffline(false);
      await bob.waitForConnection('reconnecting');
      await proxy.resume();
      await bob.waitForConnection('connected');
      const expected = [
        'before the cut',
        'sent while bob was away 1',
        'sent while bob was away 2',
        'sent while bob was away 3',
      ];
      await bob.waitForMessages(expected);
      // The stream is ordered, so a duplicate from the resume would show before this one.
      await alice.send('after the reconnect');
      await bob.waitForMessages([...expected, 'after the reconnect']);
      expect(await bob.page.evaluate(() => (window as { sameDocument?: boolean }).sameDocument)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('keeps bob’s history and unread counts across a reload and a closed page, with no duplicates', async () => {
    await using t = await startServer();
    await using bob = await DemoPage.open(browser, t.url);
    await bob.register('bob');
    const alice = await t.http('alice');
    const carol = await t.http('carol');
    await alice.sendToUser.mutate({ to: 'bob', text: 'one' });
    await alice.sendToUser.mutate({ to: 'bob', text: 'two' });
    await carol.sendToUser.mutate({ to: 'bob', text: 'from carol' });
    await bob.waitForUnread('alice', 2);
    await bob.waitForUnread('carol', 1);
    await bob.openFromList('alice');
    await bob.waitForMessages(['one', 'two']);

    await bob.page.reload();
    await bob.waitForMessages(['one', 'two']);
    await bob.waitForUnread('carol', 1);
    expect(await bob.unread('alice')).toBe(0);

    await bob.page.close();
    await alice.sendToUser.mutate({ to: 'bob', text: 'three' });
    await carol.sendToUser.mutate({ to: 'bob', text: 'carol again' });
    await bob.reopen('#/alice');
    await bob.waitForMessages(['one', 'two', 'three']);
    await bob.waitForUnread('carol', 2);
    await alice.sendToUser.mutate({ to: 'bob', text: 'four' });
    await bob.waitForMessages(['one', 'two', 'three', 'four']);
    expect(await bob.unread('alice')).toBe(0);
    expect(await bob.unread('carol')).toBe(2);
  });

  it('shows a message that looks like HTML as literal text and never runs it', async () => {
    const hostile = '<img src=x onerror="window.__xss=1">';
    await using t = await startServer();
    await using alice = await DemoPage.open(browser, t.url);
    await using bob = await DemoPage.open(browser, t.url);
    await alice.register('alice');
    await bob.register('bob');
    await alice.startConversation('bob');
    await alice.send(hostile);
    await bob.waitForUnread('alice', 1);
    expect(await bob.conversationLink('alice').locator('.preview').textContent()).toBe(hostile);
    await bob.openFromList('alice');
    await bob.waitForMessages([hostile]);
    await alice.waitForMessages([hostile]);
    for (const person of [alice, bob]) {
      expect(await person.page.locator('#messages img, #conversation-list img').count()).toBe(0);
      expect(await person.page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    }
  });

  it('signing in with a wrong password shows an error and stores no token', async () => {
    await using t = await startServer();
    await (await t.http()).auth.register.mutate({ userId: 'alice', password });
    await using page = await DemoPage.open(browser, t.url);
    await page.fillSignIn('alice', 'not-the-password');
    await page.page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(async () =>
      expect(await page.page.getByRole('alert').allTextContents()).toContain('Wrong user id or password'),
    );
    const stored = await page.page.evaluate(() => Object.values(localStorage));
    expect(stored.filter((value) => /eyJ/.test(value))).toEqual([]);
    expect(await page.page.locator('#chat-view').isHidden()).toBe(true);
  });

  it('signing out forgets the token, and after signing back in each message is sent and shown once', async () => {
    await using t = await startServer();
    await (await t.http()).auth.register.mutate({ userId: 'bob', password });
    await using alice = await DemoPage.open(browser, t.url);
    await alice.register('alice');
    await alice.page.getByRole('button', { name: 'Sign out' }).click();
    await alice.page.getByText('You have signed out.').waitFor();
    expect(await alice.page.evaluate(() => localStorage.getItem('parley:session'))).toBeNull();

    await alice.fillSignIn('alice', password);
    await alice.page.getByRole('button', { name: 'Sign in' }).click();
    await alice.startConversation('bob');
    await alice.send('only once');
    await alice.waitForMessages(['only once']);
    const history = await (await t.http('bob')).history.query({ with: 'alice' });
    expect(history.items.map((m) => m.text)).toEqual(['only once']);
  });

  it('returns to sign-in with a message when the session expires', async () => {
    await using t = await startServer({ tokenTtlSeconds: 2 });
    await using alice = await DemoPage.open(browser, t.url);
    await alice.register('alice');
    await alice.page.getByText('Your session has expired. Please sign in again.').waitFor({ timeout: 15_000 });
    expect(await alice.page.getByLabel('Password', { exact: true }).isVisible()).toBe(true);
    expect(await alice.page.evaluate(() => localStorage.getItem('parley:session'))).toBeNull();
  });

  it('returns to sign-in with a message when the server refuses the stored token', async () => {
    await using t = await startServer();
    await (await t.http()).auth.register.mutate({ userId: 'alice', password });
    // Signed with another secret, as after the server's secret was rotated: unexpired, yet refused.
    const token = await signToken('alice', 3600, 'another-secret-that-is-long-enough-for-hs256-000000');
    await using alice = await DemoPage.open(browser, t.url);
    await alice.page.evaluate(
      (session) => localStorage.setItem('parley:session', JSON.stringify(session)),
      { userId: 'alice', token, expiresAt: Date.now() + 3_600_000 },
    );
    await alice.page.reload();
    await alice.page.getByText('Your session has expired. Please sign in again.').waitFor();
    expect(await alice.page.evaluate(() => localStorage.getItem('parley:session'))).toBeNull();
  });

  it('loads older messages as bob scrolls up a long conversation', async () => {
    await using t = await startServer({ sendRateLimit: null }); // 75 sends in a row: more than the default burst
    await using bob = await DemoPage.open(browser, t.url);
    await bob.register('bob');
    const alice = await t.http('alice');
    const texts = Array.from({ length: 75 }, (_, i) => `message ${i + 1}`);
    for (const text of texts) await alice.sendToUser.mutate({ to: 'bob', text });
    await bob.waitForUnread('alice', 75);

    await bob.openFromList('alice');
    await bob.waitForMessages(texts.slice(-30));
    const scroller = bob.page.getByLabel('Message history');
    await eventually(async () => {
      await scroller.evaluate((element) => element.scrollTo({ top: 0 }));
      expect(await bob.messages()).toEqual(texts);
    });
    await bob.page.getByText('This is the start of your conversation.').waitFor();
  });

  it('can be used with the keyboard alone: sign up, start a conversation, send', async () => {
    await using t = await startServer();
    await (await t.http()).auth.register.mutate({ userId: 'bob', password });
    await using alice = await DemoPage.open(browser, t.url);
    const { keyboard } = alice.page;
    await keyboard.type('alice');
    await keyboard.press('Tab');
    await keyboard.type(password);
    await keyboard.press('Tab'); // Sign in
    await keyboard.press('Tab'); // Create account
    await keyboard.press('Enter');
    await alice.page.getByText('Signed in as alice').waitFor();
    await keyboard.type('bob');
    await keyboard.press('Enter');
    await alice.page.getByRole('heading', { name: 'bob', exact: true }).waitFor();
    await keyboard.type('typed, not clicked');
    await keyboard.press('Enter');
    await alice.waitForMessages(['typed, not clicked']);
  });

  // Tests never rewrite tracked files: the README's docs/screenshot.png is refreshed by
  // copying this one over it by hand.
  it('writes a side-by-side screenshot of alice and bob chatting to test-results/screenshot.png, for the README', async () => {
    await using t = await startServer();
    const viewport = { width: 760, height: 540 };
    await using alice = await DemoPage.open(browser, t.url, { viewport });
    await using bob = await DemoPage.open(browser, t.url, { viewport });
    await alice.register('alice');
    await bob.register('bob');
    await (await t.http('carol')).sendToUser.mutate({ to: 'bob', text: 'Lunch on Friday?' });
    await alice.startConversation('bob');
    await alice.send('Hi Bob! Did the nightly build pass?');
    await bob.openFromList('alice');
    await bob.send('It did: every test green, and the demo works in two browsers.');
    await alice.send('Great, let’s ship it.');
    await bob.waitForMessages([
      'Hi Bob! Did the nightly build pass?',
      'It did: every test green, and the demo works in two browsers.',
      'Great, let’s ship it.',
    ]);
    await bob.waitForUnread('carol', 1);

    const shots = await Promise.all([alice.page.screenshot(), bob.page.screenshot()]);
    const frame = await browser.newPage({ viewport: { width: viewport.width * 2 + 48, height: viewport.height + 32 } });
    try {
      await frame.setContent(
        `<body style="margin:0;padding:16px;display:flex;gap:16px;background:#c9d0db">${shots
          .map((png) => `<img style="border-radius:6px;box-shadow:0 2px 10px #0003" src="data:image/png;base64,${png.toString('base64')}">`)
          .join('')}</body>`,
      );
      mkdirSync(`${repoRoot}test-results`, { recursive: true });
      await frame.screenshot({ path: `${repoRoot}test-results/screenshot.png` });
    } finally {
      await frame.close();
    }
    expect(readFileSync(`${repoRoot}README.md`, 'utf8')).toContain('(docs/screenshot.png)');
  });
});
