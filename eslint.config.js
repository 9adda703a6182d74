// ESLint: the rules that catch real defects in this codebase (type-aware, through typescript-eslint).
// Formatting is Prettier's job (.prettierrc.json); module boundaries are dependency-cruiser's
// (.dependency-cruiser.cjs). `npm run lint` runs this; `npm test` runs it first.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Every built-in error constructor, as an esquery pattern. */
const BUILTIN_ERRORS = '/^(Error|TypeError|RangeError|SyntaxError|EvalError|ReferenceError|URIError|AggregateError)$/';

/** Typed errors only: every error made on purpose is a GoogLeNetError (src/errors.ts). */
const TYPED_ERRORS = [
  {
    selector: `:matches(NewExpression, CallExpression)[callee.type='Identifier'][callee.name=${BUILTIN_ERRORS}]`,
    message: 'use a class from src/errors.ts (OptionError, WeightFormatError, …, InternalError for a broken invariant)',
  },
  {
    selector: `:matches(NewExpression, CallExpression)[callee.object.name=/^(globalThis|window|self)$/][callee.property.name=${BUILTIN_ERRORS}]`,
    message: 'use a class from src/errors.ts (OptionError, WeightFormatError, …, InternalError for a broken invariant)',
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'web-dist/**',
      'node_modules/**',
      'test-artifacts/**',
      'bench/results/**',
      'runs/**',
      'web/public/**',
      'src/graph/onnx-proto.ts',
      'test/fixtures/**',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise nobody awaits loses its error and its ordering.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() register the test; the runner awaits them.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      // One import statement per module (type-only imports may stand apart).
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Numeric code is typed all the way: an `any` hides a Float32Array/Float64Array mix-up.
      '@typescript-eslint/no-explicit-any': 'error',
      // Every error made on purpose is a typed GoogLeNetError (src/errors.ts) with a code: no
      // built-in error constructor, thrown or not, with `new` or without (the CLI prints anything
      // else as an internal error).
      'no-restricted-syntax': ['error', ...TYPED_ERRORS],
      'max-len': ['error', { code: 200, ignoreUrls: true, ignoreRegExpLiterals: true, ignorePattern: '^\\s*(import|export) ' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // The public surface is chosen name by name: an entry or namespace module re-exports no whole
    // module (`export * from`), except the shared list (api.ts) that both entries re-export.
    files: ['src/index.ts', 'src/web/index.ts', 'src/api.ts', 'src/advanced.ts', 'src/data/index-node.ts', 'src/layers/index.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...TYPED_ERRORS,
        {
          selector: 'ExportAllDeclaration[exported=null]:not([source.value=/^\\.\\.?\\/api\\.js$/])',
          message: 'export the names of a public module one by one (and describe each in docs/API.md), not the whole module',
        },
      ],
    },
  },
  {
    // Tests, benchmarks and scripts may throw plain errors and use test doubles.
    files: ['test/**', 'bench/**', 'scripts/**', '**/*.test.ts'],
    rules: { 'no-restricted-syntax': 'off', 'no-regex-spaces': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly', globalThis: 'readonly' } },
  },
  {
    // test/consumer/'s web app runs in a browser.
    files: ['test/consumer/app/main.js'],
    languageOptions: { globals: { window: 'readonly', location: 'readonly', URLSearchParams: 'readonly' } },
  },
);
