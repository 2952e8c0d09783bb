import { createRequire } from 'node:module';

/**
 * Long polls while the log is idle. A consumer fetch waits up to `maxWaitTime` for `minBytes`
 * (KAFKA_FETCH_MAX_WAIT / KAFKA_FETCH_MIN_BYTES: a few milliseconds for a few KiB, so that the
 * records of a busy log come in batches that share their store writes). With nothing to fetch, that
 * is a fetch every few milliseconds for as long as the log stays idle — 53–56 a second at 15 ms on
 * the test machine, which cost a Message pod 0.05 of a core and the broker as much again. So after a fetch that
 * brought no record, the next one asks for any byte and waits up to the idle wait: the broker answers
 * it as soon as a record arrives (the first record after a quiet spell comes no later than before),
 * and the fetch after that batches again.
 *
 * kafkajs has no setting for this: its consumer group reads `maxWaitTime` and `minBytes` from itself
 * at each fetch (kafkajs 2.2, src/consumer/consumerGroup.js), and this wraps that fetch for the
 * consumer groups registered here. Any other group, or a kafkajs whose consumer group lacks those
 * fields, fetches as kafkajs does (`longPollWhenIdle` returns false when it cannot wrap).
 *
 * The wrap reads kafkajs internals, so kafkajs is pinned to the version it was written and tested
 * against (package.json; a unit test fails when they differ, and the idle-log integration test
 * checks the fetches on the real broker): upgrading kafkajs means reading its consumer group again.
 */

/** The kafkajs version whose consumer group this wraps. */
export const KAFKAJS_WRAPPED_VERSION = '2.2.4';

/** What this reads of a kafkajs fetched batch: true when the fetch brought no record of its partition. */
export interface FetchedBatch {
  isEmptyIncludingFiltered(): boolean;
}
/** The two fetch settings of a kafkajs consumer group. */
export interface FetchSettings {
  maxWaitTime: number;
  minBytes: number;
}
interface ConsumerGroupInternals extends FetchSettings {
  groupId: string;
  [BATCHING]?: FetchSettings;
}
interface ConsumerGroupClass {
  prototype: { fetch(this: ConsumerGroupInternals, nodeId: string): Promise<FetchedBatch[]> };
}

const BATCHING = Symbol('the fetch settings of a busy log');
/** The idle wait of each registered consumer group, by group id. */
const idleWaits = new Map<string, number>();
let wrapped = false;

/** The settings of the fetch after one that brought `batches`: a long poll for any byte when it brought no record. */
export function nextFetch(batches: readonly FetchedBatch[], batching: FetchSettings, idleWaitMs: number): FetchSettings {
  const idle = idleWaitMs > batching.maxWaitTime && batches.every((b) => b.isEmptyIncludingFiltered());
  return idle ? { maxWaitTime: idleWaitMs, minBytes: 1 } : batching;
}

function wrap(): boolean {
  if (wrapped) return true;
  let group: ConsumerGroupClass;
  try {
    group = createRequire(import.meta.url)('kafkajs/src/consumer/consumerGroup.js') as ConsumerGroupClass;
  } catch {
    return false;
  }
  // Called with .call(this) below, on the consumer group it belongs to.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const fetch = group.prototype.fetch;
  if (typeof fetch !== 'function') return false;
  group.prototype.fetch = async function (this: ConsumerGroupInternals, nodeId: string): Promise<FetchedBatch[]> {
    const idleWait = idleWaits.get(this.groupId);
    if (idleWait === undefined || typeof this.maxWaitTime !== 'number' || typeof this.minBytes !== 'number') return fetch.call(this, nodeId);
    const batching = (this[BATCHING] ??= { maxWaitTime: this.maxWaitTime, minBytes: this.minBytes });
    const batches = await fetch.call(this, nodeId);
    Object.assign(this, nextFetch(batches, batching, idleWait));
    return batches;
  };
  wrapped = true;
  return true;
}

/**
 * Makes the consumers of `groupId` in this process long-poll for up to `idleWaitMs` while the log
 * is idle (see above); 0, or a wait not longer than the batching one, leaves them as kafkajs has
 * them. False when this kafkajs cannot be wrapped (its consumers then poll at the batching wait).
 */
export function longPollWhenIdle(groupId: string, idleWaitMs: number): boolean {
  if (idleWaitMs <= 0) {
    idleWaits.delete(groupId);
    return true;
  }
  if (!wrap()) return false;
  idleWaits.set(groupId, idleWaitMs);
  return true;
}
