import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the page needs to know about the gateway before it connects. */
export interface DemoPageInfo {
  authMode: 'jwt' | 'insecure-dev';
  /** Browser origins allowed to open a WebSocket; undefined = any. */
  allowedOrigins?: readonly string[];
}

// The page's files, at their paths under services/ so that the modules' relative imports resolve
// the same way in the browser (under /static/) as in Node; nothing else under services/ is served.
// The client SDK is TypeScript: compiled beside its source in a build (dist/, the image), and
// compiled here, once at start, when the gateway runs from the source (npm start).
const ASSETS: Record<string, string> = {
  'client/web/app.js': 'text/javascript',
  'client/web/app.css': 'text/css',
  'client/sdk/index.js': 'text/javascript',
  'client/sdk/connect.js': 'text/javascript',
  'client/sdk/chat-client.js': 'text/javascript',
  'client/sdk/protocol.js': 'text/javascript',
  'shared/backoff.js': 'text/javascript',
  'shared/ws-protocol.js': 'text/javascript',
};
const SERVICES_DIR = new URL('../../', import.meta.url);
const HOST_PATTERN = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The browser chat page at `/` of the WebSocket port (CONNECT_DEMO_PAGE=true): plain HTML and
 * ES modules read once at start, served with a Content-Security-Policy that lets the page load
 * nothing and talk to nothing but this gateway. Its WebSocket goes through the same origin
 * allow-list as any other browser's; `/config.json` tells the page whether its own origin passes.
 */
export function createDemoPage(info: DemoPageInfo): (req: IncomingMessage, res: ServerResponse) => boolean {
  const files = new Map<string, { body: Buffer; type: string }>();
  files.set('/', { body: readFileSync(new URL('client/web/index.html', SERVICES_DIR)), type: 'text/html; charset=utf-8' });
  for (const [path, type] of Object.entries(ASSETS)) {
    files.set(`/static/${path}`, { body: asset(path), type: `${type}; charset=utf-8` });
  }
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0]!;
    const host = req.headers.host !== undefined && HOST_PATTERN.test(req.headers.host) ? req.headers.host : undefined;
    let body: Buffer;
    let type: string;
    if (path === '/config.json') {
      const origin = host === undefined ? undefined : `${req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http'}://${host}`;
      const originAllowed = info.allowedOrigins === undefined || (origin !== undefined && info.allowedOrigins.includes(origin));
      body = Buffer.from(JSON.stringify({ authMode: info.authMode, origin, originAllowed }));
      type = 'application/json';
    } else {
      const file = files.get(path === '/index.html' ? '/' : path);
      if (!file) return false;
      ({ body, type } = file);
    }
    const self = host === undefined ? '' : ` ws://${host} wss://${host}`;
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${self}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** A page file: as it is, or a module compiled from its TypeScript source when there is no JavaScript beside it. */
function asset(path: string): Buffer {
  const file = new URL(path, SERVICES_DIR);
  if (existsSync(file) || !path.endsWith('.js')) return readFileSync(file);
  const source = readFileSync(new URL(path.replace(/\.js$/, '.ts'), SERVICES_DIR), 'utf8');
  // Only a run from the source gets here, and it has the project's development dependencies.
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    fileName: path.replace(/\.js$/, '.ts'),
  });
  return Buffer.from(out.outputText);
}
