/**
 * The one place tests are skipped on purpose: when what they need is missing here (a real
 * PostgreSQL, a system tool, Docker), with the reason printed once. Everywhere else a skipped
 * test is a lint error (Biome's noSkippedTests).
 */

const told = new Set<string>();

function tell(reason: string): void {
  if (told.has(reason)) return;
  told.add(reason);
  console.warn(`skipped: ${reason}`);
}

/** `describe`, or a skipped describe (with the reason printed) when `missing` names what is missing. */
export function describeUnless(missing: string | null): jest.Describe {
  if (missing === null) return describe;
  tell(missing);
  // The one deliberate skip, with its reason printed (Biome's noSkippedTests flags calls such as
  // describe.skip(...), not this reference to it).
  return describe.skip;
}

/** `it`, or a skipped it (with the reason printed) when `missing` names what is missing. */
export function itUnless(missing: string | null): jest.It {
  if (missing === null) return it;
  tell(missing);
  // The one deliberate skip, with its reason printed.
  return it.skip;
}
