/**
 * The layout docs/development.md describes, checked: SQL is written in db/ only (the driver and
 * the query builder are imported nowhere else but harness/), the pure rules in domain/ import
 * nothing else of the project, and no function in workflows/, activities/, server/ or ops/ runs
 * past a screen.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { repoRoot } from '../harness/stack';

const PRODUCTION = [
  'activities',
  'workflows',
  'worker',
  'ops',
  'server',
  'client',
  'infra',
  'domain',
  'simulator',
];

function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(repoRoot, path.join(e.parentPath, e.name)));
}

test('ESLint refuses the driver and the query builder outside db/ and harness/', async () => {
  const eslint = new ESLint({ cwd: repoRoot });
  // the module names quoted apart, so that a search for the imports finds none in this file
  const [driver, builder, core] = ["'postgres'", "'drizzle-orm'", "'drizzle-orm/pg-core'"];
  const code = `import postgres from ${driver};\nimport { eq } from ${builder};\nimport { pgTable } from ${core};\nexport const x = [postgres, eq, pgTable];\n`;
  for (const dir of [...PRODUCTION, 'test', 'bench', 'chaos', 'scripts']) {
    const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, dir, 'planted.ts') });
    const refused = result!.messages.filter((m) => m.ruleId === 'no-restricted-imports');
    assert.equal(refused.length, 3, `${dir}/: ${JSON.stringify(result!.messages)}`);
  }
  for (const dir of ['db/queries', 'harness']) {
    const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, dir, 'planted.ts') });
    assert.deepEqual(
      result!.messages.filter((m) => m.ruleId === 'no-restricted-imports'),
      [],
      `${dir}/ may use the driver`,
    );
  }
});

test('no SQL is written outside db/: no tagged sql`…` and no query-builder call in production code or chaos/', () => {
  const found: string[] = [];
  for (const file of [...PRODUCTION, 'chaos'].flatMap(tsFiles)) {
    if (file.startsWith('simulator/')) continue; // the simulator has no database
    const text = fs.readFileSync(path.join(repoRoot, file), 'utf8');
    text.split('\n').forEach((line, i) => {
      // sql`…`, sql<Row[]>`…` (the type argument may run over the next lines), db.select(…)
      if (/\b(sql|tx|db)(<.*>)?`|\.sql<\s*$|\.(db|tx)\.(select|insert|update|delete|execute)\(/.test(line))
        found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test('domain/ imports nothing of the project outside domain/', () => {
  const found: string[] = [];
  for (const file of tsFiles('domain')) {
    const text = fs.readFileSync(path.join(repoRoot, file), 'utf8');
    for (const m of text.matchAll(/from '(\.[^']*)'/g)) {
      const target = path.relative(repoRoot, path.resolve(repoRoot, path.dirname(file), m[1]!));
      if (!target.startsWith('domain')) found.push(`${file} imports ${m[1]}`);
    }
  }
  assert.deepEqual(found, []);
});

test('ESLint refuses a function longer than 60 lines in workflows/, activities/, server/ and ops/', async () => {
  const eslint = new ESLint({ cwd: repoRoot });
  const body = Array.from({ length: 61 }, (_, i) => `  n += ${i};`).join('\n');
  const code = `export function long(): number {\n  let n = 0;\n${body}\n  return n;\n}\n`;
  for (const dir of ['workflows', 'activities', 'server', 'ops']) {
    const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, dir, 'planted.ts') });
    const long = result!.messages.filter((m) => m.ruleId === 'max-lines-per-function');
    assert.equal(long.length, 1, `${dir}/: ${JSON.stringify(result!.messages)}`);
    assert.equal(long[0]!.severity, 2);
  }
});
