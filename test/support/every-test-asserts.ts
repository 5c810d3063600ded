/**
 * Loaded by jest before every test file (jest.config.js, setupFilesAfterEnv): a test that makes
 * no assertion fails, so no case can pass by returning early or by checking nothing.
 */
beforeEach(() => {
  expect.hasAssertions();
});
