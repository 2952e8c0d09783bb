import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { parseAllDocuments } from 'yaml';
import { CLIENT_FRAME_TYPES } from '../../services/connect/domain/frames.js';
import { renderConfigurationDoc } from '../../services/config-docs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(`${ROOT}/${path}`, 'utf8');

/**
 * The string literals a type alias of `file` admits: of the alias itself (a union of literals), or
 * of property `prop` of each member of a union of object types. Read by the TypeScript checker from
 * the code, so a new frame type or error code shows up here without anyone listing it.
 */
function literalsOf(file: string, alias: string, prop?: string): string[] {
  const path = `${ROOT}/${file}`;
  const program = ts.createProgram([path], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(path)!;
  const node = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === alias);
  if (!node) throw new Error(`no type ${alias} in ${file}`);
  const type = checker.getTypeAtLocation(node.name);
  const members = type.isUnion() ? type.types : [type];
  const out = new Set<string>();
  for (const m of members) {
    const t = prop ? checker.getTypeOfSymbol(m.getProperty(prop)!) : m;
    for (const lit of t.isUnion() ? t.types : [t]) if (lit.isStringLiteral()) out.add(lit.value);
  }
  return [...out].sort();
}

interface AsyncApiPayload {
  properties?: { type?: { const?: string }; code?: { enum?: string[] } };
  allOf?: AsyncApiPayload[];
}

