// @ts-check
/**
 * The browser chat page served by Connect at `/` (CONNECT_DEMO_PAGE=true). No build step: it
 * runs on the client SDK (services/client/sdk/, `switchboard/client`) as the terminal client does. The credentials of a tab
 * live in sessionStorage, so a reload reconnects and shows the history, and two tabs can be two
 * users. It shows one conversation at a time (a person, or a group `grp:…`, named by its title),
 * picked in "talk to"; the group bar creates a group, adds, removes, lists members, renames and
 * leaves. One's own messages can be edited (their text goes back into the compose field) and deleted.
 */
import { connect, describeMembership } from '../sdk/index.js';
import { directConversation } from '../../shared/ws-protocol.js';

const USER_ID = /^[A-Za-z0-9_.:@-]{1,64}$/;
const STORAGE_KEY = 'switchboard.chat';

/** @param {string} id @returns {HTMLElement} */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));

/** @returns {{user?: string, token?: string, peer: string} | undefined} */
function savedLogin() {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
}

/** The `sub` of a JWT, read without verifying it (only to label the page; the gateway verifies). */
function tokenSubject(/** @type {string} */ token) {
  try {
    const part = token.split('.')[1] ?? '';
    return String(JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))).sub ?? '');
  } catch {
    return '';
  }
}

/** @param {string} state @param {string} text */
function setStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

const config = await fetch('config.json').then((r) => r.json());
/** @type {import('../sdk/index.js').ChatClient | undefined} */
let core;

function showLogin() {
  $('login').hidden = false;
  $('chat').hidden = true;
  const dev = config.authMode === 'insecure-dev';
  $('user-field').hidden = !dev;
  $('auth-hint').textContent = dev
    ? 'This gateway runs AUTH_MODE=insecure-dev: any user id is accepted (or paste a token instead). Never use that outside development.'
    : 'This gateway verifies JWTs; the token is sent as ?token= on the WebSocket URL.';
  if (!config.originAllowed) {
    const warning = $('origin-warning');
    warning.hidden = false;
    warning.textContent = `This page's origin ${config.origin ?? ''} is not in the gateway's CONNECT_ALLOWED_ORIGINS, so the gateway will refuse its WebSocket (HTTP 403).`;
  }
  const saved = savedLogin();
  if (saved) {
    input('user').value = saved.user ?? '';
    input('peer').value = saved.peer;
  }
}

/** User ids from "a, b c": split on spaces and commas. */
function userList(/** @type {string} */ text) {
  return text.split(/[\s,]+/).filter((u) => u !== '');
}

