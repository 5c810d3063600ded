import { dropNonColourSequences, paletteColour, splitIncompleteEscape } from './ansi';

describe('splitIncompleteEscape', () => {
  it.each([
    ['plain text', ['plain text', '']],
    ['red \x1b[31', ['red ', '\x1b[31']],
    ['cut \x1b', ['cut ', '\x1b']],
    ['cut \x1b[', ['cut ', '\x1b[']],
    ['done \x1b[0m', ['done \x1b[0m', '']],
    ['\x1b[1;3', ['', '\x1b[1;3']],
  ])('splits %j', (text, expected) => {
    expect(splitIncompleteEscape(text)).toEqual(expected);
  });
});

describe('dropNonColourSequences', () => {
  it('removes cursor moves, line clears and window titles, and keeps colours', () => {
    expect(dropNonColourSequences('\x1b]0;title\x07a\x1b[2Kb\x1b[1A\x1b[31mc\x1b[0m')).toBe('ab\x1b[31mc\x1b[0m');
  });
});

describe('paletteColour', () => {
  it.each([
    [1, 'rgb(205,49,49)'],
    [9, 'rgb(241,76,76)'],
    [16, 'rgb(0,0,0)'],
    [196, 'rgb(255,0,0)'],
    [231, 'rgb(255,255,255)'],
    [232, 'rgb(8,8,8)'],
    [255, 'rgb(238,238,238)'],
  ])('gives xterm colour %d as %s', (n, rgb) => {
    expect(paletteColour(n)).toBe(rgb);
  });
});
