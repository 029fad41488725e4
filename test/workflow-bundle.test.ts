/**
 * Workflow code runs in Temporal's deterministic sandbox. The bundler must accept ours, and must
 * refuse workflow code that pulls in Node built-ins or a driver: this test proves both, so a
 * forbidden import in workflows/ fails CI here (and in ESLint) rather than in production.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ESLint } from 'eslint';
import { repoRoot, workflowBundle } from '../harness/stack';

/** The database driver's module name, quoted (planted in files that must not bundle or lint). */
const DRIVER = "'postgres'";

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

test('the workflows bundle', async () => {
  const bundle = await workflowBundle();
  assert.match(bundle.code, /campaignWorkflow/);
  assert.match(bundle.code, /callContactWorkflow/);
});

test('a workflow that imports a Node built-in or the database driver does not bundle', async () => {
  // inside the repo, so that `postgres` resolves and the bundler refuses it for what it is
  fs.mkdirSync(path.join(repoRoot, 'data'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(repoRoot, 'data', 'wf-forbidden-'));
  for (const [file, body] of [
    [
      'fs.ts',
      `import fs from 'fs';\nexport async function bad(): Promise<string> { return fs.readFileSync('/etc/hostname', 'utf8'); }\n`,
    ],
    [
      'pg.ts',
      `import postgres from ${DRIVER};\nexport async function bad(): Promise<unknown> { return postgres(); }\n`,
    ],
  ] as const) {
    const p = path.join(dir, file);
    fs.writeFileSync(p, body);
    const logged: string[] = [];
    const capture = {
      ...quiet,
      error: (m: string, meta?: unknown) => logged.push(`${m} ${JSON.stringify(meta ?? '')}`),
    };
    let message = '';
    await assert.rejects(bundleWorkflowCode({ workflowsPath: p, logger: capture as never }), (err: Error) => {
      message = err.message;
      return true;
    });
    const text = [message, ...logged].join('\n');
    // fs is refused by name; the postgres driver for the Node built-ins it needs (net, tls, …)
    const expected = file === 'fs.ts' ? /'fs'/ : /'(net|tls|crypto|os|stream|perf_hooks)'|postgres/;
    assert.match(text, /disallowed modules|Webpack finished with errors/);
    assert.match(text, expected, `${file}: ${text.slice(0, 1500)}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('ESLint forbids drivers and Node built-ins in workflows/', async () => {
  const eslint = new ESLint({ cwd: repoRoot });
  const code = `import postgres from ${DRIVER};\nimport { readFileSync } from 'node:fs';\nimport twilio from 'twilio';\nexport const x = [postgres, readFileSync, twilio];\n`;
  const [result] = await eslint.lintText(code, {
    filePath: path.join(repoRoot, 'workflows', 'forbidden.ts'),
  });
  const restricted = result!.messages.filter((m) => m.ruleId === 'no-restricted-imports');
  assert.equal(restricted.length, 3, JSON.stringify(result!.messages, null, 1));
  const clean = await eslint.lintFiles([path.join(repoRoot, 'workflows')]);
  assert.ok(clean.length >= 3, 'the workflow files were linted');
  const errors = clean.flatMap((r) =>
    r.messages.filter((m) => m.severity === 2).map((m) => `${r.filePath}: ${m.message}`),
  );
  assert.deepEqual(errors, []);
});
