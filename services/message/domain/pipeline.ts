import type { Logger } from '../../shared/logger.js';
import { UnavailableError } from '../../shared/errors.js';
import type { BatchHandler, LogBatch } from '../adapters/log.js';
import { isGroupConversation } from '../../shared/ids.js';
import { membersOf, StoredThenFailedError, type Sequenced, type Sequencer } from './sequencer.js';
import { HotStoreError } from '../adapters/hot-store.js';
import type { GroupListing, Persister } from './persister.js';
import { applyChange, emptyRoster, membersAt, type Roster } from './roster.js';
import type { SubscriberRegistry } from './subscribers.js';
import { isGroupChange, type AcceptedSend } from '../../shared/message.js';

/** How many msgIds this process remembers having pushed (a redelivery after its own failure skips them). */
const PUSHED_MEMORY = 10_000;
/** After the hot store failed a partition's batch, how long its batches are stored first before the hot store is tried again. */
export const HOT_RETRY_MS = 2000;

/** Why a batch was stored before its push: the hot store is away, or it failed this partition's last batch (a cluster node failing over, a replica not acknowledging). */
export type StoreFirstReason = 'hot_store_down' | 'hot_store_failed';
export const STORE_FIRST_REASONS: readonly StoreFirstReason[] = ['hot_store_down', 'hot_store_failed'];

/**
 * The consume path, the same for every backend. A partition batch's entries get their seqs,
 * recorded in the hot store (durable before anyone sees them), and are pushed at once to the
 * gateways holding their users; the Persister stores them behind, in large batches, and the log
 * commits the batch's offsets once they are stored. So a push waits for the log, the seq and one
 * hot-store write, never for the store: a slow or absent store delays history, not delivery.
 *
 * While the hot store cannot record (Redis down, or the part of a Redis Cluster holding the
 * partition failing over), a batch is stored first and pushed after, as before it existed: once
 * what the Persister holds of the partition is stored, so that the seqs the store gives follow
 * those already pushed. A batch the hot store failed is stored first at once, and so are the
 * partition's batches for HOT_RETRY_MS after it.
 *
 * A redelivered entry (the same log record, sequenced before) keeps its seq and is pushed again
 * unless this process pushed it (whoever sequenced it may have failed before pushing; clients drop
 * a seq they hold).
 */
