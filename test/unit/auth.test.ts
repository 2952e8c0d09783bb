import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';
import { createAuthenticator, AuthError } from '../../services/connect/auth.js';

const SECRET = 'unit-secret-0123456789abcdef0123456789';
const key = new TextEncoder().encode(SECRET);
const req = (url: string, authorization?: string) => ({ url, headers: authorization ? { authorization } : {} }) as IncomingMessage;
const sign = (claims: Record<string, unknown>, opts: { exp?: string | number; secret?: Uint8Array; iss?: string; aud?: string } = {}) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  if (opts.aud) jwt = jwt.setAudience(opts.aud);
  return jwt.sign(opts.secret ?? key);
};
const base = { mode: 'jwt' as const, secret: SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined, clockSkewSec: 30, systemUser: 'system' };

async function rejectsWith(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AuthError && message.test(e.message));
}

describe('JWT verification', () => {
  it('accepts HS256 by header or ?token= and returns sub', async () => {
    const auth = createAuthenticator(base);
    const token = await sign({ sub: '1001' }, { exp: '1h' });
    assert.equal(await auth(req('/ws', `Bearer ${token}`)), '1001');
    assert.equal(await auth(req(`/ws?token=${token}`)), '1001');
  });

  it('rejects a missing, malformed, expired or wrongly signed token', async () => {
    const auth = createAuthenticator(base);
    await rejectsWith(auth(req('/ws')), /missing credentials/);
    await rejectsWith(auth(req('/ws?user=1001')), /missing credentials/);
    await rejectsWith(auth(req('/ws', 'Basic abc')), /Bearer/);
    await rejectsWith(auth(req('/ws?token=not.a.jwt')), /invalid token/);
    await rejectsWith(auth(req(`/ws?token=${await sign({ sub: '1001' }, { exp: Math.floor(Date.now() / 1000) - 120 })}`)), /expired/);
    await rejectsWith(
      auth(req(`/ws?token=${await sign({ sub: '1001' }, { secret: new TextEncoder().encode('another-secret-0123456789abcdef0123') })}`)),
      /invalid token/,
    );
  });

  it('honours the clock skew for exp', async () => {
    const auth = createAuthenticator(base);
    const justExpired = await sign({ sub: '1001' }, { exp: Math.floor(Date.now() / 1000) - 10 });
    assert.equal(await auth(req(`/ws?token=${justExpired}`)), '1001');
  });

  it("rejects alg 'none' and a sub that is not a user id", async () => {
    const auth = createAuthenticator(base);
    const unsigned = new UnsecuredJWT({ sub: '1001' }).encode();
    await rejectsWith(auth(req(`/ws?token=${unsigned}`)), /invalid token/);
    await rejectsWith(auth(req(`/ws?token=${await sign({ sub: 'bad user' })}`)), /subject/);
    await rejectsWith(auth(req(`/ws?token=${await sign({})}`)), /subject/);
  });

  it('checks issuer and audience when configured', async () => {
    const auth = createAuthenticator({ ...base, issuer: 'https://issuer.test', audience: 'switchboard' });
    assert.equal(await auth(req(`/ws?token=${await sign({ sub: 'u' }, { iss: 'https://issuer.test', aud: 'switchboard' })}`)), 'u');
    await rejectsWith(auth(req(`/ws?token=${await sign({ sub: 'u' }, { iss: 'https://issuer.test', aud: 'other' })}`)), /invalid token/);
    await rejectsWith(auth(req(`/ws?token=${await sign({ sub: 'u' }, { iss: 'https://evil.test', aud: 'switchboard' })}`)), /invalid token/);
  });

  it('refuses the system account (SYSTEM_USER) by token and by ?user=: only the server API speaks as it', async () => {
    await rejectsWith(createAuthenticator(base)(req(`/ws?token=${await sign({ sub: 'system' })}`)), /system account/);
    const dev = createAuthenticator({ ...base, mode: 'insecure-dev', systemUser: 'notices' });
    await rejectsWith(dev(req('/ws?user=notices')), /system account \(SYSTEM_USER\)/);
    assert.equal(await dev(req('/ws?user=system')), 'system', 'another deployment may name its system account otherwise');
  });

  it('insecure-dev accepts ?user= but still verifies a given token', async () => {
    const auth = createAuthenticator({ ...base, mode: 'insecure-dev' });
    assert.equal(await auth(req('/ws?user=1001')), '1001');
    await rejectsWith(auth(req('/ws?user=bad%20id')), /user must be/);
    await rejectsWith(auth(req('/ws')), /missing credentials/);
    await rejectsWith(auth(req('/ws?user=1001&token=forged')), /invalid token/);
  });
});

describe('JWT verification with a JWKS (RS256 / ES256)', () => {
  it('verifies tokens signed by keys of the JWKS and rejects others', async () => {
    const rs = await generateKeyPair('RS256');
    const es = await generateKeyPair('ES256');
    const stranger = await generateKeyPair('ES256');
    const keys = [
      { ...(await exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' },
    ];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const auth = createAuthenticator({ ...base, secret: undefined, jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json` });
      const token = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0]) =>
        new SignJWT({ sub: `user-${kid}` }).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(key);
      assert.equal(await auth(req(`/ws?token=${await token('RS256', 'rs', rs.privateKey)}`)), 'user-rs');
      assert.equal(await auth(req(`/ws?token=${await token('ES256', 'es', es.privateKey)}`)), 'user-es');
      await rejectsWith(auth(req(`/ws?token=${await token('ES256', 'es', stranger.privateKey)}`)), /invalid token/);
      await rejectsWith(auth(req(`/ws?token=${await sign({ sub: 'hs' })}`)), /invalid token/);
    } finally {
      server.close();
    }
  });
});
