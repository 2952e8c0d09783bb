import assert from 'node:assert/strict';
import { connectionCap, openFilesLimit, RESERVED_DESCRIPTORS } from '../../services/connect/transport/open-files.js';

describe('the open-files limit of a gateway', () => {
  const limits = (soft: string, hard: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            ${soft}                ${hard}                files     \n`;

  it('is read from /proc/self/limits (the soft limit), and unknown when unlimited or unreadable', () => {
    assert.equal(
      openFilesLimit(() => limits('20000', '20000')),
      20_000,
    );
    assert.equal(
      openFilesLimit(() => limits('1048576', '1048576')),
      1_048_576,
    );
    assert.equal(
      openFilesLimit(() => limits('unlimited', 'unlimited')),
      undefined,
    );
    assert.equal(
      openFilesLimit(() => {
        throw new Error('ENOENT');
      }),
      undefined,
    );
    assert.ok((openFilesLimit() ?? 1) > 0, 'this process has one');
  });

  it('caps CONNECT_MAX_CONNECTIONS below it, keeping descriptors for streams, DNS and the admin port', () => {
    assert.deepEqual(connectionCap(50_000, 1_048_576), { max: 50_000, capped: false });
    assert.deepEqual(connectionCap(50_000, undefined), { max: 50_000, capped: false });
    assert.deepEqual(connectionCap(50_000, 20_000), { max: 20_000 - RESERVED_DESCRIPTORS, capped: true });
    assert.deepEqual(connectionCap(50_000, 1024), { max: 1024 - 102, capped: true }, 'a tenth of a small limit kept');
    assert.deepEqual(connectionCap(50_000, 5), { max: 5, capped: true });
  });
});
