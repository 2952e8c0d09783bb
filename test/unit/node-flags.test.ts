import assert from 'node:assert/strict';
import { imageEntrypoint, scriptNodeFlags } from '../support/processes.js';

/**
 * The services run with V8's collector on the main thread alone (`--single-threaded-gc`): a pod has
 * one core, and the collector's helper threads stalled the main thread when they found none
 * (bench/NOTES.md). Every way of starting a service runs node the same way.
 */
describe('Node flags of the services', () => {
  it('npm start and npm run start:message / start:connect collect garbage on the main thread', () => {
    for (const kind of ['standalone', 'message', 'connect'] as const) assert.deepEqual(scriptNodeFlags(kind), ['--single-threaded-gc'], kind);
  });

  it("the container image runs node with the npm scripts' flags (and source maps for its compiled code)", () => {
    const [node, ...rest] = imageEntrypoint();
    assert.equal(node, 'node');
    assert.equal(rest.at(-1), 'dist/services/main.js');
    assert.deepEqual(
      rest.slice(0, -1).filter((f) => f !== '--enable-source-maps'),
      scriptNodeFlags('message'),
    );
  });
});
