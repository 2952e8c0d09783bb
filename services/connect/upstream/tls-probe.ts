import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import type { InternalTls } from '../../shared/config.js';

/** How long a handshake that went through is watched for the peer's refusal of this side's certificate (TLS 1.3 sends it after). */
const SETTLE_MS = 300;

/**
 * Why a TLS connection to `endpoint` (host:port) with the link's files fails, or undefined when it
 * does not: grpc-js says only "Failed to connect" when a handshake fails, and an operator needs
 * to know which side refused which certificate. Run once after an attempt failed, not per call.
 */
export async function tlsFailure(endpoint: string, files: InternalTls, serverName: string | undefined, timeoutMs = 3000): Promise<string | undefined> {
  const at = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(endpoint.slice(at + 1));
  let cert: Buffer, key: Buffer, ca: Buffer;
  try {
    [cert, key, ca] = [readFileSync(files.certFile), readFileSync(files.keyFile), readFileSync(files.caFile)];
  } catch (err: unknown) {
    return `cannot read the INTERNAL_TLS_* files: ${err instanceof Error ? err.message : String(err)}`;
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port, cert, key, ca, servername: serverName, ALPNProtocols: ['h2'] });
    const done = (reason: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('error', (err: Error) => done(err.message));
    socket.once('secureConnect', () => {
      // The pod checks this side's certificate after its own went through: its refusal comes now, if at all.
      setTimeout(() => done(undefined), SETTLE_MS);
    });
    socket.once('close', () => done("the Message pod closed the connection during the TLS handshake (it did not accept this gateway's certificate)"));
  });
}
