import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;
import { createKafkaLog } from '../../services/message/adapters/kafka-log.js';
import { sharedRealBackends } from '../support/real-backends.js';
import { testLogger } from '../support/services.js';

/**
 * What `accepted` means on Kafka (acks=all): the topic Message creates says how many replicas
 * "all in-sync" must be, min.insync.replicas, explicitly, capped at the topic's replication factor.
 */
describe('the Kafka topic Message creates', function () {
  this.timeout(60_000);
  const topicConfig = async (brokers: string, topic: string): Promise<Record<string, string>> => {
    const admin = new Kafka({ clientId: 'topic-check', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const d = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const minIsr = d.resources[0]!.configEntries.find((e) => e.configName === 'min.insync.replicas')!;
      return {
        'min.insync.replicas': `${minIsr.configValue} (${minIsr.isDefault ? 'broker default' : 'set on the topic'})`,
        partitions: String(meta.topics[0]!.partitions.length),
        replicas: String(meta.topics[0]!.partitions[0]!.replicas.length),
      };
    } finally {
      await admin.disconnect();
    }
  };
  const create = async (brokers: string, replicationFactor: number, minInsyncReplicas: number): Promise<string> => {
    const topic = `topic-check.${randomBytes(4).toString('hex')}`;
    const log = createKafkaLog({
      brokers: brokers.split(','),
      clientId: 'topic-check',
      topic,
      groupId: `${topic}-g`,
      partitions: 3,
      replicationFactor,
      minInsyncReplicas,
      appendTimeoutMs: 5000,
      fetchMaxWaitMs: 15,
      fetchMinBytes: 8192,
      fetchIdleWaitMs: 500,
      commitIntervalMs: 200,
      maxBatch: 100,
      logger: testLogger('kafka'),
    });
    await log.start();
    await log.stop();
    return topic;
  };

  it('sets min.insync.replicas, capped at the replication factor (this broker: 1), for an explicit and for the broker-default factor', async () => {
    const { kafkaBrokers } = await sharedRealBackends();
    assert.deepEqual(await topicConfig(kafkaBrokers, await create(kafkaBrokers, 1, 2)), {
      'min.insync.replicas': '1 (set on the topic)',
      partitions: '3',
      replicas: '1',
    });
    assert.deepEqual(await topicConfig(kafkaBrokers, await create(kafkaBrokers, -1, 2)), {
      'min.insync.replicas': '1 (set on the topic)',
      partitions: '3',
      replicas: '1',
    });
  });
});
