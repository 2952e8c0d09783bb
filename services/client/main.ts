/**
 * The Switchboard test client.
 *   npm run client -- --user 1001 --target 1002            interactive chat: type lines to send
 *   npm run client -- --user 1001 --target 1002 --send hi  send once, print `accepted`, exit
 *   npm run client -- --user 1002 --wait 3                 print the next 3 `message` frames, exit
 * Options: --url (default ws://localhost:21005/ws; wss:// with --ca FILE for a private CA), --token JWT (instead of ?user=), --jwt-secret S
 * (mints a 10-minute HS256 token for --user with the gateway's secret), --id for --send,
 * --history N (messages per conversation shown on joining), --timeout S (one-shot modes).
 *
 * The interactive client stays until /quit or end of input, reconnects with backoff when the
 * gateway goes away, catches up on what it missed, and resends unaccepted sends with their ids.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createInterface, clearLine, cursorTo, moveCursor, type Interface } from 'node:readline';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { ChatClient, SUBPROTOCOL, describeMembership, directConversation, type ChatEvent, type ClientSocket, type SocketHandlers } from './sdk/index.js';

/** The PEM CA file of --ca; a file that cannot be read is a usage error. */
function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err: unknown) {
    return usage(`--ca ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run client -- --user ID [--target ID | --group ID] [--send TEXT [--id ID]] [--wait N] [--url URL] [--ca FILE] [--token JWT | --jwt-secret SECRET] [--history N] [--timeout S]\n`,
  );
  process.exit(2);
}

