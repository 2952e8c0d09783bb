import type { Logger } from '../../shared/logger.js';
import type { BatchHandler, SendEntry } from '../adapters/log.js';
import { isGroupConversation } from '../../shared/ids.js';
import { StoredThenFailedError, type Sequenced, type Sequencer } from './sequencer.js';
import { applyChange, emptyRoster, membersAt, type Roster } from './roster.js';
import type { SubscriberRegistry } from './subscribers.js';

/** How many msgIds this process remembers having pushed (a redelivery after its own failure skips them). */
const PUSHED_MEMORY = 10_000;

/**
 * The consume path, the same for every backend: give a partition batch's entries their seqs and
 * store them (in log order, as one write where possible), then push them to the gateways holding
 * their users. The log commits the batch after this resolves; a store failure rejects, and the
 * batch comes again: entries it finds stored by the earlier delivery are pushed again unless this
 * process pushed them (the store may have applied a write whose reply was lost, or the process
 * that stored them died before pushing; clients drop a seq they hold).
 */
export function createPipeline(deps: {
  sequencer: Sequencer;
  subscribers: Pick<SubscriberRegistry, 'routeBatch'>;
  /** Group rosters as stored now, and the store's listing of a group's members. */
  groups: GroupStore;
  logger: Logger;
  onStored?: (latencyMs: number) => void;
  /** Counts the redelivered entries pushed again (they may not have been pushed before). */
  onRepushed?: (count: number) => void;
  now?: () => number;
}): BatchHandler {
  const now = deps.now ?? Date.now;
  const pushed = new Set<string>();
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
  return async (batch) => {
    // A group message goes to the members at its seq: the rosters before the batch (its entries
    // that were stored before, on an earlier delivery, already count), then the batch's changes
    // in order.
    const groups = [...new Set(batch.entries.filter((e) => isGroupConversation(e.conversation)).map((e) => e.conversation))];
    const rosters = groups.length > 0 ? await deps.groups.read(groups, batch.partition) : new Map<string, Roster>();
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
        for (const s of sent) if (s.message.kind !== undefined) deps.groups.changed?.(s.message.conversation);
        push(sent);
      }
      throw err;
    }
    stored = withAudiences(stored, rosters);
    // Before anyone hears of a change, this pod's send path stops trusting what it knew.
    for (const s of stored) if (s.message.kind !== undefined) deps.groups.changed?.(s.message.conversation);
    const t = now();
    for (const s of stored) if (!s.redelivered) deps.onStored?.(t - s.message.ts);
    push(stored);
    await listMembers(deps.groups, batch.entries, rosters, deps.logger);
  };
}

/** What the pipeline needs of the store for groups. */
export interface GroupStore {
  /** The live rosters of a partition's groups (changes applied to them stay for the next batch). */
  read(conversations: readonly string[], partition: number): Promise<Map<string, Roster>>;
  setMembers(conversation: string, members: readonly string[], seq: number): Promise<void>;
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
      return { ...s, audience: m.kind === undefined ? at : new Set([...membersAt(r, m.seq - 1), ...at]) };
    }
    if (m.kind === undefined) return { ...s, audience: r.members };
    const before = r.members;
    applyChange(r, m);
    return { ...s, audience: new Set([...before, ...r.members]) };
  });
}

/**
 * Lists each group the batch changed for its members (conversations), from its roster now. The
 * listing is an index beside the messages (membership itself is the membership messages): a
 * listing the store refuses is logged and left to the group's next change, never retried by
 * failing the batch — a refusal that persists would otherwise hold its partition forever.
 */
async function listMembers(groups: GroupStore, entries: readonly SendEntry[], rosters: Map<string, Roster>, logger: Logger): Promise<void> {
  const changed = new Set(entries.filter((e) => e.kind !== undefined).map((e) => e.conversation));
  for (const c of changed) {
    const r = rosters.get(c);
    if (!r) continue;
    try {
      await groups.setMembers(c, [...r.members], r.seq);
    } catch (err: unknown) {
      logger.warn({ err, conversation: c, members: r.members.size }, 'listing the group for its members failed; `conversations` lists it from its next change');
    }
  }
}
