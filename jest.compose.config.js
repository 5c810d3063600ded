/**
 * `npm run test:compose` (`make smoke`): the compose deployment run for real, apart from `npm test`
 * because it builds images and takes minutes. One file at a time: it owns the Docker engine's load.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/compose'],
  testMatch: ['**/*.smoke.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 900000,
  maxWorkers: 1,
};
