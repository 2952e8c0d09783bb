import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });

/** A CA made with openssl in `dir`: its certificate and key files. */
export interface Authority {
  dir: string;
  name: string;
  ca: string;
  caKey: string;
}

/** A certificate `authority` signs for 127.0.0.1, localhost and the DNS names given; its files. */
export function issue(authority: Authority, name: string, dnsNames: readonly string[] = []): { cert: string; key: string } {
  const f = (x: string) => join(authority.dir, `${authority.name}-${name}-${x}`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('key.pem'), '-out', f('csr.pem'), '-subj', `/CN=${name}`);
  writeFileSync(f('san.ext'), `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((d) => `DNS:${d}`)].join(',')}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    f('csr.pem'),
    '-CA',
    authority.ca,
    '-CAkey',
    authority.caKey,
    '-CAcreateserial',
    '-out',
    f('cert.pem'),
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
  );
  return { cert: f('cert.pem'), key: f('key.pem') };
}

/** A CA of its own in `dir`, made with openssl. */
export function authority(dir: string, name: string): Authority {
  const a = { dir, name, ca: join(dir, `${name}-ca.pem`), caKey: join(dir, `${name}-ca.key`) };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', a.caKey, '-out', a.ca, '-days', '2', '-subj', `/CN=${name} test CA`);
  return a;
}

/** A CA of its own and a server certificate it signed (for 127.0.0.1, localhost and the DNS names given). */
export function certificateAuthority(dir: string, name: string, dnsNames: readonly string[] = []): { ca: string; cert: string; key: string } {
  const a = authority(dir, name);
  return { ca: a.ca, ...issue(a, 'server', dnsNames) };
}
