import { ROUTES } from '../../contract/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { assetAnswer, type Dashboard, findDashboardDir, loadDashboard, rootAnswer } from './root';

let dashboard: Dashboard | null = null;

/** The built dashboard, read once per process; looked for again while it is missing (a build may come later). */
function builtDashboard(): Dashboard | null {
  if (dashboard === null) {
    const dir = findDashboardDir();
    if (dir !== null) dashboard = loadDashboard(dir);
  }
  return dashboard;
}

/** GET / (the status JSON, or the dashboard for a browser) and GET /assets/{file} (its script and stylesheet). No database. */
export const build = defineHandler('root', 'public', async (event) =>
  event.routeKey === `GET ${ROUTES.assets}` || event.pathParameters?.file !== undefined
    ? assetAnswer(event, builtDashboard())
    : rootAnswer(event, builtDashboard()),
);

export const handler = lambdaHandler(build);