const OPTIONS = {
  user: { type: 'string' },
  target: { type: 'string' },
  group: { type: 'string' },
  url: { type: 'string', default: 'ws://localhost:21005/ws' },
  token: { type: 'string' },
  'jwt-secret': { type: 'string' },
  ca: { type: 'string' },
  send: { type: 'string' },
  id: { type: 'string' },
  wait: { type: 'string' },
  history: { type: 'string', default: '20' },
  timeout: { type: 'string', default: '30' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--group -abc` as `--group=-abc`: parseArgs takes a value that starts with '-' only when attached,
 * and ids (a user, a group's id after grp:, a send id) and text may start with one. A word that is
 * one of the options is left an option.
 */
function attachValues(argv: readonly string[]): string[] {
  const isOption = (w: string) => w === '-h' || (w.startsWith('--') && Object.hasOwn(OPTIONS, w.slice(2).split('=')[0]!));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    const next = argv[i + 1];
    const takesValue = w.startsWith('--') && !w.includes('=') && (OPTIONS as Partial<Record<string, { type: string }>>)[w.slice(2)]?.type === 'string';
    if (takesValue && next !== undefined && next.startsWith('-') && !isOption(next)) {
      out.push(`${w}=${next}`);
      i++;
    } else out.push(w);
  }
  return out;
}

let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];
try {
  ({ values } = parseArgs({ args: attachValues(process.argv.slice(2)), options: OPTIONS, strict: true }));
} catch (err: unknown) {
  usage(err instanceof Error ? err.message : String(err));
}
if (values.help) usage('Switchboard test client.');
if (values.group !== undefined && values.target !== undefined) usage('--group and --target exclude each other');
// A group is named by its conversation id (grp:…) or by the id after grp:.
if (values.group !== undefined) values.target = values.group.startsWith('grp:') ? values.group : `grp:${values.group}`;
if (!values.user && !values.token) usage('--user or --token is required');
if (values.send !== undefined && !values.target) usage('--send needs --target or --group');
const waitFor = values.wait === undefined ? 0 : Number(values.wait);
if (!Number.isSafeInteger(waitFor) || waitFor < 0) usage('--wait takes a whole number');
const historyLimit = Number(values.history);
if (!Number.isSafeInteger(historyLimit) || historyLimit < 0) usage('--history takes a whole number');
const timeoutSeconds = Number(values.timeout);
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) usage('--timeout takes a positive number of seconds');
const oneShot = values.send !== undefined || values.wait !== undefined;
if (!oneShot && !values.target) usage('interactive mode needs --target (a user) or --group (a group)');
if (values['jwt-secret'] !== undefined && !values.user) usage('--jwt-secret needs --user (the token subject)');

const token =
  values.token ??
  (values['jwt-secret'] !== undefined
    ? await new SignJWT({ sub: values.user! })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(values['jwt-secret']))
    : undefined);
const url = new URL(values.url);
if (values.user && !token) url.searchParams.set('user', values.user);
if (values.ca !== undefined && url.protocol !== 'wss:') usage('--ca goes with a wss:// --url');
/** The CA a wss:// gateway's certificate is checked against, besides the system's (--ca). */
const ca = values.ca === undefined ? undefined : readCa(values.ca);

/** Opens one `ws` socket and adapts it to the SDK's client (refusals carry the HTTP status and body). */
function openSocket(h: SocketHandlers): ClientSocket {
  const ws = new WebSocket(url, SUBPROTOCOL, { ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), ...(ca ? { ca } : {}) });
  let refusal: { status: number; message: string } | undefined;
  ws.on('open', () => h.onOpen());
  ws.on('message', (data) => h.onMessage(data.toString()));
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => {
      refusal = { status: res.statusCode ?? 0, message: `HTTP ${res.statusCode} ${body}`.trim() };
      ws.terminate();
    });
  });
  ws.on('error', (err) => (refusal ??= { status: 0, message: err.message }));
  ws.on('close', (code, reason) => {
    // A failed connection attempt (no server) is not a refusal: it is retried.
    const final = refusal && refusal.status !== 0 ? refusal : undefined;
    h.onClose(code, refusal && !final ? refusal.message : reason.toString(), final);
  });
  return { send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason) };
}

const timerOptions = {
  newId: () => randomUUID(),
  setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimer: (t: unknown) => clearTimeout(t as NodeJS.Timeout),
};

if (oneShot) runOneShot();
else runInteractive();

/** `--send` and `--wait`: JSON lines on stdout, exit 0 when done, 1 on refusal, error or timeout. */
function runOneShot(): void {
  let received = 0;
  let pendingSend = values.send !== undefined;
  const finishIfDone = (): void => {
    if (!pendingSend && received >= waitFor) core.stop();
  };
  const out = (frame: unknown): void => void process.stdout.write(`${JSON.stringify(frame)}\n`);
  const core = new ChatClient({
    ...timerOptions,
    open: openSocket,
    catchUp: false,
    onEvent(e: ChatEvent) {
      switch (e.kind) {
        case 'connected':
          // On stderr, so stdout stays JSON lines: a script (or a person) knows the client is in.
          if (waitFor > 0) process.stderr.write(`connected as ${e.user}; waiting for ${waitFor - received} message${waitFor - received === 1 ? '' : 's'}\n`);
          finishIfDone();
          break;
        case 'frame':
          if (e.frame.type === 'accepted') out(e.frame);
          if (e.frame.type === 'message' && received < waitFor) {
            received++;
            out(e.frame);
          }
          break;
        case 'accepted':
          pendingSend = false;
          finishIfDone();
          break;
        case 'message':
          finishIfDone();
          break;
        case 'send-failed':
          process.stderr.write(`error ${e.code} (${e.id}): ${e.message}\n`);
          process.exit(1);
          break;
        case 'refused':
          process.stderr.write(`connection refused: ${e.message}\n`);
          process.exit(1);
          break;
        case 'disconnected':
          process.stderr.write(
            e.retryInMs < 0
              ? `disconnected by the server (${e.code}${e.reason ? ` ${e.reason}` : ''}); not reconnecting\n`
              : `connection lost (${e.code}${e.reason ? ` ${e.reason}` : ''}); retrying in ${(e.retryInMs / 1000).toFixed(1)} s\n`,
          );
          break;
        case 'error':
          process.stderr.write(`error ${e.code}: ${e.message}\n`);
          break;
        case 'stopped':
          process.exit(0);
          break;
        default:
          break;
      }
    },
  });
  setTimeout(() => {
    process.stderr.write(`timed out after ${timeoutSeconds}s (${received}/${waitFor} messages${pendingSend ? ', send not accepted' : ''})\n`);
    process.exit(1);
  }, timeoutSeconds * 1000).unref();
  if (values.send !== undefined) core.send(values.target!, values.send, values.id);
  core.start();
}

/** The chat: pushes and history printed as they come, typed lines sent to the target. */
function runInteractive(): void {
  const tty = process.stdin.isTTY && process.stdout.isTTY;
  let target = values.target!;
  // Assigned once the chat client exists; the printers above read it (and fall back to stdout until then).
  // eslint-disable-next-line prefer-const
  let rl: Interface | undefined;
  let missed = 0;
  let reconnecting = false;
  let lost = false;
  let quitting = false;
  const retried = new Set<string>();
  /** Unread messages per conversation, as the SDK counts them from the server's read markers. */
  const unread = new Map<string, number>();
  /** The person whose online state is followed (once a conversation with them exists). */
  let following = '';
  const targetConversation = (): string => (target.startsWith('grp:') ? target : directConversation(core.user ?? values.user ?? '', target));

  /** Prints a line above what the person is typing (the prompt and their input stay intact). */
  const print = (line: string): void => {
    if (tty && rl) {
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
      process.stdout.write(`${line}\n`);
      rl.prompt(true);
    } else process.stdout.write(`${line}\n`);
  };
  /** A group is shown by its title once it has one. */
  const nameOf = (conversation: string): string => core.titleOf(conversation) ?? conversation;
  const prompt = (): string => `${values.user ?? 'you'} → ${nameOf(target)}> `;
  const notConnected = (): void => print('not connected; try again once connected');
  /** What a message says after its sender's name: the text, an edit or a deletion of an earlier one, a group change. */
  const saying = (m: { from: string; body: string; kind?: string; members?: string[]; ref?: number }): string => {
    if (m.kind === undefined) return `: ${m.body}`;
    if (m.kind === 'edited') return ` edited #${m.ref}: ${m.body}`;
    if (m.kind === 'deleted') return ` deleted #${m.ref}`;
    return ` ${describeMembership(m.kind, m.members ?? [], m.from, m.body)}`;
  };
  const showMessage = (m: { conversation: string; seq?: number; from: string; body: string; kind?: string; members?: string[]; ref?: number }): void =>
    print(`[${nameOf(m.conversation)}${m.seq === undefined ? '' : ` #${m.seq}`}] ${m.from}${saying(m)}`);
  /** This user's last text per conversation (its seq, or the msgId of a send, which the SDK resolves): what /edit and /delete change by default. */
  const lastOwn = new Map<string, number | string>();
  /** Edits or deletes a message of the current conversation: `/edit [#N] text`, `/delete [#N]` (default: this user's last). */
  const change = (words: string[], edit: boolean): void => {
    const conversation = targetConversation();
    const named = /^#?(\d+)$/.exec(words[0] ?? '');
    const ref = named ? Number(named[1]) : lastOwn.get(conversation);
    const body = (named ? words.slice(1) : words).join(' ');
    if (ref === undefined) print('nothing of yours to change here; name a message: #N');
    else if (edit && body === '') print('usage: /edit [#N] new text');
    else if ((edit ? core.edit(conversation, ref, body) : core.deleteMessage(conversation, ref)) === undefined) notConnected();
  };
  const group = (...request: Parameters<ChatClient['group']>): void => {
    if (!core.group(...request)) notConnected();
  };
  const switchTo = (to: string): void => {
    target = to;
    if (to.startsWith('grp:')) core.follow(to);
    rl?.setPrompt(prompt());
    print(`now talking to ${nameOf(target)}`);
    core.markRead(targetConversation());
    if (following !== '') {
      following = '';
      core.followPresence([]);
    }
  };

  const core = new ChatClient({
    ...timerOptions,
    open: openSocket,
    historyLimit,
    onEvent(e: ChatEvent) {
      switch (e.kind) {
        case 'connecting':
          if (e.attempt === 1) print(`connecting to ${values.url} …`);
          break;
        case 'connected':
          lost = false;
          if (e.reconnect) {
            print(`reconnected as ${e.user} (${e.connection} on ${e.instance}); catching up`);
            reconnecting = true;
            missed = 0;
          } else {
            print(`connected as ${e.user} (${e.connection} on ${e.instance}); type a line to send to ${target}, /quit to leave, /help for more`);
          }
          break;
        case 'caught-up':
          if (reconnecting) print(`caught up: ${missed} message${missed === 1 ? '' : 's'} arrived while away`);
          reconnecting = false;
          break;
        case 'disconnected': {
          if (e.retryInMs < 0) {
            print(`disconnected by the server (${e.code}${e.reason ? ` ${e.reason}` : ''}); not reconnecting`);
            break;
          }
          const queued = core.pendingSends;
          const why = `${e.code}${e.reason ? ` ${e.reason}` : ''}`;
          const next = `${(e.retryInMs / 1000).toFixed(1)} s`;
          print(
            (lost ? `still reconnecting (${why}); next attempt in ${next}` : `connection lost (${why}); reconnecting in ${next}`) +
              (queued > 0 ? `; ${queued} unsent message${queued === 1 ? '' : 's'} will go out then` : ''),
          );
          lost = true;
          break;
        }
        case 'history-reset':
          print(`(the server has lost the history of ${e.conversation}: its backends were restarted without storage)`);
          break;
        case 'refused':
          print(`connection refused: ${e.message}`);
          process.exitCode = 1;
          break;
        case 'message':
          if (!e.live && reconnecting) missed++;
          if (e.message.from === core.user && e.message.kind === undefined) lastOwn.set(e.message.conversation, e.message.seq);
          showMessage(e.message);
          // What is printed in the conversation being talked in is read.
          if (e.message.conversation === targetConversation()) core.markRead(e.message.conversation);
          break;
        case 'unread':
          unread.set(e.conversation, e.unread);
          // The conversation with the person talked to exists: follow whether they are online.
          if (e.conversation === targetConversation() && !target.startsWith('grp:') && following !== target) {
            following = target;
            core.followPresence([target]);
          }
          break;
        case 'receipt':
          print(`(${e.user} read ${e.conversation} up to #${e.seq})`);
          break;
        case 'typing':
          if (e.active) print(`(${e.user} is typing in ${e.conversation}…)`);
          break;
        case 'presence':
          print(`(${e.user} is ${e.online ? 'online' : 'offline'})`);
          break;
        case 'title':
          if (e.conversation === target) rl?.setPrompt(prompt());
          break;
        case 'change':
          if (!e.accepted) print(`not changed (${e.code ?? ''}: ${e.message ?? ''})`);
          break;
        case 'accepted':
          retried.delete(e.id);
          lastOwn.set(e.conversation, e.msgId);
          showMessage({ conversation: e.conversation, from: core.user ?? 'you', body: e.body });
          if (quitting && core.pendingSends === 0) core.stop();
          break;
        case 'send-retry':
          if (!retried.has(e.id)) print(`(${e.code}: resending "${e.id.slice(0, 8)}…" shortly)`);
          retried.add(e.id);
          break;
        case 'send-failed':
          print(`not sent (${e.code}: ${e.message}): ${e.body}`);
          if (quitting && core.pendingSends === 0) core.stop();
          break;
        case 'group':
          // Answers to the group commands (create, add, remove, leave, members).
          if (e.action === 'create') {
            print(`created ${e.conversation}; others join with: npm run client -- --user ID --group ${e.conversation}`);
            switchTo(e.conversation);
          } else if (e.action === 'members') print(`members of ${e.conversation}: ${(e.members ?? []).join(', ')}`);
          else print(`${e.action}: done`);
          break;
        case 'error':
          print(`error ${e.code}: ${e.message}`);
          break;
        case 'stopped':
          rl?.close();
          process.exit();
          break;
        default:
          break;
      }
    },
  });

  const quit = (): void => {
    if (quitting) return;
    quitting = true;
    const pending = core.pendingSends;
    if (pending === 0) {
      core.stop();
      return;
    }
    print(`waiting up to ${timeoutSeconds} s for ${pending} unsent message${pending === 1 ? '' : 's'}`);
    setTimeout(() => {
      print(`${core.pendingSends} message(s) not sent`);
      process.exitCode = 1;
      core.stop();
    }, timeoutSeconds * 1000).unref();
  };

  rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: prompt() });
  rl.on('line', (line) => {
    if (tty) {
      // Replace the echoed input with the message line once it is accepted.
      moveCursor(process.stdout, 0, -1);
      clearLine(process.stdout, 0);
    }
    const text = line.trim();
    if (text === '/quit') {
      quit();
      return;
    }
    const words = text.split(/\s+/).slice(1);
    const inGroup = target.startsWith('grp:');
    if (text === '/help') {
      print(
        [
          '/to ID           talk to another user, or to a group (grp:…)',
          '/group ID ID …   create a group with these users and talk to it',
          '/add ID …        add users to the current group',
          '/remove ID …     remove users from the current group',
          '/leave           leave the current group',
          '/title TEXT      give the current group a title',
          '/edit [#N] TEXT  replace the text of your message #N (default: your last one here)',
          '/delete [#N]     delete your message #N (default: your last one here)',
          "/members         list the current group's members",
          '/unread          list the conversations with unread messages',
          '/quit            leave (unsent messages are sent first)',
          'anything else is sent to the current peer or group',
        ].join('\n'),
      );
    } else if (text.startsWith('/to ')) switchTo(text.slice(4).trim());
    else if (text === '/group' || text.startsWith('/group ')) group('create', { members: words });
    else if (/^\/(add|remove|leave|members|title)\b/.test(text) && !inGroup) print(`${text.split(' ')[0]} works in a group; /to grp:… or /group first`);
    else if (text.startsWith('/add ')) group('add', { conversation: target, members: words });
    else if (text.startsWith('/remove ')) group('remove', { conversation: target, members: words });
    else if (text === '/leave') group('leave', { conversation: target });
    else if (text === '/members') group('members', { conversation: target });
    else if (text.startsWith('/title ')) group('title', { conversation: target, title: text.slice(7).trim() });
    else if (text === '/edit' || text.startsWith('/edit ')) change(words, true);
    else if (text === '/delete' || text.startsWith('/delete ')) change(words, false);
    else if (text === '/unread') {
      const list = [...unread].filter(([, n]) => n > 0);
      print(list.length === 0 ? 'nothing unread' : list.map(([c, n]) => `${c}: ${n} unread`).join('\n'));
    } else if (text !== '') core.send(target, text);
    if (tty) rl.prompt();
  });
  rl.on('close', quit);
  // Keystrokes tell the peer that this user is typing (the SDK sends a frame every 2 s at most).
  const input = rl;
  if (tty)
    process.stdin.on('keypress', (_s: string | undefined, key: { name?: string } | undefined) => {
      const line = input.line.trim();
      if (key?.name !== 'return' && key?.name !== 'enter' && line !== '' && !line.startsWith('/')) core.typing(target);
    });
  if (target.startsWith('grp:')) core.follow(target);
  core.start();
  if (tty) rl.prompt();
}
