// One jest run for the whole repository; each project is a part that can also run alone
// (`npx jest --selectProjects unit`). Tests resolve @orders/common to its TypeScript source
// through the "development" export condition, so no build is needed before testing.
const base = {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['development', 'node', 'require', 'default'] },
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.check.json', isolatedModules: true }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...base,
      displayName: 'unit',
      rootDir: __dirname,
      testMatch: ['<rootDir>/{packages,apps}/*/test/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'infra',
      rootDir: __dirname,
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/infra/cdk/tsconfig.json', isolatedModules: true }] },
      testMatch: ['<rootDir>/infra/cdk/test/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'integration',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      // Real sidecars, Sentry and Redis servers: slow to start, and run one file at a time so
      // that two suites never fight for the machine's two cores.
      testTimeout: 120_000,
      maxWorkers: 1,
    },
  ],
};
