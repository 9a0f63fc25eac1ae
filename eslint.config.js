// ESLint for the whole repository (`npm run lint`, and in `npm test` before jest):
// typescript-eslint's type-checked recommended rules for correctness, and @stylistic rules set to
// the style the code is already written in, so that `npm run lint -- --fix` changes only what
// strays from it and never reflows the lines other people are editing.
const js = require('@eslint/js');
const { defineConfig } = require('eslint/config');
const stylistic = require('@stylistic/eslint-plugin');
const tseslint = require('typescript-eslint');

/**
 * The style the code already has: two-space indent, single quotes, semicolons, trailing commas.
 * Not enforced: line length (a long line is sometimes the clearest) and the spacing inside braces
 * and brackets, which @stylistic 6 moved into list-style, a rule that also decides where a
 * multi-line list breaks; the code breaks them where the line needs it.
 */
const style = {
  '@stylistic/indent': ['error', 2, { SwitchCase: 1, flatTernaryExpressions: true, offsetTernaryExpressions: true }],
  '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
  '@stylistic/semi': ['error', 'always'],
  '@stylistic/comma-dangle': ['error', 'always-multiline'],
  '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
  '@stylistic/arrow-parens': ['error', 'always'],
  '@stylistic/comma-spacing': 'error',
  '@stylistic/key-spacing': 'error',
  '@stylistic/keyword-spacing': 'error',
  '@stylistic/space-infix-ops': 'error',
  '@stylistic/space-before-blocks': 'error',
  '@stylistic/space-before-function-paren': ['error', { anonymous: 'always', named: 'never', asyncArrow: 'always' }],
  '@stylistic/space-in-parens': 'error',
  '@stylistic/arrow-spacing': 'error',
  '@stylistic/block-spacing': 'error',
  '@stylistic/semi-spacing': 'error',
  '@stylistic/type-annotation-spacing': 'error',
  '@stylistic/member-delimiter-style': 'error',
  '@stylistic/eol-last': 'error',
  '@stylistic/no-trailing-spaces': 'error',
  '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxBOF: 0, maxEOF: 0 }],
  '@stylistic/no-tabs': 'error',
  '@stylistic/quote-props': ['error', 'as-needed'],
  '@stylistic/spaced-comment': ['error', 'always', { markers: ['/'] }],
};

module.exports = defineConfig(
  { ignores: ['**/node_modules/', '**/dist/', '**/cdk.out/', '.run/', 'proving-ground/bench/results/', 'proving-ground/chaos/results/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // tsconfig.check.json covers everything the build does not, the CDK app has its own.
        project: ['./tsconfig.check.json', './infra/cdk/tsconfig.json'],
        tsconfigRootDir: __dirname,
      },
    },
    plugins: { '@stylistic': stylistic },
    rules: {
      ...style,
      // A leading underscore is how the code names what it must take but does not use: an express
      // error handler's fourth parameter, a field destructured away from the rest.
      // Off: an async function that throws returns a rejected promise, which is what the async
      // interfaces the test doubles and scenario hooks implement promise; dropping `async` would throw.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The reference (what a user copies: the apps, packages/, dev/, infra/cdk) never imports the
    // proving ground (proving-ground/: harness, bench, chaos, the suites). The other way is fine.
    files: ['apps/**/*.ts', 'packages/**/*.ts', 'dev/**/*.ts', 'infra/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['**/proving-ground/**', 'proving-ground/**'], message: 'The reference never imports the proving ground (README: Layout).' }],
      }],
    },
  },
  {
    files: ['**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', console: 'readonly', process: 'readonly' } },
    plugins: { '@stylistic': stylistic },
    rules: { ...style },
  },
);
