import type { Deps } from '../shared/deps';
import { UnavailableError } from '../shared/errors';

/** Ok while the database answers a trivial query; UnavailableError otherwise. */
export async function checkHealth(deps: Pick<Deps, 'db'>): Promise<{ status: 'ok' }> {
  try {
    await deps.db.query('select 1');
  } catch {
    throw new UnavailableError('The database does not answer.');
  }
  return { status: 'ok' };
}
