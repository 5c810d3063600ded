/**
 * The dashboard's browser entry. It lives in this folder so that SAM's esbuild build, given it
 * as the function's second entry point, writes browser.js and browser.css beside handler.js,
 * where ./root.ts reads them; infra/local/dashboard-build.ts builds it the same way locally.
 */
import '../../dashboard/style.css';
import '../../dashboard/ansi.css';
import { startDashboard } from '../../dashboard/app';

startDashboard(document.getElementById('app') as HTMLElement);
