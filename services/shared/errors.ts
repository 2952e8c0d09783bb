/** Stable error codes of the WebSocket protocol (docs/PROTOCOL.md §4). */
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

/** Start-up configuration that cannot be used; the message names every bad setting. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
