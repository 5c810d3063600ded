/**
 * The Schedules view: every schedule with its next and last run, refreshed while visible; a
 * form to add one; pause, resume and delete on each row. The server validates cron and zone and
 * its detail is shown as it came.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Schedule } from '../../contract/schedule';
import { createSchedule, deleteSchedule, listSchedules, setSchedulePaused } from '../api';
import { formatAgo } from '../format';
import { everyWhileVisible, LIST_INTERVAL_MS } from '../live';

/** Name, Cron, Time zone, Command, Add. */
function AddForm({ onAdded }: { onAdded: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const name = useRef<HTMLInputElement>(null);
  const cron = useRef<HTMLInputElement>(null);
  const zone = useRef<HTMLInputElement>(null);
  const command = useRef<HTMLInputElement>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const timezone = zone.current?.value.trim() ?? '';
      await createSchedule({
        name: name.current?.value ?? '',
        cron: cron.current?.value ?? '',
        command: command.current?.value ?? '',
        ...(timezone === '' ? {} : { timezone }),
      });
      for (const r of [name, cron, command]) if (r.current) r.current.value = '';
      onAdded();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="add-schedule-title">
      <h2 id="add-schedule-title">New schedule</h2>
      <form class="create" onSubmit={submit}>
        <div class="field">
          <label for="schedule-name">Name</label>
          <input id="schedule-name" ref={name} type="text" autocomplete="off" placeholder="nightly-backup" />
        </div>
        <div class="field">
          <label for="schedule-cron">Cron</label>
          <input id="schedule-cron" ref={cron} type="text" spellcheck={false} autocomplete="off" placeholder="0 3 * * *" />
        </div>
        <div class="field">
          <label for="schedule-zone">Time zone</label>
          <input id="schedule-zone" ref={zone} type="text" spellcheck={false} autocomplete="off" placeholder="UTC" />
        </div>
        <div class="field grow">
          <label for="schedule-command">Command</label>
          <input id="schedule-command" ref={command} type="text" spellcheck={false} autocomplete="off" placeholder="./backup.sh" />
        </div>
        <button type="submit" disabled={busy}>
          Add
        </button>
      </form>
      <p role="alert" class="error">
        {error}
      </p>
    </section>
  );
}

const when = (iso: string | null, now: number) => (iso === null ? '–' : formatAgo(iso, now) || iso);

/** One schedule: its definition, next and last run, and its actions. */
function ScheduleRow({ s, now, changed, fail }: { s: Schedule; now: number; changed: () => void; fail: (m: string) => void }) {
  const act = (fn: () => Promise<unknown>) => () => fn().then(changed, (e: Error) => fail(e.message));
  return (
    <tr data-schedule={s.name}>
      <td>{s.name}</td>
      <td>
        <code>{s.cron}</code> <span class="muted">{s.timezone}</span>
      </td>
      <td class="command">{s.command}</td>
      <td>
        {s.paused ? (
          <span class="state state-canceled">paused</span>
        ) : (
          <time dateTime={s.nextRunAt ?? ''} title={s.nextRunAt ?? ''}>
            {s.nextRunAt ?? '–'}
          </time>
        )}
      </td>
      <td>
        <time dateTime={s.lastRunAt ?? ''} title={s.lastRunAt ?? ''}>
          {when(s.lastRunAt, now)}
        </time>
        {s.skippedTicks > 0 ? <span class="muted"> ({s.skippedTicks} skipped)</span> : null}
      </td>
      <td class="actions">
        <button type="button" onClick={act(() => setSchedulePaused(s.id, !s.paused))}>
          {s.paused ? 'Resume' : 'Pause'}
        </button>{' '}
        <button type="button" onClick={act(() => deleteSchedule(s.id))}>
          Delete
        </button>
      </td>
    </tr>
  );
}

/** The form and the live table of schedules. */
export function SchedulesPage() {
  const [schedules, setSchedules] = useState<Schedule[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());
  const refresh = async () => {
    try {
      const list = await listSchedules();
      setSchedules(list.schedules);
      setTruncated(list.truncated);
      setNow(Date.now());
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => everyWhileVisible(refresh, LIST_INTERVAL_MS), []);
  return (
    <>
      <AddForm onAdded={refresh} />
      <section class="card" aria-labelledby="schedules-title">
        <h2 id="schedules-title">Schedules</h2>
        <p role="alert" class="error">
          {error}
        </p>
        {schedules === null ? (
          <p class="muted">Loading…</p>
        ) : schedules.length === 0 ? (
          <p class="muted">No schedules yet.</p>
        ) : (
          <table class="tasks">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Cron</th>
                <th scope="col">Command</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <ScheduleRow key={s.id} s={s} now={now} changed={refresh} fail={setError} />
              ))}
            </tbody>
          </table>
        )}
        {truncated ? <p class="muted">Only the first {schedules?.length} schedules by name are shown.</p> : null}
      </section>
    </>
  );
}
