import { GroupCommit, type ItemResult } from '../../shared/group-commit.js';
import { IndexUpdateError, type MessageStore } from '../adapters/store.js';
import type { Message } from '../../shared/message.js';

interface Insert {
  messages: readonly Message[];
  members: ReadonlyMap<string, readonly string[]>;
}

/**
 * The store with `insertMessages` group-committed across partitions: the batches of every partition
 * that arrive while the writes in flight (at most `maxInFlight`) run go out together as the next
 * write, so under load the store sees a bounded number of writes per round trip instead of one per
 * partition batch, while a quiet consumer still writes its few batches side by side.
 *
 * Each caller keeps the contract of `insertMessages` for its own batch: the messages are written
 * in one ordered insert, caller after caller, so a stop (a msgId or seq taken) falls inside one
 * caller's batch; that caller gets its stored prefix, the callers before it all of theirs, and
 * the callers after it are written again in the next round. An index failure gives each caller
 * an IndexUpdateError with its own stored prefix.
 */
export function groupInserts(store: MessageStore, opts: { maxMessages: number; maxInFlight?: number }): MessageStore {
  const writer = new GroupCommit<Insert, number>((inserts) => writeInOrder(store, inserts, opts.maxMessages), {
    maxItems: Number.MAX_SAFE_INTEGER,
    maxInFlight: opts.maxInFlight ?? 1,
    gather: true,
  });
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'insertMessages') {
        return (messages: readonly Message[], members: ReadonlyMap<string, readonly string[]>): Promise<number> =>
          messages.length === 0 ? Promise.resolve(0) : writer.submit({ messages, members });
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/** Writes the inserts in rounds of at most `maxMessages` messages (a single larger insert goes alone). */
async function writeInOrder(store: MessageStore, inserts: readonly Insert[], maxMessages: number): Promise<ItemResult<number>[]> {
  const results: ItemResult<number>[] = [];
  let next = 0;
  while (next < inserts.length) {
    let end = next + 1;
    let size = inserts[next]!.messages.length;
    while (end < inserts.length && size + inserts[end]!.messages.length <= maxMessages) size += inserts[end++]!.messages.length;
    const round = inserts.slice(next, end);
    const settled = await writeRound(store, round);
    results.push(...settled);
    // The callers after the one the insert stopped in are written again in the next round.
    next += settled.length;
  }
  return results;
}

/**
 * One ordered insert of the round's messages. Returns one result per caller up to and including
 * the one the insert stopped in (all of them when it did not stop).
 */
async function writeRound(store: MessageStore, round: readonly Insert[]): Promise<ItemResult<number>[]> {
  const messages = round.length === 1 ? round[0]!.messages : round.flatMap((i) => i.messages);
  const members = round.length === 1 ? round[0]!.members : new Map(round.flatMap((i) => [...i.members]));
  let inserted: number;
  let indexFailure: unknown;
  try {
    inserted = await store.insertMessages(messages, members);
  } catch (err: unknown) {
    if (!(err instanceof IndexUpdateError)) throw err;
    inserted = err.inserted;
    indexFailure = err;
  }
  const results: ItemResult<number>[] = [];
  let offset = 0;
  for (const insert of round) {
    const own = Math.max(0, Math.min(insert.messages.length, inserted - offset));
    offset += insert.messages.length;
    if (indexFailure !== undefined) {
      results.push({ ok: false, error: new IndexUpdateError(own, { cause: indexFailure }) });
      continue;
    }
    results.push({ ok: true, value: own });
    // The insert stopped in this caller's batch: the rest of the round goes again.
    if (own < insert.messages.length) break;
  }
  return results;
}
