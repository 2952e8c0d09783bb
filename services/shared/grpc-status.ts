import { status as GrpcStatus } from '@grpc/grpc-js';
import { SwitchboardError, type ErrorCode } from './errors.js';

/*
 * The mapping between the protocol's error codes and gRPC statuses, used only at the two gRPC
 * edges: Message's handlers (error → status) and Connect's client (status → error code). The
 * domain knows nothing of gRPC.
 */

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  TOO_LARGE: GrpcStatus.INVALID_ARGUMENT,
  RATE_LIMITED: GrpcStatus.RESOURCE_EXHAUSTED,
  FORBIDDEN: GrpcStatus.PERMISSION_DENIED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  INTERNAL: GrpcStatus.INTERNAL,
};

/**
 * The trailing metadata key with the contract's error code of a failed call: TOO_LARGE and
 * BAD_REQUEST share INVALID_ARGUMENT, so the status alone cannot say which (a stream's SendError
 * carries it as `reason`).
 */
export const ERROR_CODE_KEY = 'switchboard-error-code';

/** The gRPC status a Message handler answers for an error. Unknown errors are INTERNAL. */
export function grpcStatusOf(err: unknown): GrpcStatus {
  return err instanceof SwitchboardError ? toGrpc[err.code] : GrpcStatus.INTERNAL;
}

/** The contract's error code of an error a Message handler answers with. */
export function errorCodeOf(err: unknown): ErrorCode {
  return err instanceof SwitchboardError ? err.code : 'INTERNAL';
}

/** `reason` when it is one of the contract's error codes (sent by Message), else what the status maps to. */
export function errorCodeOfReply(code: number | undefined, reason: string | undefined): ErrorCode {
  return reason !== undefined && Object.hasOwn(toGrpc, reason) ? (reason as ErrorCode) : errorCodeOfGrpcStatus(code);
}

/**
 * The protocol error code for a failed gRPC call as seen by Connect, from its status alone. A
 * refused internal token (UNAUTHENTICATED) is the deployment's fault, not the client's: INTERNAL.
 */
export function errorCodeOfGrpcStatus(code: number | undefined): ErrorCode {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return 'BAD_REQUEST';
    case GrpcStatus.PERMISSION_DENIED:
      return 'FORBIDDEN';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'RATE_LIMITED';
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
    case GrpcStatus.ABORTED:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

/** A readable one-line description of any thrown value. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
