/**
 * Container images for the test cluster, built on this machine without any image registry:
 *  - the sandbox (pause) image, compiled from k8s.io/kubernetes' build/pause/linux/pause.c;
 *  - a Node.js 20 base: a `debootstrap --variant=minbase` Debian root plus this machine's Node.js
 *    and npm (and its CA certificates, so npm reaches the registry as the host does);
 *  - the Switchboard image, built by buildah from the repository's own Dockerfile over that base
 *    (NODE_IMAGE build argument): the one recipe users build too.
 * Everything is cached in ~/.cache/switchboard/images and buildah's layer cache, so a warm build
 * is a few seconds. Images are handed to containerd as docker-archive tarballs (`ctr images import`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync, symlinkSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE, LOGS, KUBE_VERSION } from './servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const IMAGES = join(CACHE, 'images');
export const PAUSE_IMAGE = 'localhost/pause:3.10';
export const NODE_BASE_IMAGE = 'localhost/switchboard-node:20';
export const SWITCHBOARD_IMAGE = { repository: 'localhost/switchboard', tag: 'test' };
/**
 * The ingress controller of the test cluster: Traefik, built from its Go module. (3.7's module
 * replaces a nested module its zip leaves out, so it cannot be built from the module proxy; 3.6
 * can.)
 */
export const TRAEFIK_VERSION = 'v3.6.2';
export const TRAEFIK_IMAGE = `localhost/traefik:${TRAEFIK_VERSION}`;

type Say = (line: string) => void;

/** Runs a command; its output goes to `log`; throws with the log's tail when it fails. */
export async function sh(cmd: string, args: string[], log: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(log, `$ ${cmd} ${args.join(' ')}\n`, { flag: 'a' });
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'ENOENT' ? `${cmd} is not installed (test/env/provision.sh installs it)` : `${cmd}: ${err.message}`)),
    );
    child.on('close', resolve);
  });
  const out = Buffer.concat(chunks).toString();
  writeFileSync(log, out, { flag: 'a' });
  if (code !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} … failed (${code}); see ${log}:\n${out.split('\n').slice(-25).join('\n')}`);
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** Writes a one-layer docker-archive (what `docker save` writes) of the folder `root`. */
async function dockerArchive(root: string, out: string, repoTag: string, config: Record<string, unknown>): Promise<void> {
  const work = `${out}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await sh('tar', ['--numeric-owner', '-C', root, '-cf', join(work, 'layer.tar'), '.'], join(LOGS, 'images.log'));
  const diffId = await sha256File(join(work, 'layer.tar'));
  // Builders (buildah) expect one history entry per layer.
  const history = [{ created: new Date().toISOString(), created_by: `switchboard test environment: ${repoTag}` }];
  writeFileSync(
    join(work, 'config.json'),
    JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] }, history }),
  );
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [repoTag], Layers: ['layer.tar'] }]));
  await sh('tar', ['-C', work, '-cf', `${out}.tmp`, 'manifest.json', 'config.json', 'layer.tar'], join(LOGS, 'images.log'));
  renameSync(`${out}.tmp`, out);
  rmSync(work, { recursive: true, force: true });
}

/** The pause image: a static build of Kubernetes' own pause.c. */
async function pauseImage(say: Say): Promise<string> {
  const out = join(IMAGES, 'pause-3.10.tar');
  if (existsSync(out)) return out;
  const gomod = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
  const src = join(gomod, `k8s.io/kubernetes@${KUBE_VERSION}`, 'build/pause/linux/pause.c');
  if (!existsSync(src)) throw new Error(`${src} is missing; run test/env/provision.sh kube`);
  say('image: compiling the pause image from k8s.io/kubernetes build/pause/linux/pause.c');
  const root = join(IMAGES, 'pause-root');
  mkdirSync(root, { recursive: true });
  await sh('gcc', ['-static', '-O2', '-DVERSION=3.10', '-o', join(root, 'pause'), src], join(LOGS, 'images.log'));
  await dockerArchive(root, out, PAUSE_IMAGE, { Entrypoint: ['/pause'] });
  rmSync(root, { recursive: true, force: true });
  return out;
}

/** The CA certificates this machine adds to Debian's, which npm inside a build needs too. */
function extraCaFiles(): string[] {
  const dir = '/usr/local/share/ca-certificates';
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.crt'))
        .map((f) => join(dir, f))
    : [];
}

