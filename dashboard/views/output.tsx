import { useEffect, useRef, useState } from 'preact/hooks';
import { MAX_OUTPUT_WAIT_SECONDS } from '../../contract/http';
import type { StreamName } from '../../contract/task';
import { AnsiRenderer } from '../ansi';
import { ApiError, readOutput } from '../api';
import { whenVisible } from '../live';

/** Output is drawn in blocks about this big, yielding between them, so a megabyte never freezes the page. */
const SLICE = 64 * 1024;

type Props = {
  taskId: string;
  stream: StreamName;
  /** the stream as GET /tasks/{id} last gave it: drawn where the output endpoint is not served */
  snapshot: string | undefined;
};

/**
 * One stream, following live: GET /tasks/{id}/output long-polls from the offset it reached
 * (held up to 20 s, paused while the tab is hidden) until X-Output-Complete. Scrolls with new
 * output unless the reader scrolled up; a button copies the whole stream.
 */
export function OutputPane({ taskId, stream, snapshot }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const text = useRef('');
  const renderer = useRef(new AnsiRenderer());
  const queue = useRef(Promise.resolve());
  const following = useRef(true);
  const scrolling = useRef(false);
  /** the block still taking text, and how much it holds */
  const open = useRef<HTMLDivElement | null>(null);
  const openSize = useRef(0);
  const [atEnd, setAtEnd] = useState(true);
  const [empty, setEmpty] = useState(true);
  const [live, setLive] = useState(true);
  const [note, setNote] = useState('');

  /** Keeps the end in view once per frame while following (a scroll per slice would lay the page out each time). */
  const scrollSoon = () => {
    if (scrolling.current) return;
    scrolling.current = true;
    requestAnimationFrame(() => {
      scrolling.current = false;
      const el = box.current;
      if (el !== null && following.current) el.scrollTop = el.scrollHeight;
    });
  };

  /**
   * Draws more text after whatever is being drawn, in blocks of about SLICE characters that end
   * at a line's end: a block the reader cannot see is skipped by layout (content-visibility),
   * so a megabyte costs a screenful, and the page yields between blocks.
   */
  const append = (more: string) => {
    if (more === '') return;
    text.current += more;
    setEmpty(false);
    queue.current = queue.current.then(async () => {
      let rest = more;
      while (rest !== '' && box.current !== null) {
        if (open.current === null) {
          open.current = document.createElement('div');
          open.current.className = 'block';
          openSize.current = 0;
          box.current.append(open.current);
        }
        const room = SLICE - openSize.current;
        let cut = rest.length <= room ? -1 : rest.lastIndexOf('\n', room - 1);
        if (rest.length > room && cut < 0) cut = rest.indexOf('\n', room);
        const piece = cut < 0 ? rest : rest.slice(0, cut + 1);
        open.current.append(renderer.current.render(piece));
        openSize.current += piece.length;
        rest = rest.slice(piece.length);
        if (cut >= 0) {
          open.current = null;
          scrollSoon();
          await new Promise((r) => setTimeout(r, 0));
        }
      }
      scrollSoon();
    });
  };

  const reset = () => {
    text.current = '';
    renderer.current = new AnsiRenderer();
    queue.current = queue.current.then(() => {
      open.current = null;
      box.current?.replaceChildren();
    });
    setEmpty(true);
  };

  // Follow through the output endpoint.
  useEffect(() => {
    const abort = new AbortController();
    let offset = 0;
    (async () => {
      while (!abort.signal.aborted) {
        await whenVisible();
        try {
          const read = await readOutput(taskId, stream, offset, MAX_OUTPUT_WAIT_SECONDS, abort.signal);
          append(read.text);
          offset = read.nextOffset;
          if (read.complete) return;
        } catch (error) {
          if (abort.signal.aborted) return;
          // 404 for a task that exists: this server has no output endpoint; draw the task's own copy.
          if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return setLive(false);
          setNote(`Could not read ${stream}: ${(error as Error).message}; retrying.`);
          await new Promise((r) => setTimeout(r, 2000));
          continue;
        }
        setNote('');
      }
    })();
    return () => abort.abort();
  }, [taskId, stream]);

  // Without the endpoint: what GET /tasks/{id} shows, appended when it grew, redrawn if it changed.
  useEffect(() => {
    if (live || snapshot === undefined) return;
    if (snapshot.startsWith(text.current)) append(snapshot.slice(text.current.length));
    else {
      reset();
      append(snapshot);
    }
  }, [live, snapshot]);

  const onScroll = () => {
    const el = box.current;
    if (el === null) return;
    following.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    setAtEnd(following.current);
  };

  const follow = () => {
    const el = box.current;
    if (el === null) return;
    following.current = true;
    setAtEnd(true);
    el.scrollTop = el.scrollHeight;
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text.current);
      setNote(`Copied ${stream} (${text.current.length.toLocaleString('en-US')} characters).`);
    } catch {
      const el = box.current;
      if (el !== null) getSelection()?.selectAllChildren(el);
      setNote(`Selected ${stream}: press Ctrl+C to copy it.`);
    }
  };

  const id = `${stream}-output`;
  return (
    <section class="output" aria-label={stream}>
      <div class="output-head">
        <h3>{stream}</h3>
        <button type="button" class="secondary" onClick={copy} disabled={empty}>
          Copy {stream}
        </button>
        {atEnd ? null : (
          <button type="button" class="secondary" onClick={follow}>
            Follow output
          </button>
        )}
        <span class="muted" aria-live="polite">
          {note}
        </span>
      </div>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must take focus to be scrolled with the keyboard (axe scrollable-region-focusable) */}
      <div id={id} ref={box} class="stream" tabIndex={0} onScroll={onScroll} />
      {empty ? <p class="muted">No {stream} yet.</p> : null}
    </section>
  );
}
