import { credentials, experimental, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { InternalTls } from './config.js';

/**
 * The credentials of the gRPC link between Connect and Message: plaintext, or mutual TLS from
 * INTERNAL_TLS_* (grpc-js's file-watching certificate provider: renewed files are used for new
 * connections, every reload interval, without a restart). Each side presents its certificate and
 * accepts the other's only if INTERNAL_TLS_CA_FILE signed it.
 */
export interface InternalCredentials {
  /** What a Message pod serves with: a gateway without a certificate the CA signed gets no connection. */
  server(): ServerCredentials;
  /** What a gateway connects with: its certificate, and the Message pod's checked against the CA. */
  channel(): ChannelCredentials;
  /** Whether the link is TLS. */
  readonly tls: boolean;
}

export function internalCredentials(tls: InternalTls | undefined): InternalCredentials {
  if (!tls) return { server: () => ServerCredentials.createInsecure(), channel: () => credentials.createInsecure(), tls: false };
  // One provider per process: it reads the files once per interval, whatever the number of connections.
  const provider = new experimental.FileWatcherCertificateProvider({
    certificateFile: tls.certFile,
    privateKeyFile: tls.keyFile,
    caCertificateFile: tls.caFile,
    refreshIntervalMs: tls.reloadIntervalMs,
  });
  return {
    server: () => experimental.createCertificateProviderServerCredentials(provider, provider, true),
    channel: () => experimental.createCertificateProviderChannelCredentials(provider, provider),
    tls: true,
  };
}