describe('docs: the contract in the repository, kept equal to the code', () => {
  it('docs/asyncapi.yaml is a valid AsyncAPI 3 document (@asyncapi/parser, no error diagnostics)', async () => {
    const { document, diagnostics } = await new Parser().parse(read('docs/asyncapi.yaml'));
    // The diagnostics carry the severity of another copy of @stoplight/types: the same numbers.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-comparison
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map((d) => `${d.path.join('.')}: ${d.message}`);
    assert.deepEqual(errors, []);
    assert.equal(document?.version(), '3.0.0');
  });

  it('docs/asyncapi.yaml has every frame type the gateway accepts and sends, and every error code', async () => {
    const { document } = await new Parser().parse(read('docs/asyncapi.yaml'));
    const typeOf = (p: AsyncApiPayload): string | undefined => p.properties?.type?.const ?? p.allOf?.map(typeOf).find((t) => t !== undefined);
    const payloads = (action: 'send' | 'receive'): AsyncApiPayload[] =>
      document!
        .operations()
        .all()
        .filter((o) => o.action() === action)
        .flatMap((o) =>
          o
            .messages()
            .all()
            .map((m) => m.payload()!.json<AsyncApiPayload>()),
        );
    const typesOf = (action: 'send' | 'receive'): string[] =>
      payloads(action)
        .map((p) => typeOf(p)!)
        .sort();
    assert.deepEqual(typesOf('receive'), [...CLIENT_FRAME_TYPES].sort(), 'client → gateway: the parser table of services/connect/domain/frames.ts');
    assert.deepEqual(typesOf('send'), literalsOf('services/connect/domain/frames.ts', 'ServerFrame', 'type'), 'gateway → client: the ServerFrame union');
    const error = payloads('send').find((p) => typeOf(p) === 'error')!;
    assert.deepEqual([...(error.properties?.code?.enum ?? [])].sort(), literalsOf('services/shared/errors.ts', 'ErrorCode'));
  });

  it('docs/PROTOCOL.md names every frame type and error code', () => {
    const protocol = read('docs/PROTOCOL.md');
    for (const t of [...CLIENT_FRAME_TYPES, ...literalsOf('services/connect/domain/frames.ts', 'ServerFrame', 'type')])
      assert.match(protocol, new RegExp(`"type":"${t.replace('.', '\\.')}"`), t);
    for (const code of literalsOf('services/shared/errors.ts', 'ErrorCode')) assert.match(protocol, new RegExp(`\\| \`${code}\` \\|`), code);
  });

  it('docs/CONFIGURATION.md is what the configuration schemas say (make docs writes it)', () => {
    assert.equal(read('docs/CONFIGURATION.md'), renderConfigurationDoc());
  });

  it('docs/sdk/ is the client SDK’s API reference as TypeDoc writes it from the code (make docs writes it)', function () {
    this.timeout(60_000);
    const out = mkdtempSync(join(tmpdir(), 'sdk-docs-'));
    execFileSync('npx', ['typedoc', '--options', 'services/client/sdk/typedoc.json', '--out', out, '--logLevel', 'Error'], { cwd: ROOT, encoding: 'utf8' });
    const tree = (dir: string): Map<string, string> =>
      new Map(
        readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => {
            const path = join(e.parentPath, e.name);
            return [relative(dir, path), readFileSync(path, 'utf8')] as const;
          }),
      );
    const want = tree(out);
    const have = tree(join(ROOT, 'docs/sdk'));
    assert.deepEqual([...have.keys()].sort(), [...want.keys()].sort(), 'the same pages');
    for (const [page, text] of want) assert.equal(have.get(page), text, `docs/sdk/${page}`);
  });

  it('nothing in the repository refers to a file outside it, and every contract reference names docs/PROTOCOL.md', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(
        (f) => f && /\.(ts|js|cjs|md|yaml|yml|json|sh|html|proto|tpl|txt)$/.test(f) && !f.startsWith('test/unit/docs.test.ts') && f !== 'package-lock.json',
      );
    const outside: string[] = [];
    const bare: string[] = [];
    for (const f of files) {
      const text = read(f);
      if (/shared\/(PROTOCOL|ARCHITECTURE)\.md|shared\/seed\//.test(text)) outside.push(f);
      // "PROTOCOL.md §n" must say which PROTOCOL.md: the one in docs/.
      for (const m of text.matchAll(/(\S*)PROTOCOL\.md §/g)) if (!m[1]!.endsWith('docs/') && f !== 'docs/PROTOCOL.md') bare.push(`${f}: ${m[0]}`);
    }
    assert.deepEqual(outside, [], 'files that refer outside the repository');
    assert.deepEqual(bare, [], 'contract references that do not name docs/PROTOCOL.md');
  });

  it('every alert of the PrometheusRule links its runbook entry in docs/OPERATIONS.md, and the entry is there', () => {
    const docs = parseAllDocuments(read('k8s/switchboard-monitoring.yaml')).map(
      (d) => d.toJSON() as { kind?: string; spec?: { groups: Array<{ rules: Array<{ alert?: string; annotations?: Record<string, string> }> }> } },
    );
    const rules = docs.find((d) => d.kind === 'PrometheusRule')!.spec!.groups.flatMap((g) => g.rules.filter((r) => r.alert));
    assert.ok(rules.length >= 7);
    const operations = read('docs/OPERATIONS.md');
    for (const r of rules) {
      assert.equal(r.annotations?.runbook_url, `docs/OPERATIONS.md#${r.alert!.toLowerCase()}`, r.alert);
      assert.match(operations, new RegExp(`^### ${r.alert}$`, 'm'), `docs/OPERATIONS.md has a runbook entry for ${r.alert}`);
    }
  });

  it("the README is the user's page: at most 250 lines, the two commands, and links into docs/", () => {
    const readme = read('README.md');
    assert.ok(readme.split('\n').length <= 250, `${readme.split('\n').length} lines`);
    assert.match(readme, /^npm ci && npm start /m);
    assert.match(readme, /^make test /m);
    for (const doc of [
      'docs/PROTOCOL.md',
      'docs/asyncapi.yaml',
      'docs/ARCHITECTURE.md',
      'docs/CONFIGURATION.md',
      'docs/OPERATIONS.md',
      'bench/RESULTS.md',
      'bench/NOTES.md',
      'CONTRIBUTING.md',
      'CHANGELOG.md',
      'LICENSE',
    ]) {
      assert.ok(readme.includes(`](${doc})`), `links ${doc}`);
    }
    const headline = readme.split('<!-- bench:headline -->')[1]!.split('<!-- /bench:headline -->')[0]!.trim().split('\n');
    assert.ok(headline.length >= 3 && headline.length <= 15, `benchmark table of ${headline.length} lines`);
  });
});
