// One jest run for the whole repository; each project is a part that can also run alone
// (`npx jest --selectProjects unit`). Tests resolve @orders/common to its TypeScript source
// through the "development" export condition, so no build is needed before testing.
const base = {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['development', 'node', 'require', 'default'] },
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.check.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // `cdk synth` leaves a copy of the workspace's package.json files in cdk.out.
  modulePathIgnorePatterns: ['<rootDir>/infra/cdk/cdk.out'],
};

/** @type {import('jest').Config} */
module.exports = {
  // One test file at a time: integration suites start real daprd, Sentry and Redis processes,
  // and two of them at once would fight over the machine's cores and blur their timings.
  maxWorkers: 1,
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
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/infra/cdk/tsconfig.json' }] },
      testMatch: ['<rootDir>/infra/cdk/test/**/*.test.ts', '<rootDir>/proving-ground/test/cdk/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'integration',
      rootDir: __dirname,
      testMatch: ['<rootDir>/proving-ground/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/proving-ground/test/cdk/'],
      // Real sidecars, Sentry and Redis servers take seconds, not milliseconds.
      setupFilesAfterEnv: ['<rootDir>/proving-ground/test/integration-timeout.ts'],
    },
  ],
};