export function createPipeline(deps: {
  sequencer: Sequencer;
  subscribers: Pick<SubscriberRegistry, 'routeBatch'>;
  /** Group rosters as stored now, and the store's listing of a group's members. */
  groups: GroupStore;
  logger: Logger;
  /** Stores what is pushed; undefined: every batch is stored before it is pushed (no hot store). */
  persister?: Persister;
  /** Whether the hot store can record now (the pipeline stores first while it cannot). */
  hotReady?: () => boolean;
  /** A batch stored before its push (the fallback path): its messages' accept → stored time. */
  onStored?: (latencyMs: number) => void;
  /** A batch goes the fallback path, and why. */
  onStoreFirst?: (reason: StoreFirstReason) => void;
  /** Counts the redelivered entries pushed again (they may not have been pushed before). */
  onRepushed?: (count: number) => void;
  now?: () => number;
}): BatchHandler {
  const now = deps.now ?? Date.now;
  const pushed = new Set<string>();
  /** Partitions whose last hot-store write failed: stored first until then. */
  const hotFailedUntil = new Map<number, number>();
  const push = (list: readonly Sequenced[]): void => {
    const out: Sequenced[] = [];
    let again = 0;
    for (const s of list) {
      if (s.redelivered) {
        if (pushed.has(s.message.msgId)) continue;
        again++;
      }
      out.push(s);
      pushed.add(s.message.msgId);
      if (pushed.size > PUSHED_MEMORY) pushed.delete(pushed.values().next().value!);
    }
    if (again > 0) deps.onRepushed?.(again);
    deps.subscribers.routeBatch(out);
  };
  /**
   * Stores the batch, then pushes it (the fallback path; `reason` why, when there is a hot store):
   * refused while the partition holds sends only the hot store can place, and only once what the
   * persister holds of the partition is stored, so that the seqs the store gives follow it.
   */
  const storeThenPush = async (batch: LogBatch, rosters: Map<string, Roster>, reason?: StoreFirstReason, cause?: unknown): Promise<void> => {
    const persister = deps.persister;
    if (persister && !(await deps.sequencer.mayStoreFirst(batch.entries, batch.partition))) {
      throw new UnavailableError(
        `partition ${batch.partition} waits for the hot store (Redis): it holds sends its last owner may have pushed, with seqs only the hot store knows`,
        { cause },
      );
    }
    if (reason) deps.onStoreFirst?.(reason);
    await persister?.flushed(batch.partition);
    let stored: Sequenced[];
    try {
      stored = await deps.sequencer.storeBatch(batch.entries, batch.partition);
    } catch (err: unknown) {
      // Stored, then the batch failed: push what was stored now, since its redelivery will find
      // it stored and push nothing; then fail the batch so that it comes again.
      if (err instanceof StoredThenFailedError) {
        const t = now();
        for (const { message } of err.stored) deps.onStored?.(t - message.ts);
        const sent = withAudiences(err.stored, rosters);
        for (const s of sent) if (isGroupChange(s.message)) deps.groups.changed?.(s.message.conversation);
        push(sent);
      }
      throw err;
    }
    stored = withAudiences(stored, rosters);
    // Before anyone hears of a change, this pod's send path stops trusting what it knew.
    for (const s of stored) if (isGroupChange(s.message)) deps.groups.changed?.(s.message.conversation);
    const t = now();
    for (const s of stored) if (!s.redelivered) deps.onStored?.(t - s.message.ts);
    push(stored);
    for (const l of listingsOf(batch.entries, rosters)) {
      await deps.groups
        .setMembers(l.conversation, l.members, l.seq, l.title)
        .catch((err: unknown) =>
          deps.logger.warn({ err, conversation: l.conversation }, 'listing the group for its members failed; `conversations` lists it from its next change'),
        );
    }
  };
  return async (batch) => {
    const persister = deps.persister;
    if (persister) await persister.room();
    // A group message goes to the members at its seq: the rosters before the batch (its entries
    // that were sequenced before, on an earlier delivery, already count), then the batch's
    // changes in order.
    const groups = [...new Set(batch.entries.filter((e) => isGroupConversation(e.conversation)).map((e) => e.conversation))];
    const rosters = groups.length > 0 ? await deps.groups.read(groups, batch.partition) : new Map<string, Roster>();
    if (!persister) return storeThenPush(batch, rosters);
    if (!(deps.hotReady?.() ?? true)) return storeThenPush(batch, rosters, 'hot_store_down');
    if ((hotFailedUntil.get(batch.partition) ?? 0) > now()) return storeThenPush(batch, rosters, 'hot_store_failed');
    let hot: Sequenced[];
    try {
      hot = await deps.sequencer.sequenceHot(batch.entries, batch.partition, batch.signal);
      hotFailedUntil.delete(batch.partition);
    } catch (err: unknown) {
      // Only the hot store's own failures: fenced (the partition is another's now), cut short (it
      // moved on) or the store's failure are the batch's to retry.
      if (!(err instanceof HotStoreError) || batch.signal?.aborted) throw err;
      // Nothing was pushed; what the hot store may have taken holds the seqs the store gives now.
      if (!hotFailedUntil.has(batch.partition))
        deps.logger.warn({ err, partition: batch.partition, retryInMs: HOT_RETRY_MS }, 'the hot store failed a batch; storing it before its push');
      hotFailedUntil.set(batch.partition, now() + HOT_RETRY_MS);
      return storeThenPush(batch, rosters, 'hot_store_failed', err);
    }
    const sequenced = withAudiences(hot, rosters);
    for (const s of sequenced) if (s.audience) deps.groups.seen?.(s.message.conversation, s.message.seq);
    for (const s of sequenced) if (isGroupChange(s.message)) deps.groups.changed?.(s.message.conversation);
    push(sequenced);
    const members = new Map(batch.entries.map((e) => [e.conversation, membersOf(e)] as const));
    return {
      persisted: persister.submit(
        batch.partition,
        sequenced.map((s) => s.message),
        members,
        listingsOf(batch.entries, rosters),
      ),
    };
  };
}

/** What the pipeline needs of the store for groups. */
export interface GroupStore {
  /** The live rosters of a partition's groups (changes applied to them stay for the next batch). */
  read(conversations: readonly string[], partition: number): Promise<Map<string, Roster>>;
  setMembers(conversation: string, members: readonly string[], seq: number, title?: string): Promise<void>;
  /** A message of the group was handled at `seq` (its roster is current as of it). */
  seen?(conversation: string, seq: number): void;
  /** A group's membership changed (its change is stored; the members are told next). */
  changed?(conversation: string): void;
}

/**
 * Each group message with its audience: the members at its seq (a membership message also reaches
 * the users it removed, so that they learn of it). Applies the changes to `rosters` as it goes.
 */
function withAudiences(stored: readonly Sequenced[], rosters: Map<string, Roster>): Sequenced[] {
  return stored.map((s) => {
    const m = s.message;
    if (!isGroupConversation(m.conversation)) return s;
    let r = rosters.get(m.conversation);
    if (!r) rosters.set(m.conversation, (r = emptyRoster()));
    // Stored and applied by an earlier delivery: its audience as of its seq, nothing applied again.
    if (s.redelivered && m.seq <= r.seq) {
      const at = membersAt(r, m.seq);
      return { ...s, audience: isGroupChange(m) ? new Set([...membersAt(r, m.seq - 1), ...at]) : at };
    }
    if (!isGroupChange(m)) return { ...s, audience: r.members };
    const before = r.members;
    applyChange(r, m);
    return { ...s, audience: new Set([...before, ...r.members]) };
  });
}

/**
 * The listing (conversations) of each group the batch changed, from its roster after the batch.
 * The listing is an index beside the messages (membership itself is the membership messages): a
 * listing the store refuses is logged and left to the group's next change, never retried by
 * failing the batch — a refusal that persists would otherwise hold its partition forever.
 */
function listingsOf(entries: readonly AcceptedSend[], rosters: Map<string, Roster>): GroupListing[] {
  const changed = new Set(entries.filter(isGroupChange).map((e) => e.conversation));
  const out: GroupListing[] = [];
  for (const c of changed) {
    const r = rosters.get(c);
    if (r) out.push({ conversation: c, members: [...r.members], seq: r.seq, title: r.title });
  }
  return out;
}
