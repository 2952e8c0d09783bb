import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../../shared/logger.js';

/** A certificate chain and its private key, PEM. */
export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

/** Reads a certificate and key and checks that they make a TLS context (the key matches the certificate). */
export async function readKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  createSecureContext({ cert, key });
  return { cert, key };
}

/**
 * Follows a certificate and key on disk (a mounted Secret that cert-manager renews): every
 * `intervalMs` it reads both and, when they changed and make a valid pair, hands them to
 * `onChange`, so that new TLS connections get the new certificate without a restart (those open
 * keep theirs). A pair that is unreadable or mismatched (read between the two files' updates) is
 * reported and the current one kept; the next look tries again. Polling, not file events: a
 * Secret volume swaps a symlink, which file watchers miss.
 */
export class CertificateWatcher {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private current: KeyPair,
    private readonly opts: {
      certFile: string;
      keyFile: string;
      intervalMs: number;
      logger: Logger;
      onChange: (pair: KeyPair) => void;
      /** Each look that found a change: applied, or refused (kept the current pair). */
      onReload?: (result: 'applied' | 'refused') => void;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look at the files (the timer's; tests call it directly). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const [cert, key] = await Promise.all([readFile(this.opts.certFile), readFile(this.opts.keyFile)]);
      if (cert.equals(this.current.cert) && key.equals(this.current.key)) return;
      try {
        createSecureContext({ cert, key });
      } catch (err: unknown) {
        this.opts.onReload?.('refused');
        this.opts.logger.error({ err, certFile: this.opts.certFile }, 'the new TLS certificate and key do not make a valid pair; serving the current ones');
        return;
      }
      this.current = { cert, key };
      this.opts.onChange(this.current);
      this.opts.onReload?.('applied');
      this.opts.logger.info({ certFile: this.opts.certFile }, 'TLS certificate reloaded: new connections get it');
    } catch (err: unknown) {
      this.opts.onReload?.('refused');
      this.opts.logger.error({ err, certFile: this.opts.certFile }, 'reading the TLS certificate and key failed; serving the current ones');
    } finally {
      this.checking = false;
    }
  }
}
