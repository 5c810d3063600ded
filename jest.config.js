/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: [
    '<rootDir>/contract',
    '<rootDir>/dashboard',
    '<rootDir>/functions',
    '<rootDir>/agent',
    '<rootDir>/cli',
    '<rootDir>/infra',
    '<rootDir>/test',
  ],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest'] },
  // Middy is ESM-only: let swc turn it into CommonJS for jest.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Every test asserts: one without an expect() fails.
  setupFilesAfterEnv: ['<rootDir>/test/support/every-test-asserts.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
};
