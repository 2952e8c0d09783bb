import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVICES = join(ROOT, 'services');

/** Every module under services/ (TypeScript, and the JavaScript the browser shares), by path relative to the repository. */
function modules(dir = SERVICES): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return modules(p);
    return /\.(ts|js)$/.test(e.name) ? [relative(ROOT, p)] : [];
  });
}

/** The modules a module imports from the source tree (type-only imports count: they tie the code as much). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s+'(\.[^']+)'/g)) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), m[1]!));
    // A module written in TypeScript is imported by its compiled name.
    out.push(existsSync(join(ROOT, target)) ? target : target.replace(/\.js$/, '.ts'));
  }
  return out;
}

describe('module structure', () => {
  const graph = new Map(modules().map((f) => [f, importsOf(f)] as const));

  it('reads the imports it checks (the graph is not empty, and every import names a module that exists)', () => {
    assert.ok(graph.size > 50, `${graph.size} modules`);
    const dangling = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} → ${d}`));
    assert.deepEqual(dangling, []);
    assert.ok(graph.get('services/message/domain/pipeline.ts')!.includes('services/message/domain/sequencer.ts'));
  });

  it('has no import cycle: each module can be read knowing only what it imports (generated proto types mirror the nested proto)', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done' || f.includes('/gen/')) return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!f.includes('/gen/')) visit(f, []);
    assert.deepEqual(cycles, []);
  });

  it('keeps the message type out of the adapters: domain and transport code import it from services/shared', () => {
    for (const f of graph.keys()) {
      if (!f.includes('/adapters/')) continue;
      assert.doesNotMatch(
        readFileSync(join(ROOT, f), 'utf8'),
        /export (?:interface|type) (?:Message|AcceptedSend|MembershipKind)\b/,
        `${f} declares a message type`,
      );
    }
  });
});
