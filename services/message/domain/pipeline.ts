import type { Logger } from '../../shared/logger.js';
import type { BatchHandler } from '../adapters/log.js';
import type { Sequencer } from './sequencer.js';
import type { SubscriberRegistry } from './subscribers.js';

/**
 * The consume path, the same for every backend: give a partition batch's entries their seqs and
 * store them (in log order, as one write where possible), then push them to the gateways holding
 * their users. The log commits the batch after this resolves; a store failure rejects, and the
 * batch comes again (stored entries are then recognised by msgId and not stored twice).
 */
export function createPipeline(deps: {
  sequencer: Sequencer;
  subscribers: SubscriberRegistry;
  logger: Logger;
  onStored?: (latencyMs: number) => void;
  now?: () => number;
}): BatchHandler {
  const now = deps.now ?? Date.now;
  return async (batch) => {
    const stored = await deps.sequencer.storeBatch(batch.entries);
    if (stored.length < batch.entries.length) {
      deps.logger.debug({ partition: batch.partition, skipped: batch.entries.length - stored.length }, 'entries stored already; skipped');
    }
    const t = now();
    for (const m of stored) deps.onStored?.(t - m.ts);
    const origin = new Map(batch.entries.map((e) => [e.msgId, e] as const));
    try {
      await deps.subscribers.routeBatch(
        stored.map((message) => ({ message, originInstance: origin.get(message.msgId)!.originInstance, originConnection: origin.get(message.msgId)!.originConnection })),
      );
    } catch (err: unknown) {
      // A push that cannot be made is not an error: the messages are stored; clients sync.
      deps.logger.warn({ err, count: stored.length }, 'push failed');
    }
  };
}
