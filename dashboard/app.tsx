/**
 * The dashboard: one page, views chosen by the URL's hash. Adding a view (Agents, Schedules)
 * is one entry in VIEWS with its nav label; the sign-in prompt stands in front of all of them
 * while the server wants a token it does not have.
 */
import { type ComponentChildren, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, storeToken, taskSummary, whenUnauthorized } from './api';
import { AgentsPage } from './views/agents';
import { SchedulesPage } from './views/schedules';
import { SignIn } from './views/sign-in';
import { TaskDetail } from './views/task';
import { TasksPage } from './views/tasks';

type View = {
  /** shown in the navigation when set; the link goes to `href` */
  nav?: string;
  href?: string;
  /** the view's parameters when the hash is one of its URLs, else null */
  match: (hash: string) => Record<string, string> | null;
  render: (params: Record<string, string>) => ComponentChildren;
};

const TASK_URL = /^#\/tasks\/([^/?#]+)$/;

/** In order: the first match wins; the last is the default. */
const VIEWS: View[] = [
  {
    match: (hash) => {
      const m = TASK_URL.exec(hash);
      return m?.[1] ? { id: decodeURIComponent(m[1]) } : null;
    },
    render: (p) => <TaskDetail id={p.id as string} />,
  },
  { nav: 'Agents', href: '#/agents', match: (hash) => (hash === '#/agents' ? {} : null), render: () => <AgentsPage /> },
  { nav: 'Schedules', href: '#/schedules', match: (hash) => (hash === '#/schedules' ? {} : null), render: () => <SchedulesPage /> },
  { nav: 'Tasks', href: '#/', match: () => ({}), render: () => <TasksPage /> },
];

function currentView(hash: string): { view: View; params: Record<string, string> } {
  for (const view of VIEWS) {
    const params = view.match(hash);
    if (params !== null) return { view, params };
  }
  const fallback = VIEWS[VIEWS.length - 1] as View;
  return { view: fallback, params: {} };
}

type Auth = { state: 'checking' } | { state: 'ok' } | { state: 'needed'; message: string | null };

function App() {
  const [hash, setHash] = useState(location.hash);
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });

  useEffect(() => {
    const onHash = () => setHash(location.hash);
    addEventListener('hashchange', onHash);
    whenUnauthorized((detail) =>
      setAuth((a) =>
        a.state === 'needed' ? a : { state: 'needed', message: a.state === 'ok' ? `The server refused the token: ${detail}` : null },
      ),
    );
    // One cheap call tells whether the server wants a token this tab does not have.
    taskSummary().then(
      () => setAuth({ state: 'ok' }),
      (error: unknown) => {
        if (!(error instanceof ApiError && error.status === 401)) setAuth({ state: 'ok' });
      },
    );
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const { view, params } = currentView(hash);
  return (
    <>
      <header class="top">
        <h1>
          <a href="#/">Task executor</a>
        </h1>
        <nav aria-label="Views">
          <ul>
            {VIEWS.filter((v) => v.nav).map((v) => (
              <li key={v.nav}>
                <a href={v.href} aria-current={v === view ? 'page' : undefined}>
                  {v.nav}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main">
        {auth.state === 'checking' ? (
          <p class="muted">Connecting…</p>
        ) : auth.state === 'needed' ? (
          <SignIn
            message={auth.message}
            onSignedIn={() => setAuth({ state: 'ok' })}
            onRefused={(message) => {
              storeToken(null);
              setAuth({ state: 'needed', message });
            }}
          />
        ) : (
          view.render(params)
        )}
      </main>
    </>
  );
}

/** Renders the dashboard into `root`. */
export function startDashboard(root: HTMLElement): void {
  render(<App />, root);
}
