// @ts-check
/**
 * The browser chat page served by Connect at `/` (CONNECT_DEMO_PAGE=true). No build step: it
 * runs the same protocol logic as the terminal client (chat-core.js). The credentials of a tab
 * live in sessionStorage, so a reload reconnects and shows the history, and two tabs can be two
 * users.
 */
import { ChatCore, SUBPROTOCOL } from './chat-core.js';

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

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // randomUUID needs a secure context; this works everywhere
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {string} state @param {string} text */
function setStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

const config = await fetch('config.json').then((r) => r.json());
/** @type {ChatCore | undefined} */
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

/** @param {string} text @param {string} [cls] @param {string} [meta] */
function addLine(text, cls = '', meta = '') {
  const list = $('messages');
  const li = document.createElement('li');
  li.className = cls;
  li.textContent = text;
  if (meta) {
    const m = document.createElement('span');
    m.className = 'meta';
    m.textContent = meta;
    li.append(m);
  }
  list.append(li);
  list.scrollTop = list.scrollHeight;
  return li;
}

/** @param {{user?: string, token?: string, peer: string}} login */
function startChat(login) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(login));
  const me = login.user ?? tokenSubject(login.token ?? '');
  $('login').hidden = true;
  $('chat').hidden = false;
  $('who').textContent = `${me || 'you'} → ${login.peer}`;
  $('messages').replaceChildren();
  /** @type {Map<string, HTMLElement>} */
  const pending = new Map();
  let refusedHint = '';

  core = new ChatCore({
    newId,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(/** @type {number} */ (t)),
    open(h) {
      const url = new URL('ws', location.href);
      url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
      if (login.token) url.searchParams.set('token', login.token);
      else url.searchParams.set('user', login.user ?? '');
      const ws = new WebSocket(url, SUBPROTOCOL);
      let opened = false;
      ws.onopen = () => {
        opened = true;
        h.onOpen();
      };
      ws.onmessage = (e) => h.onMessage(String(e.data));
      // A browser hides why an upgrade failed: name the likely causes.
      ws.onclose = (e) => h.onClose(e.code, opened ? e.reason : refusedHint || 'gateway unreachable or refused the connection');
      return { send: (t) => ws.send(t), close: (c, r) => ws.close(c, r) };
    },
    onEvent(e) {
      switch (e.kind) {
        case 'connecting':
          if (e.attempt === 1) setStatus('connecting', 'connecting…');
          break;
        case 'connected':
          setStatus('connected', `connected as ${e.user} on ${e.instance}`);
          if (e.reconnect) addLine(`reconnected (${e.instance}); catching up`, 'note');
          break;
        case 'disconnected':
          setStatus('reconnecting', `reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`);
          addLine(`connection lost (${e.code}${e.reason ? ` ${e.reason}` : ''}); reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`, 'note');
          break;
        case 'history-reset':
          addLine(`the server lost the history of ${e.conversation} (backends restarted without storage)`, 'note');
          break;
        case 'message': {
          const m = e.message;
          const mine = m.from === core?.user;
          const li = addLine(m.body, mine ? 'mine' : '', `${m.from} · ${m.conversation} #${m.seq} · ${new Date(m.ts).toLocaleTimeString()}`);
          li.dataset.msgId = m.msgId;
          li.dataset.seq = String(m.seq);
          li.dataset.conversation = m.conversation;
          break;
        }
        case 'accepted': {
          const li = pending.get(e.id);
          pending.delete(e.id);
          if (!li) break;
          li.classList.remove('pending');
          li.dataset.msgId = e.msgId;
          li.dataset.conversation = e.conversation;
          const meta = li.querySelector('.meta');
          if (meta) meta.textContent = `${core?.user ?? 'you'} · ${e.conversation} · sent`;
          break;
        }
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
        case 'error':
          addLine(`error ${e.code}: ${e.message}`, 'note');
          break;
        default:
          break;
      }
    },
  });
  if (!config.originAllowed) refusedHint = `origin ${config.origin} is not allowed by the gateway`;

  $('compose').onsubmit = (ev) => {
    ev.preventDefault();
    const text = input('text').value.trim();
    if (!text || !core) return;
    const id = core.send(login.peer, text);
    pending.set(id, addLine(text, 'mine pending', 'sending…'));
    input('text').value = '';
  };
  core.start();
  input('text').focus();
}

$('login').onsubmit = (ev) => {
  ev.preventDefault();
  const peer = input('peer').value.trim();
  const user = input('user').value.trim();
  const token = /** @type {HTMLTextAreaElement} */ ($('token')).value.trim();
  if (!USER_ID.test(peer)) return setStatus('refused', 'the peer must be a user id (1-64 of A-Z a-z 0-9 _ . : @ -)');
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
