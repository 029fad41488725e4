// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: no I/O, no clocks, no drivers.
// Side effects belong in activities (see ../shared/style.md).
const forbiddenInWorkflows = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'postgres',
  'drizzle-orm',
  'drizzle-orm/*',
  'twilio',
  'twilio/*',
];

const SQL_ONLY_IN_DB =
  'SQL is written in db/queries/<table>.ts only: call a query function (see docs/development.md).';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'db/migrations/', 'bin/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // one owner per table: SQL is written in db/ (db/queries/<table>.ts); harness/ reaches the raw
    // driver for tests that look at the database from outside
    files: ['**/*.ts'],
    ignores: ['db/**', 'harness/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['postgres', 'drizzle-orm'].map((name) => ({ name, message: SQL_ONLY_IN_DB })),
          patterns: [{ group: ['drizzle-orm/*'], message: SQL_ONLY_IN_DB }],
        },
      ],
    },
  },
  {
    // a function fits on a screen where the contract's logic lives
    files: ['workflows/**/*.ts', 'activities/**/*.ts', 'server/**/*.ts', 'ops/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows
            .filter((m) => !m.includes('*'))
            .map((name) => ({ name, message: 'Workflow code must stay deterministic: use an activity.' })),
          patterns: [
            {
              group: forbiddenInWorkflows.filter((m) => m.includes('*')),
              message: 'Workflow code must stay deterministic: use an activity.',
            },
            {
              group: [
                '../activities/*',
                '../activities',
                '../db/*',
                '../server/*',
                '../client/*',
                '../ops/*',
                '../infra/*',
                '../harness/*',
              ],
              allowTypeImports: true,
              message: 'Workflows import only @temporalio/workflow, their shared definitions and types.',
            },
          ],
        },
      ],
    },
  },
  {
    // plain Node scripts (postinstall): CommonJS, Node's globals
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
