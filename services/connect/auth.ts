import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { isUserId } from '../shared/ids.js';
import type { ConnectConfig } from './config.js';

/** Why an upgrade was refused with 401. */
export class AuthError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
  }
}

/** Resolves the authenticated user of an upgrade request or throws AuthError. */
export type Authenticator = (req: IncomingMessage) => Promise<string>;

/**
 * Authentication of docs/PROTOCOL.md §2: a JWT (Authorization: Bearer, or ?token=) verified with
 * HS256 and AUTH_JWT_SECRET, or RS256/ES256 keys from AUTH_JWKS_URL; the user is `sub`. In
 * insecure-dev mode `?user=` is accepted instead (a token, when given, is still verified). Nobody
 * logs in as the system account (SYSTEM_USER).
 */
export function createAuthenticator(auth: ConnectConfig['auth']): Authenticator {
  const secret = auth.secret ? new TextEncoder().encode(auth.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl)) : undefined;

  async function verify(token: string): Promise<string> {
    try {
      const options = { issuer: auth.issuer, audience: auth.audience, clockTolerance: auth.clockSkewSec };
      const { payload } = secret
        ? await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })
        : jwks
          ? await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] })
          : (() => {
              throw new AuthError('tokens are not accepted: no AUTH_JWT_SECRET or AUTH_JWKS_URL is configured');
            })();
      if (!isUserId(payload.sub)) throw new AuthError('token subject is not a valid user id');
      return payload.sub;
    } catch (err: unknown) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired', { cause: err });
      if (err instanceof joseErrors.JOSEError) throw new AuthError(`invalid token: ${err.code}`, { cause: err });
      throw new AuthError('invalid token', { cause: err });
    }
  }

  const user = async (req: IncomingMessage): Promise<string> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const header = req.headers.authorization;
    let token: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new AuthError('Authorization header must be "Bearer <token>"');
      token = m[1];
    } else {
      token = url.searchParams.get('token') ?? undefined;
    }
    if (token) return verify(token);
    if (auth.mode === 'insecure-dev') {
      const user = url.searchParams.get('user');
      if (user === null) throw new AuthError('missing credentials: give ?user=<id> (insecure-dev) or a token');
      if (!isUserId(user)) throw new AuthError('user must be 1-64 characters of A-Z a-z 0-9 _ . : @ -');
      return user;
    }
    throw new AuthError('missing credentials: give Authorization: Bearer <token> or ?token=');
  };
  return async (req) => {
    const id = await user(req);
    // Only the server API speaks as the system account: a client that could would forge its notices.
    if (id === auth.systemUser) throw new AuthError(`${id} is the system account (SYSTEM_USER); no client may log in as it`);
    return id;
  };
}
