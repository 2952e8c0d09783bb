import { status as GrpcStatus } from '@grpc/grpc-js';

/** Stable error codes of the WebSocket protocol (PROTOCOL.md §2). */
export type ErrorCode = 'BAD_REQUEST' | 'TOO_LARGE' | 'RATE_LIMITED' | 'FORBIDDEN' | 'UNAVAILABLE' | 'INTERNAL';

/** Base class of every error that crosses a service edge: a stable code, a message, a cause. */
export class SwitchboardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class BadRequestError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_REQUEST', message, options);
  }
}

export class TooLargeError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOO_LARGE', message, options);
  }
}

export class RateLimitedError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RATE_LIMITED', message, options);
  }
}

export class ForbiddenError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FORBIDDEN', message, options);
  }
}

/** A dependency (log, store, presence, Message pod) cannot serve right now; retry later. */
export class UnavailableError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

export class InternalError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, options);
  }
}

/** Start-up configuration that cannot be used; the message names every bad setting. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  TOO_LARGE: GrpcStatus.INVALID_ARGUMENT,
  RATE_LIMITED: GrpcStatus.RESOURCE_EXHAUSTED,
  FORBIDDEN: GrpcStatus.PERMISSION_DENIED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  INTERNAL: GrpcStatus.INTERNAL,
};

/** The gRPC status a Message handler answers for an error. Unknown errors are INTERNAL. */
export function grpcStatusOf(err: unknown): GrpcStatus {
  return err instanceof SwitchboardError ? toGrpc[err.code] : GrpcStatus.INTERNAL;
}

/** The protocol error code for a failed gRPC call as seen by Connect. */
export function errorCodeOfGrpcStatus(code: number | undefined): ErrorCode {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return 'BAD_REQUEST';
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
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
  if (err instanceof Error) return err.message;
  return String(err);
}
