import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { errorCodeOf, errorCodeOfGrpcStatus, errorCodeOfReply, grpcStatusOf } from '../../services/shared/grpc-status.js';
import { TooLargeError, UnavailableError } from '../../services/shared/errors.js';

describe('error codes across the gRPC edge', () => {
  it('keeps the contract’s code where statuses are shared: TOO_LARGE and BAD_REQUEST are both INVALID_ARGUMENT', () => {
    const err = new TooLargeError('body is 5000 bytes; the limit is 4096');
    assert.equal(grpcStatusOf(err), status.INVALID_ARGUMENT);
    assert.equal(errorCodeOf(err), 'TOO_LARGE');
    assert.equal(errorCodeOfReply(status.INVALID_ARGUMENT, 'TOO_LARGE'), 'TOO_LARGE');
    assert.equal(errorCodeOfReply(status.INVALID_ARGUMENT, ''), 'BAD_REQUEST', 'no reason (an older pod): the status decides');
    assert.equal(errorCodeOfReply(status.UNAVAILABLE, 'SOMETHING_ELSE'), 'UNAVAILABLE', 'a reason outside the contract is ignored');
    assert.equal(errorCodeOf(new UnavailableError('down')), 'UNAVAILABLE');
    assert.equal(errorCodeOf(new Error('bug')), 'INTERNAL');
  });

  it('a refused internal token is the deployment’s fault: INTERNAL for the client, not FORBIDDEN', () => {
    assert.equal(errorCodeOfGrpcStatus(status.UNAUTHENTICATED), 'INTERNAL');
    assert.equal(errorCodeOfGrpcStatus(status.PERMISSION_DENIED), 'FORBIDDEN');
  });
});
