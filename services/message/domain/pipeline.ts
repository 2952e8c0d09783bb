import type { Logger } from '../../shared/logger.js';
import type { BatchHandler } from '../adapters/log.js';
import { StoredThenFailedError, type Sequenced, type Sequencer } from './sequencer.js';
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
  const push = async (stored: readonly Sequenced[]): Promise<void> => {
    try {
      await deps.subscribers.routeBatch(stored);
    } catch (err: unknown) {
      // A push that cannot be made is not an error: the messages are stored; clients sync.
      deps.logger.warn({ err, count: stored.length }, 'push failed');
    }
  };
  return async (batch) => {
    let stored: Sequenced[];
    try {
      stored = await deps.sequencer.storeBatch(batch.entries, batch.partition);
    } catch (err: unknown) {
      // Stored, then the batch failed: push what was stored now, since its redelivery will find
      // it stored and push nothing; then fail the batch so that it comes again.
      if (err instanceof StoredThenFailedError) {
        const t = now();
        for (const { message } of err.stored) deps.onStored?.(t - message.ts);
        await push(err.stored);
      }
      throw err;
    }
    if (stored.length < batch.entries.length) {
      deps.logger.debug({ partition: batch.partition, skipped: batch.entries.length - stored.length }, 'entries stored already; skipped');
    }
    const t = now();
    for (const { message } of stored) deps.onStored?.(t - message.ts);
    await push(stored);
  };
}
