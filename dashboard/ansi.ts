/**
 * A stream's text with ANSI colour codes, turned into DOM nodes without ever parsing it as
 * HTML: anser splits it into segments, each becomes a text node (in a span with classes for
 * the 16 colours and decorations, CSSOM colours for 256 and true colours), so neither markup
 * in the output nor the page's CSP (no style attributes) is a concern.
 */
import Anser, { type AnserJsonEntry } from 'anser';

/**
 * Splits off an escape sequence cut at the end of `text` (output arrives in chunks cut at any
 * byte): returns the part that can be rendered now and the tail to prepend to the next chunk.
 */
export function splitIncompleteEscape(text: string): [string, string] {
  const match = /\x1b(\[[0-9;:?]*)?$/.exec(text);
  if (match === null) return [text, ''];
  return [text.slice(0, match.index), text.slice(match.index)];
}

/** Removes control sequences anser does not render (cursor moves, OSC titles), keeping SGR colours. */
export function dropNonColourSequences(text: string): string {
  return text.replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b\[[0-9;?]*[A-LN-Za-ln-z@`]|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g, '');
}

const BASIC = ['0,0,0', '205,49,49', '13,188,121', '229,229,16', '36,114,200', '188,63,188', '17,168,205', '229,229,229'];
const BRIGHT = ['102,102,102', '241,76,76', '35,209,139', '245,245,67', '59,142,234', '214,112,214', '41,184,219', '255,255,255'];

/** The xterm 256-colour palette: 16 basic, a 6x6x6 cube, 24 greys. */
export function paletteColour(n: number): string {
  if (n < 8) return `rgb(${BASIC[n]})`;
  if (n < 16) return `rgb(${BRIGHT[n - 8]})`;
  if (n < 232) {
    const c = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(c / 36))},${level(Math.floor(c / 6) % 6)},${level(c % 6)})`;
  }
  const grey = 8 + (Math.min(n, 255) - 232) * 10;
  return `rgb(${grey},${grey},${grey})`;
}

const DECORATIONS = new Set(['bold', 'dim', 'italic', 'underline', 'blink', 'reverse', 'hidden', 'strikethrough']);

function colourOf(
  el: HTMLElement,
  value: string | null,
  truecolor: string | null,
  property: 'color' | 'backgroundColor',
  suffix: 'fg' | 'bg',
) {
  if (!value) return;
  if (value === 'ansi-truecolor' && truecolor) {
    // CSSOM, not a style attribute: allowed under style-src 'self'.
    el.style[property] = `rgb(${truecolor})`;
  } else if (/^ansi-[a-z-]+$/.test(value)) {
    el.classList.add(`${value}-${suffix}`);
  } else if (/^ansi-palette-\d+$/.test(value)) {
    el.style[property] = paletteColour(Number(value.slice('ansi-palette-'.length)));
  } else if (/^\d+, ?\d+, ?\d+$/.test(value)) {
    el.style[property] = `rgb(${value})`;
  }
}

type Style = { fg: string | null; bg: string | null; fgTrue: string | null; bgTrue: string | null; decorations: string[] };

const styleOf = (e: AnserJsonEntry): Style | null =>
  e.fg || e.bg || e.decorations.length > 0
    ? { fg: e.fg, bg: e.bg, fgTrue: e.fg_truecolor, bgTrue: e.bg_truecolor, decorations: [...e.decorations] }
    : null;

function styled(text: string, style: Style | null): Node {
  if (style === null) return document.createTextNode(text);
  const span = document.createElement('span');
  span.textContent = text;
  colourOf(span, style.fg, style.fgTrue, 'color', 'fg');
  colourOf(span, style.bg, style.bgTrue, 'backgroundColor', 'bg');
  for (const d of style.decorations) if (DECORATIONS.has(d)) span.classList.add(`ansi-${d}`);
  return span;
}

/**
 * The ANSI state of one stream across chunks: feed it text, get nodes to append. anser starts
 * each call with no colour for the text before its first escape, so the colour in force at the
 * end of a chunk is kept here and given to the start of the next.
 */
export class AnsiRenderer {
  private readonly anser = new Anser();
  private pending = '';
  private last: Style | null = null;

  /** Renders the next chunk of a stream into a fragment; an escape cut at its end waits for the next. */
  render(chunk: string): DocumentFragment {
    const fragment = document.createDocumentFragment();
    const [now, later] = splitIncompleteEscape(this.pending + chunk);
    this.pending = later;
    if (now === '') return fragment;
    if (!now.includes('\x1b')) {
      fragment.append(styled(now, this.last));
      return fragment;
    }
    const entries = this.anser.ansiToJson(dropNonColourSequences(now), { use_classes: true });
    entries.forEach((entry, i) => {
      if (entry.content !== '') fragment.append(styled(entry.content, i === 0 ? this.last : styleOf(entry)));
    });
    const final = entries[entries.length - 1];
    if (entries.length > 1 && final !== undefined) this.last = styleOf(final);
    return fragment;
  }
}