/** Debian bookworm (minbase) with this machine's Node.js and npm. */
async function nodeBaseImage(say: Say): Promise<string> {
  const node = process.execPath;
  const npmDir = join(dirname(dirname(node)), 'lib', 'node_modules', 'npm');
  const key = createHash('sha256')
    .update(process.version)
    .update(
      extraCaFiles()
        .map((f) => readFileSync(f))
        .join(''),
    )
    .digest('hex')
    .slice(0, 12);
  const out = join(IMAGES, `node-base-${process.version}-${key}.tar`);
  if (existsSync(out)) return out;
  if (!existsSync(npmDir)) throw new Error(`npm is not at ${npmDir}`);
  const root = join(IMAGES, 'node-base-root');
  rmSync(root, { recursive: true, force: true });
  say('image: debootstrap --variant=minbase bookworm (about 30 s; log: images.log)');
  await sh(
    'debootstrap',
    ['--variant=minbase', '--include=ca-certificates,libstdc++6', 'bookworm', root, 'http://deb.debian.org/debian'],
    join(LOGS, 'images.log'),
  );
  for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man']) {
    rmSync(join(root, d), { recursive: true, force: true });
    mkdirSync(join(root, d), { recursive: true });
  }
  say(`image: adding Node.js ${process.version} and npm from this machine`);
  cpSync(node, join(root, 'usr/bin/node'));
  cpSync(npmDir, join(root, 'usr/lib/node_modules/npm'), { recursive: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/bin/npx'));
  for (const f of extraCaFiles()) cpSync(f, join(root, 'usr/local/share/ca-certificates', f.split('/').pop()!));
  await sh('chroot', [root, 'update-ca-certificates'], join(LOGS, 'images.log'));
  await dockerArchive(root, out, NODE_BASE_IMAGE, {
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'],
    Cmd: ['node'],
  });
  rmSync(root, { recursive: true, force: true });
  return out;
}

function buildah(): string[] {
  return ['--root', join(CACHE, 'buildah', 'storage'), '--runroot', '/run/switchboard-buildah', '--storage-driver', 'overlay'];
}

/** The Switchboard image from the repository's Dockerfile (buildah, no registry). */
async function switchboardImage(say: Say, base: string): Promise<string> {
  const log = join(LOGS, 'image-build.log');
  writeFileSync(log, '');
  await sh('buildah', [...buildah(), 'pull', '--quiet', `docker-archive:${base}`], log);
  const ref = `${SWITCHBOARD_IMAGE.repository}:${SWITCHBOARD_IMAGE.tag}`;
  say(`image: buildah bud -f Dockerfile (NODE_IMAGE=${NODE_BASE_IMAGE}) → ${ref} (log: ${log})`);
  const bud = () =>
    sh(
      'buildah',
      [
        ...buildah(),
        'bud',
        '--layers',
        '--isolation',
        'chroot',
        '--network',
        'host',
        '--pull=false',
        '--build-arg',
        `NODE_IMAGE=${NODE_BASE_IMAGE}`,
        '-t',
        ref,
        '-f',
        'Dockerfile',
        '.',
      ],
      log,
      { cwd: ROOT },
    );
  // A RUN step can fail before it starts when the kernel refuses, for a moment, to seal the memfd
  // copy of buildah's chroot runner ("sealing memfd copy: Device or resource busy"): built
  // layers are cached, so a second attempt redoes only the rest.
  await bud().catch(async (err: unknown) => {
    if (!readFileSync(log, 'utf8').includes('sealing memfd copy')) throw err;
    say('image: a RUN step could not start (memfd sealing refused for a moment); building again');
    await bud();
  });
  const out = join(IMAGES, 'switchboard.tar');
  rmSync(out, { force: true });
  await sh('buildah', [...buildah(), 'push', '--quiet', ref, `docker-archive:${out}:${ref}`], log);
  return out;
}

/**
 * Traefik, compiled once from its Go module into ~/.cache/switchboard/bin (a static binary), and
 * its image: that binary alone. Its go.mod replaces some modules, which `go install` refuses, so
 * it is built in the module's own directory (read-only in the module cache; the output goes
 * elsewhere).
 */
async function traefikImage(say: Say): Promise<string> {
  const out = join(IMAGES, `traefik-${TRAEFIK_VERSION}.tar`);
  if (existsSync(out)) return out;
  const log = join(LOGS, 'traefik-build.log');
  const bin = join(CACHE, 'bin', `traefik-${TRAEFIK_VERSION}`);
  if (!existsSync(bin)) {
    say(`image: building Traefik ${TRAEFIK_VERSION} from its Go module (once; several minutes)`);
    await sh('go', ['mod', 'download', `github.com/traefik/traefik/v3@${TRAEFIK_VERSION}`], log, { cwd: IMAGES });
    const gomod = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
    const src = join(gomod, `github.com/traefik/traefik/v3@${TRAEFIK_VERSION}`);
    mkdirSync(dirname(bin), { recursive: true });
    await sh('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', `${bin}.tmp`, './cmd/traefik'], log, { cwd: src, env: { CGO_ENABLED: '0' } });
    renameSync(`${bin}.tmp`, bin);
  }
  const root = join(IMAGES, 'traefik-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  cpSync(bin, join(root, 'traefik'));
  await dockerArchive(root, out, TRAEFIK_IMAGE, { Entrypoint: ['/traefik'] });
  rmSync(root, { recursive: true, force: true });
  return out;
}

/** Builds (or takes from the cache) every image the cluster runs; returns their tarballs. */
export async function buildImages(say: Say): Promise<string[]> {
  mkdirSync(IMAGES, { recursive: true });
  const pause = await pauseImage(say);
  const base = await nodeBaseImage(say);
  const app = await switchboardImage(say, base);
  const ingress = await traefikImage(say);
  return [pause, app, ingress];
}
