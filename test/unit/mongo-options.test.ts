import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { mongoClientOptions } from '../../services/message/adapters/mongo-store.js';

/** Durability and reads are the URI's to say; the store's defaults fill in only what it leaves out. */
describe('MongoDB client options from the store URI', () => {
  /** What the driver makes of the URI with the store's options (it parses; nothing connects). */
  const effective = (uri: string) => new MongoClient(uri, mongoClientOptions(uri)).options;

  it('defaults to majority writes and reads and short timeouts when the URI says nothing', () => {
    const o = effective('mongodb://db:27017/chat');
    assert.equal(o.writeConcern?.w, 'majority');
    assert.equal(o.readConcern.level, 'majority');
    assert.equal(o.serverSelectionTimeoutMS, 5000);
    assert.equal(o.retryWrites, true, 'retryable writes: the driver default');
    assert.equal(o.readPreference.mode, 'primary');
  });

  it("takes a replica set's write concern, read concern, read preference and retryable writes from the URI", () => {
    const o = effective(
      'mongodb://db-0:27017,db-1:27017,db-2:27017/chat?replicaSet=rs0&w=2&wtimeoutMS=5000&journal=true&readConcernLevel=local&readPreference=primaryPreferred&retryWrites=false&serverSelectionTimeoutMS=9000',
    );
    assert.equal(o.replicaSet, 'rs0');
    assert.equal(o.hosts.length, 3);
    assert.equal(o.writeConcern?.w, 2);
    assert.equal(o.writeConcern?.wtimeoutMS, 5000);
    assert.equal(o.writeConcern?.journal, true);
    assert.equal(o.readConcern.level, 'local');
    assert.equal(o.readPreference.mode, 'primaryPreferred');
    assert.equal(o.retryWrites, false);
    assert.equal(o.serverSelectionTimeoutMS, 9000);
  });
});
