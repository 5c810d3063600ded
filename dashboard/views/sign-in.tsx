import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, storeToken, taskSummary } from '../api';

type Props = { message: string | null; onSignedIn: () => void; onRefused: (message: string) => void };

/** Asks for the server's API_TOKEN once per browser tab (kept in sessionStorage). */
export function SignIn({ message, onSignedIn, onRefused }: Props) {
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), [message]);

  const submit = async (event: Event) => {
    event.preventDefault();
    const token = input.current?.value.trim() ?? '';
    if (token === '') return onRefused('Enter the API token: the value of API_TOKEN on the server.');
    setBusy(true);
    storeToken(token);
    try {
      await taskSummary();
      onSignedIn();
    } catch (error) {
      onRefused(
        error instanceof ApiError && error.status === 401
          ? 'That is not the server’s API token. Check API_TOKEN on the server and try again.'
          : `Could not reach the server: ${(error as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card sign-in" aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      <p>This server needs its API token. It is kept for this browser tab only.</p>
      <form onSubmit={submit}>
        <label for="api-token">API token</label>
        <input id="api-token" ref={input} type="password" autocomplete="current-password" required aria-describedby="sign-in-message" />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p id="sign-in-message" role="alert" class="error">
        {message ?? ''}
      </p>
    </section>
  );
}
