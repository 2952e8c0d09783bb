import assert from 'node:assert/strict';
import type { Browser, Page } from 'puppeteer-core';
import { freePort, getJson, eventually } from '../support/services.js';
import { killAll, spawnService, startMessageProcess, LOOPBACK, type ServiceProcess } from '../support/processes.js';
import { launchBrowser, lines, login as loginAs, newPerson, say, TEST_OUTPUT, waitForLine } from '../support/browser.js';

/** The browser chat page served by Connect, driven in a real headless Chromium. */
describe('the chat page in a real browser', function () {
  this.timeout(120_000);
  const procs: ServiceProcess[] = [];
  let browser: Browser;
  let wsPort: number;
  let message: Awaited<ReturnType<typeof startMessageProcess>>;
  let connect: ServiceProcess;
  const outside: string[] = [];

  const startConnect = async (settings: Record<string, string> = {}): Promise<ServiceProcess> => {
    const p = spawnService('connect', {
      ...LOOPBACK,
      CONNECT_WS_PORT: String(wsPort),
      CONNECT_ADMIN_PORT: '0',
      AUTH_MODE: 'insecure-dev',
      MESSAGE_DISCOVERY: `127.0.0.1:${message.grpcPort}`,
      CONNECT_DRAIN_WINDOW: '200ms',
      CONNECT_DEMO_PAGE: 'true',
      ...settings,
    });
    procs.push(p);
    const started = await p.waitForLog('connect service started');
    await eventually('gateway ready', async () => (await getJson(`http://127.0.0.1:${String(started.adminPort)}/readyz`)).status === 200);
    return p;
  };

  /** A person's page on the gateway, whose requests outside it are noted. */
  const openPage = async (): Promise<Page> => {
    const page = await newPerson(browser);
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${wsPort}/`) && !r.url().startsWith(`ws://127.0.0.1:${wsPort}/`) && !r.url().startsWith('data:'))
        outside.push(r.url());
    });
    page.on('pageerror', (e) => outside.push(`page error: ${String(e)}`));
    await page.goto(`http://127.0.0.1:${wsPort}/`);
    return page;
  };
  const login = (page: Page, user: string, peer: string): Promise<void> => loginAs(page, { user }, peer);

  before(async () => {
    wsPort = await freePort();
    message = await startMessageProcess({}, procs);
    connect = await startConnect();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await killAll(procs);
  });

  it('two people exchange messages in order, see the history after a reload, and the page recovers from a gateway restart', async () => {
    const alice = await openPage();
    const bob = await openPage();
    await login(alice, 'alice', 'bob');
    await login(bob, 'bob', 'alice');

    for (const text of ['hello bob', 'how are you?', 'third in a row']) await say(alice, text);
    await waitForLine(bob, 'third in a row');
    assert.deepEqual(await lines(bob), ['hello bob', 'how are you?', 'third in a row']);
    await say(bob, 'fine, thanks');
    await waitForLine(alice, 'fine, thanks');
    assert.deepEqual(await lines(alice), ['hello bob', 'how are you?', 'third in a row', 'fine, thanks']);
    const seqs = await bob.$$eval('#messages li[data-seq]', (ls) => ls.map((l) => Number(l.getAttribute('data-seq'))));
    assert.deepEqual(seqs, [1, 2, 3], 'pushes shown in seq order');

    // A reload keeps the login of the tab and shows the history from the server.
    await alice.reload();
    await alice.waitForSelector('#status[data-state="connected"]');
    await waitForLine(alice, 'fine, thanks');
    assert.deepEqual(await lines(alice), ['hello bob', 'how are you?', 'third in a row', 'fine, thanks']);

    // The gateway restarts: both pages notice, reconnect by themselves, and carry on.
    connect.kill('SIGTERM');
    assert.deepEqual(await connect.exited, { code: 0, signal: null });
    await alice.waitForSelector('#status[data-state="reconnecting"]');
    await say(alice, 'sent while the gateway restarts');
    connect = await startConnect();
    for (const page of [alice, bob]) {
      await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    }
    await waitForLine(bob, 'sent while the gateway restarts');
    await say(bob, 'welcome back');
    await waitForLine(alice, 'welcome back');
    assert.deepEqual(await lines(bob), ['hello bob', 'how are you?', 'third in a row', 'fine, thanks', 'sent while the gateway restarts', 'welcome back']);
    assert.equal((await lines(alice)).filter((l) => l === 'sent while the gateway restarts').length, 1, 'the send made during the restart is shown once');

    await alice.screenshot({ path: `${TEST_OUTPUT}/chat-page.png` });
    assert.deepEqual(outside, [], 'the page loads nothing from outside the gateway and throws nothing');
  });

  it('a group on the page: create it, talk in it, a member joins by its id and reads its history, members, remove', async () => {
    const visible = (page: Page): Promise<string[]> =>
      page.$$eval('#messages li:not(.note):not([hidden]):not(.pending)', (ls) => ls.map((l) => l.firstChild?.textContent ?? ''));
    const waitForVisible = (page: Page, text: string): Promise<void> =>
      eventually(`"${text}" shown on the page`, async () => (await visible(page)).includes(text), 20_000, 100);
    const ann = await openPage();
    const ben = await openPage();
    await login(ann, 'ann', 'ben');
    await login(ben, 'ben', 'ann');
    await say(ann, 'a direct message first');
    await waitForLine(ben, 'a direct message first');

    await ann.type('#group-users', 'ben, cat');
    await ann.click('#group-create');
    await ann.waitForFunction("document.querySelector('#who').textContent.includes('grp:')");
    const group = await ann.$eval('#talk-to', (e) => (e as unknown as { value: string }).value);
    assert.match(group, /^grp:/);
    await waitForVisible(ann, 'ann created the group with ben, cat');
    assert.equal(await ann.$eval('#group-only', (e) => e.hasAttribute('hidden')), false, 'group buttons shown in a group');
    await say(ann, 'hello group');
    await waitForVisible(ann, 'hello group');
    assert.deepEqual(await visible(ann), ['ann created the group with ben, cat', 'hello group'], 'the direct conversation is not shown with the group');

    // Ben is told of the group in "talk to" and opens it.
    await ben.waitForFunction(
      `[...document.querySelector('#talk-to').options].some((o) => o.value === ${JSON.stringify(group)} && o.textContent.includes('(2 new)'))`,
    );
    await ben.select('#talk-to', group);
    await waitForVisible(ben, 'hello group');
    assert.deepEqual(await visible(ben), ['ann created the group with ben, cat', 'hello group']);
    await say(ben, 'hi all');
    await waitForVisible(ann, 'hi all');

    // Cat joins later by typing the group's id, and reads what was said before.
    const cat = await openPage();
    await login(cat, 'cat', group);
    await waitForVisible(cat, 'hi all');
    assert.deepEqual(await visible(cat), ['ann created the group with ben, cat', 'hello group', 'hi all']);

    await ann.click('#group-members');
    await ann.waitForSelector('#messages li.members:not([hidden])');
    assert.equal(await ann.$eval('#messages li.members', (e) => e.textContent), 'members: ann, ben, cat');

    await ann.type('#group-users', 'cat');
    await ann.click('#group-remove');
    await waitForVisible(cat, 'ann removed cat');
    await say(ann, 'said after cat was removed');
    await waitForVisible(ben, 'said after cat was removed');
    await say(cat, 'may I still?');
    await cat.waitForSelector('#messages li.failed');
    assert.match(await cat.$eval('#messages li.failed .meta', (e) => e.textContent ?? ''), /not sent: FORBIDDEN/);
    // After a reload the removed member's history ends at the removal.
    await cat.reload();
    await cat.waitForSelector('#status[data-state="connected"]');
    await waitForVisible(cat, 'ann removed cat');
    assert.deepEqual(await visible(cat), ['ann created the group with ben, cat', 'hello group', 'hi all', 'ann removed cat']);

    await ben.screenshot({ path: `${TEST_OUTPUT}/chat-page-group.png` });
    assert.deepEqual(outside, [], 'the page loads nothing from outside the gateway and throws nothing');
  });

  it('read markers, typing and presence across tabs: a read on one tab of a user clears the unread count on their other tab, the peer sees the receipt, typing shows and clears, presence flips when a tab closes', async () => {
    /** The text of the "talk to" entry of `peer` on a page (its unread count in brackets). */
    const entry = (page: Page, peer: string): Promise<string | undefined> =>
      page.$$eval('#talk-to option', (os, p) => os.find((o) => (o as unknown as { value: string }).value === p)?.textContent ?? undefined, peer);
    const waitForEntry = (page: Page, peer: string, text: string): Promise<void> =>
      eventually(`"${text}" in "talk to"`, async () => (await entry(page, peer)) === text, 20_000, 100);
    // Two tabs of dora, both talking to someone else for now, and one of eli.
    const [tab1, tab2, eli] = [await openPage(), await openPage(), await openPage()];
    await login(tab1, 'dora', 'fay');
    await login(tab2, 'dora', 'gus');
    await login(eli, 'eli', 'dora');
    await say(eli, 'are you there?');
    await say(eli, 'dora?');
    for (const tab of [tab1, tab2]) await waitForEntry(tab, 'eli', 'eli (2 new)');
    assert.equal(await eli.$eval('#receipt', (e) => e.hasAttribute('hidden')), true, 'no receipt before dora reads');

    // Dora opens the conversation on one tab: the other tab's count clears, eli sees the receipt.
    await tab1.select('#talk-to', 'eli');
    await waitForEntry(tab1, 'eli', 'eli');
    await waitForEntry(tab2, 'eli', 'eli');
    await eli.waitForSelector('#receipt:not([hidden])');
    assert.equal(await eli.$eval('#receipt', (e) => e.textContent), 'dora read up to #2');
    // A reload of the other tab asks the server: still nothing unread.
    await tab2.reload();
    await tab2.waitForSelector('#status[data-state="connected"]');
    await waitForEntry(tab2, 'eli', 'eli');
    // Eli types: the tab showing the conversation says so, until the message arrives.
    await eli.type('#text', 'goo');
    await tab1.waitForSelector('#typing:not([hidden])');
    assert.equal(await tab1.$eval('#typing', (e) => e.textContent), 'eli is typing…');
    assert.equal(await tab2.$eval('#typing', (e) => e.hasAttribute('hidden')), true, 'not on the tab showing another conversation');
    // While tab 1 shows the conversation, what eli says next is read at once, there and on tab 2.
    await say(eli, 'd');
    await waitForLine(tab1, 'good');
    await tab1.waitForSelector('#typing[hidden]');
    await eventually('the receipt of #3', async () => (await eli.$eval('#receipt', (e) => e.textContent)) === 'dora read up to #3', 20_000, 100);
    await waitForLine(tab2, 'good');
    await waitForEntry(tab2, 'eli', 'eli');
    await eli.screenshot({ path: `${TEST_OUTPUT}/chat-page-receipt.png` });
    // Presence: dora's tab shows eli online; eli's tab closes, and it flips to offline (after the gateway's debounce).
    await tab1.waitForSelector('#presence[data-online="true"]:not([hidden])');
    assert.equal(await tab1.$eval('#presence', (e) => e.textContent), 'online');
    await eli.close();
    await tab1.waitForSelector('#presence[data-online="false"]:not([hidden])', { timeout: 15_000 });
    assert.equal(await tab1.$eval('#presence', (e) => e.textContent), 'offline');
    assert.deepEqual(outside, [], 'the page loads nothing from outside the gateway and throws nothing');
  });

  it('edits, deletions and group titles across tabs: an edit and a delete made on either tab of a user show on every tab; a group is shown by its title', async () => {
    /** Clicks the edit or delete button of the shown line that reads `text`. */
    const clickLine = (page: Page, text: string, button: 'edit' | 'delete'): Promise<void> =>
      page.$$eval(
        '#messages li',
        (ls, t, b) => {
          const li = ls.find((l) => !(l as unknown as { hidden: boolean }).hidden && l.firstChild?.textContent === t);
          const btn = li?.querySelector(`button.${b}`) as unknown as { click(): void } | null | undefined;
          if (!btn) throw new Error(`no ${b} button on "${t}"`);
          btn.click();
        },
        text,
        button,
      );
    const buttons = (page: Page, text: string): Promise<number> =>
      page.$$eval('#messages li', (ls, t) => ls.filter((l) => l.firstChild?.textContent === t).flatMap((l) => [...l.querySelectorAll('button')]).length, text);
    const [tab1, tab2, ivy] = [await openPage(), await openPage(), await openPage()];
    await login(tab1, 'hal', 'ivy');
    await login(tab2, 'hal', 'ivy');
    await login(ivy, 'ivy', 'hal');
    await say(tab1, 'helo wrold');
    await say(tab1, 'a second thought');
    for (const page of [tab2, ivy]) await waitForLine(page, 'a second thought');
    assert.equal(await buttons(ivy, 'helo wrold'), 0, "no edit or delete on someone else's message");

    // Hal edits on the tab he sent from: the text goes back into the field, the new one replaces it everywhere.
    await clickLine(tab1, 'helo wrold', 'edit');
    assert.equal(await tab1.$eval('#text', (e) => (e as unknown as { value: string }).value), 'helo wrold');
    await tab1.click('#text', { count: 3 });
    await say(tab1, 'hello world');
    for (const page of [tab1, tab2, ivy]) await waitForLine(page, 'hello world');
    for (const page of [tab1, tab2, ivy]) assert.deepEqual(await lines(page), ['hello world', 'a second thought'], 'the edit replaces the line, it adds none');
    assert.match(await ivy.$eval('#messages li.edited .meta', (e) => e.textContent ?? ''), /edited$/);

    // He deletes the other from his other tab.
    await clickLine(tab2, 'a second thought', 'delete');
    for (const page of [tab1, tab2, ivy]) await waitForLine(page, 'message deleted');
    for (const page of [tab1, tab2, ivy]) assert.deepEqual(await lines(page), ['hello world', 'message deleted']);
    // A reload replays the history with its changes.
    await ivy.reload();
    await ivy.waitForSelector('#status[data-state="connected"]');
    await waitForLine(ivy, 'message deleted');
    assert.deepEqual(await lines(ivy), ['hello world', 'message deleted']);

    // A group with a title: its creator's page and the other member's "talk to" name it by its title; a rename shows everywhere.
    await tab1.type('#group-users', 'ivy');
    await tab1.type('#group-title', 'Trip');
    await tab1.click('#group-create');
    await tab1.waitForFunction("document.querySelector('#who').textContent === 'hal → Trip'");
    const group = await tab1.$eval('#talk-to', (e) => (e as unknown as { value: string }).value);
    await ivy.waitForFunction(
      `[...document.querySelector('#talk-to').options].some((o) => o.value === ${JSON.stringify(group)} && o.textContent.startsWith('group Trip'))`,
    );
    await ivy.select('#talk-to', group);
    await ivy.type('#group-title', 'Trip 2027');
    await ivy.click('#group-rename');
    await tab1.waitForFunction("document.querySelector('#who').textContent === 'hal → Trip 2027'");
    await tab2.waitForFunction(
      `[...document.querySelector('#talk-to').options].some((o) => o.value === ${JSON.stringify(group)} && o.textContent.startsWith('group Trip 2027'))`,
    );
    await waitForLine(tab1, 'ivy named the group "Trip 2027"');
    await tab1.screenshot({ path: `${TEST_OUTPUT}/chat-page-edits.png` });
    assert.deepEqual(outside, [], 'the page loads nothing from outside the gateway and throws nothing');
  });

  it('follows CONNECT_ALLOWED_ORIGINS: a page whose origin is not allowed says so and its WebSocket is refused', async () => {
    connect.kill('SIGTERM');
    await connect.exited;
    connect = await startConnect({ CONNECT_ALLOWED_ORIGINS: 'https://chat.example.com' });
    const page = await openPage();
    await page.waitForSelector('#origin-warning:not([hidden])');
    const warning = await page.$eval('#origin-warning', (e) => e.textContent ?? '');
    assert.match(warning, new RegExp(`origin http://127\\.0\\.0\\.1:${wsPort} is not in the gateway's CONNECT_ALLOWED_ORIGINS`));
    await page.type('#user', 'carol');
    await page.type('#peer', 'alice');
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="reconnecting"]');
    const notes = await page.$$eval('#messages li.note', (ls) => ls.map((l) => l.textContent ?? ''));
    assert.match(notes[0] ?? '', /connection lost \(1006 origin http:\/\/127\.0\.0\.1:\d+ is not allowed by the gateway\)/);
  });

  it('is not served unless enabled, and is served with a Content-Security-Policy that keeps it on the gateway', async () => {
    const page = await getJson(`http://127.0.0.1:${wsPort}/`);
    assert.equal(page.status, 200);
    const res = await fetch(`http://127.0.0.1:${wsPort}/`);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'; style-src 'self'/);
    assert.equal((await fetch(`http://127.0.0.1:${wsPort}/static/connect/config.js`)).status, 404, 'only the page files are served');

    connect.kill('SIGTERM');
    await connect.exited;
    connect = await startConnect({ CONNECT_DEMO_PAGE: 'false' });
    assert.equal((await fetch(`http://127.0.0.1:${wsPort}/`)).status, 404);
  });
});