/** @param {{user?: string, token?: string, peer: string}} login */
function startChat(login) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(login));
  let me = login.user ?? tokenSubject(login.token ?? '');
  let peer = login.peer;
  $('login').hidden = true;
  $('chat').hidden = false;
  $('messages').replaceChildren();
  $('talk-to').replaceChildren();
  /** @type {Map<string, HTMLElement>} */
  const pending = new Map();
  /** Unread messages by peer, as the SDK counts them from the server's read markers. @type {Map<string, number>} */
  const unread = new Map();
  /** The newest read receipt of each direct conversation: who read it up to which seq. @type {Map<string, {user: string, seq: number}>} */
  const receipts = new Map();
  /** Who is typing in each conversation. @type {Map<string, Set<string>>} */
  const typists = new Map();
  /** The online state of the people this user talks to directly (followed). @type {Map<string, boolean>} */
  const online = new Map();
  /** The line of the own message being edited in the compose field. @type {HTMLElement | undefined} */
  let editing;
  const talkTo = /** @type {HTMLSelectElement} */ ($('talk-to'));
  let refusedHint = '';

  const conversationOf = (/** @type {string} */ p) => (p.startsWith('grp:') ? p : directConversation(me, p));
  /** The peer a conversation is talked to through: the group itself, or the other user of a dm. */
  const peerOf = (/** @type {string} */ conversation) => {
    if (!conversation.startsWith('dm:')) return conversation;
    const pair = conversation.slice(3);
    if (pair.startsWith(`${me}:`)) return pair.slice(me.length + 1);
    if (pair.endsWith(`:${me}`)) return pair.slice(0, -me.length - 1);
    return pair;
  };
  /** Adds a conversation to "talk to" (once) and refreshes its unread count. */
  const listPeer = (/** @type {string} */ p) => {
    let option = /** @type {HTMLOptionElement | undefined} */ ([...talkTo.options].find((o) => o.value === p));
    if (!option) {
      option = document.createElement('option');
      option.value = p;
      talkTo.append(option);
    }
    const n = unread.get(p) ?? 0;
    option.textContent = `${p.startsWith('grp:') ? 'group ' : ''}${nameOf(p)}${n > 0 ? ` (${n} new)` : ''}`;
    option.title = p;
  };
  /** What a conversation is called: a group by its title (its id until it has one), a person by their id. */
  const nameOf = (/** @type {string} */ p) => core?.titleOf(p) ?? p;
  const showWho = () => {
    $('who').textContent = `${me || 'you'} → ${nameOf(peer)}`;
  };
  /** Shows the shown conversation's newest read receipt (a direct conversation's peer read it up to a seq). */
  const showReceipt = () => {
    const r = receipts.get(conversationOf(peer));
    const el = $('receipt');
    el.hidden = r === undefined;
    el.textContent = r ? `${r.user} read up to #${r.seq}` : '';
  };
  /** Shows whether the person of the shown direct conversation is online. */
  const showPresence = () => {
    const el = $('presence');
    const state = peer.startsWith('grp:') ? undefined : online.get(peer);
    el.hidden = state === undefined;
    el.dataset.online = String(state === true);
    el.textContent = state ? 'online' : 'offline';
  };
  /** The people this user has a direct conversation with (one with messages): their presence is followed. @type {Set<string>} */
  const people = new Set();
  const followPerson = (/** @type {string} */ p) => {
    if (p.startsWith('grp:') || p === me || people.has(p) || people.size >= 100) return;
    people.add(p);
    core?.followPresence([...people]);
  };
  /** Shows who is typing in the shown conversation. */
  const showTyping = () => {
    const who = [...(typists.get(conversationOf(peer)) ?? [])];
    const el = $('typing');
    el.hidden = who.length === 0;
    el.textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
  };
  /** Marks the shown conversation read while the person can see it (this tab visible). */
  const markShownRead = () => {
    if (document.visibilityState === 'visible') core?.markRead(conversationOf(peer));
  };
  /** Shows one conversation: its lines, its name, the group buttons when it is a group. */
  const switchTo = (/** @type {string} */ p) => {
    peer = p;
    listPeer(p);
    talkTo.value = p;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ...login, peer }));
    showWho();
    $('group-only').hidden = !peer.startsWith('grp:');
    if (peer.startsWith('grp:')) core?.follow(peer);
    const shown = conversationOf(peer);
    for (const li of /** @type {NodeListOf<HTMLElement>} */ ($('messages').querySelectorAll('li[data-conversation]')))
      li.hidden = li.dataset.conversation !== shown;
    showReceipt();
    showTyping();
    showPresence();
    markShownRead();
  };

  /** @param {string} text @param {string} [cls] @param {string} [meta] @param {string} [conversation] */
  const addLine = (text, cls = '', meta = '', conversation = '') => {
    const list = $('messages');
    const li = document.createElement('li');
    li.className = cls;
    const t = document.createElement('span');
    t.className = 'text';
    t.textContent = text;
    li.append(t);
    if (meta) {
      const m = document.createElement('span');
      m.className = 'meta';
      m.textContent = meta;
      li.append(m);
    }
    if (conversation) {
      li.dataset.conversation = conversation;
      li.hidden = conversation !== conversationOf(peer);
    }
    list.append(li);
    list.scrollTop = list.scrollHeight;
    return li;
  };

  const notConnected = () => addLine('not connected; try again once connected', 'note');
  /** Gives an own text line its edit and delete buttons. @param {HTMLElement} li */
  const ownLine = (li) => {
    const tools = document.createElement('span');
    tools.className = 'line-tools';
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'link edit';
    edit.textContent = 'edit';
    edit.onclick = () => {
      editing = li;
      input('text').value = li.querySelector('.text')?.textContent ?? '';
      $('send').textContent = 'Save';
      $('compose').dataset.editing = 'true';
      input('text').focus();
    };
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'link delete';
    del.textContent = 'delete';
    del.onclick = () => {
      if (!core?.deleteMessage(li.dataset.conversation ?? '', refOf(li))) notConnected();
    };
    tools.append(edit, del);
    li.append(tools);
  };
  /** The message a line shows: its seq, or the msgId of a send whose seq this tab does not know yet. */
  const refOf = (/** @type {HTMLElement} */ li) => (li.dataset.seq ? Number(li.dataset.seq) : (li.dataset.msgId ?? ''));
  const stopEditing = () => {
    editing = undefined;
    $('send').textContent = 'Send';
    delete $('compose').dataset.editing;
    input('text').value = '';
  };
  /** Shows an edit or a deletion on the line of the message it changes (when this tab shows it). @param {import('../sdk/index.js').ChatMessage} m */
  const applyChange = (m) => {
    const li = /** @type {HTMLElement | null} */ (
      $('messages').querySelector(`li[data-conversation="${CSS.escape(m.conversation)}"][data-seq="${String(m.ref)}"]`)
    );
    // A deleted message stays deleted.
    if (!li || li.classList.contains('deleted')) return;
    const text = /** @type {HTMLElement} */ (li.querySelector('.text'));
    const meta = li.querySelector('.meta');
    if (m.kind === 'deleted') {
      li.classList.add('deleted');
      text.textContent = 'message deleted';
      li.querySelector('.line-tools')?.remove();
      if (editing === li) stopEditing();
    } else {
      li.classList.add('edited');
      text.textContent = m.body;
    }
    if (meta && !meta.textContent?.endsWith(m.kind ?? '')) meta.textContent = `${meta.textContent} · ${m.kind}`;
  };

  /** Asks for a group change or the members (the answer is a `group` event). @param {Parameters<import('../sdk/index.js').ChatClient['group']>} request */
  const group = (...request) => {
    if (!core?.group(...request)) notConnected();
  };

  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  core = connect({
    url,
    ...(login.token ? { token: login.token } : { user: login.user ?? '' }),
    // A browser hides why an upgrade failed: name the likely cause.
    unopenedReason: () => refusedHint,
    onEvent(e) {
      switch (e.kind) {
        case 'connecting':
          if (e.attempt === 1) setStatus('connecting', 'connecting…');
          break;
        case 'connected':
          if (me !== e.user) {
            me = e.user;
            switchTo(peer);
          }
          setStatus('connected', `connected as ${e.user} on ${e.instance}`);
          if (e.reconnect) addLine(`reconnected (${e.instance}); catching up`, 'note');
          break;
        case 'disconnected':
          if (e.retryInMs < 0) {
            // Disconnected for good (4403): the application decides what comes next.
            setStatus('refused', `disconnected: ${e.reason || e.code}`);
            addLine(`disconnected by the server (${e.code}${e.reason ? ` ${e.reason}` : ''}); not reconnecting`, 'note');
            break;
          }
          setStatus('reconnecting', `reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`);
          addLine(`connection lost (${e.code}${e.reason ? ` ${e.reason}` : ''}); reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`, 'note');
          break;
        case 'history-reset':
          addLine(`the server lost the history of ${e.conversation} (backends restarted without storage)`, 'note');
          break;
        case 'message': {
          const m = e.message;
          listPeer(peerOf(m.conversation));
          if (m.kind === 'edited' || m.kind === 'deleted') {
            applyChange(m);
            if (m.conversation === conversationOf(peer)) markShownRead();
            break;
          }
          const mine = m.from === core?.user;
          const membership = m.kind !== undefined;
          const text = membership ? `${m.from} ${describeMembership(m.kind ?? '', m.members ?? [], m.from, m.body)}` : m.body;
          const li = addLine(
            text,
            membership ? 'membership' : mine ? 'mine' : '',
            `${m.from} · ${m.conversation} #${m.seq} · ${new Date(m.ts).toLocaleTimeString()}`,
            m.conversation,
          );
          li.dataset.msgId = m.msgId;
          li.dataset.seq = String(m.seq);
          if (mine && !membership) ownLine(li);
          if (m.conversation === conversationOf(peer)) markShownRead();
          break;
        }
        case 'unread': {
          // A read here or on another device, or a new message: the count next to the conversation.
          const p = peerOf(e.conversation);
          unread.set(p, e.unread);
          listPeer(p);
          followPerson(p);
          break;
        }
        case 'typing': {
          const set = typists.get(e.conversation) ?? new Set();
          if (e.active) set.add(e.user);
          else set.delete(e.user);
          typists.set(e.conversation, set);
          if (e.conversation === conversationOf(peer)) showTyping();
          break;
        }
        case 'presence':
          online.set(e.user, e.online);
          if (e.user === peer) showPresence();
          break;
        case 'receipt':
          receipts.set(e.conversation, { user: e.user, seq: e.seq });
          if (e.conversation === conversationOf(peer)) showReceipt();
          break;
        case 'accepted': {
          const li = pending.get(e.id);
          pending.delete(e.id);
          if (!li) break;
          li.classList.remove('pending');
          li.dataset.msgId = e.msgId;
          li.dataset.conversation = e.conversation;
          const meta = li.querySelector('.meta');
          if (meta) meta.textContent = `${core?.user ?? 'you'} · ${e.conversation} · sent`;
          ownLine(li);
          break;
        }
        case 'sequenced': {
          // This tab's own send got its seq: edits and deletions of it name it from now on.
          const li = /** @type {HTMLElement | null} */ ($('messages').querySelector(`li[data-msg-id="${CSS.escape(e.msgId)}"]`));
          if (li) {
            li.dataset.seq = String(e.seq);
            const meta = li.querySelector('.meta');
            if (meta) meta.textContent = `${core?.user ?? 'you'} · ${e.conversation} #${e.seq} · sent`;
          }
          break;
        }
        case 'change':
          if (!e.accepted) addLine(`not changed: ${e.code ?? ''} ${e.message ?? ''}`, 'note');
          break;
        case 'title':
          listPeer(e.conversation);
          if (e.conversation === peer) showWho();
          break;
        case 'send-failed': {
          const li = pending.get(e.id);
          pending.delete(e.id);
          if (li) {
            li.classList.replace('pending', 'failed');
            const meta = li.querySelector('.meta');
            if (meta) meta.textContent = `not sent: ${e.code} ${e.message}`;
          }
          break;
        }
        case 'group':
          // Answers to the group requests; a refusal is reported by the 'error' event.
          if (e.action === 'create') switchTo(e.conversation);
          else if (e.action === 'members') addLine(`members: ${(e.members ?? []).join(', ')}`, 'note members', '', e.conversation);
          break;
        case 'error':
          addLine(`error ${e.code}: ${e.message}`, 'note');
          break;
        default:
          break;
      }
    },
  });
  if (!config.originAllowed) refusedHint = `origin ${config.origin} is not allowed by the gateway`;

  talkTo.onchange = () => switchTo(talkTo.value);
  document.addEventListener('visibilitychange', markShownRead);
  // Every keystroke tells the peer; the SDK sends one frame per conversation every 2 s at most.
  input('text').addEventListener('input', () => {
    if (input('text').value.trim() !== '') core?.typing(peer);
  });
  $('compose').onsubmit = (ev) => {
    ev.preventDefault();
    const text = input('text').value.trim();
    if (!text || !core) return;
    if (editing) {
      if (!core.edit(editing.dataset.conversation ?? '', refOf(editing), text)) notConnected();
      stopEditing();
      return;
    }
    const id = core.send(peer, text);
    pending.set(id, addLine(text, 'mine pending', 'sending…', conversationOf(peer)));
    input('text').value = '';
  };
  /** What is typed in a field of the group bar (the field emptied). */
  const take = (/** @type {string} */ id) => {
    const value = input(id).value.trim();
    input(id).value = '';
    return value;
  };
  const users = () => userList(take('group-users'));
  input('text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && editing) stopEditing();
  });
  $('group-tools').onsubmit = (ev) => {
    ev.preventDefault();
    const t = take('group-title');
    group('create', { members: users(), ...(t ? { title: t } : {}) });
  };
  $('group-rename').onclick = () => group('title', { conversation: peer, title: take('group-title') });
  $('group-add').onclick = () => group('add', { conversation: peer, members: users() });
  $('group-remove').onclick = () => group('remove', { conversation: peer, members: users() });
  $('group-members').onclick = () => group('members', { conversation: peer });
  $('group-leave').onclick = () => group('leave', { conversation: peer });
  switchTo(peer);
  input('text').focus();
}

$('login').onsubmit = (ev) => {
  ev.preventDefault();
  const peer = input('peer').value.trim();
  const user = input('user').value.trim();
  const token = /** @type {HTMLTextAreaElement} */ ($('token')).value.trim();
  if (!USER_ID.test(peer)) return setStatus('refused', 'talk to a user id or a group id (1-64 of A-Z a-z 0-9 _ . : @ -)');
  if (token) return startChat({ token, peer });
  if (config.authMode !== 'insecure-dev') return setStatus('refused', 'paste a token');
  if (!USER_ID.test(user)) return setStatus('refused', 'your user id must be 1-64 of A-Z a-z 0-9 _ . : @ -');
  startChat({ user, peer });
};
$('logout').onclick = () => {
  core?.stop();
  core = undefined;
  sessionStorage.removeItem(STORAGE_KEY);
  setStatus('idle', 'not connected');
  showLogin();
};

const saved = savedLogin();
if (saved && (saved.user || saved.token)) startChat(saved);
else showLogin();
