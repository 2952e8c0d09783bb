// ESLint (flat config): typescript-eslint's strict, type-aware rules over the services, tests,
// benchmarks and the cdk8s app. `make lint` runs it; `make test` fails on any finding.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'services/shared/gen/**', 'services/shared/gen-es/**', 'k8s/**', 'charts/**', 'bench/results/**', 'test/output/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    rules: {
      // Numbers and booleans read as themselves in a message; objects and undefined do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // With noUncheckedIndexedAccess every index is possibly undefined; `!` marks an index the
      // code just checked or built (a loop bound, a regex group that matched), which tsc cannot see.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `(x) => void f(x)` and `() => f()` returning void are how callbacks are written here.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // ws hands a text frame over as one Buffer (binaryType "nodebuffer", its default).
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['RawData', 'Error', 'RegExp', 'URL', 'URLSearchParams'] }],
      // An async method that implements a Promise-returning interface without awaiting anything
      // (the embedded backends, test doubles) is async so that a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Kubernetes objects read back from the API server and from rendered YAML are arbitrary JSON
    // (the `Json` type): these tests walk them by path, as kubectl's JSONPath does.
    files: ['test/cluster/**', 'test/k8s/**', 'test/support/cluster.ts', 'test/env/cluster.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Tests and benchmarks: a hook's `?.` on what `before` may have failed to assign, and loops on
    // flags that another task sets, read to TypeScript as conditions that cannot change; test
    // doubles stand in for classes with plain objects.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    // Callbacks that puppeteer runs in the browser: their DOM types are not in the Node project's lib.
    files: ['test/integration/chat-page.test.ts', 'test/integration/server-api.test.ts', 'test/support/browser.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The browser page's modules (plain JS, loaded without a build).
    files: ['services/client/web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
