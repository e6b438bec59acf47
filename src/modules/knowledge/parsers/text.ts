import type { Heading, Parsed } from './types.ts';

/** Newlines normalised to \n and the byte-order mark dropped: offsets count from the clean text. */
export function normalizeText(source: string): string {
  return source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

export function parseText(source: string): Parsed {
  return { text: normalizeText(source), headings: [] };
}

const ATX = /^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$/;
const FENCE = /^ {0,3}(```|~~~)/;

/** Markdown keeps its text as written; ATX headings (`# Title`) outside fenced code give the structure. */
export function parseMarkdown(source: string): Parsed {
  const text = normalizeText(source);
  const headings: Heading[] = [];
  let offset = 0;
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const fenced = FENCE.exec(line);
    if (fenced) fence = fence === null ? (fenced[1] as string) : fence === fenced[1] ? null : fence;
    else if (fence === null) {
      const match = ATX.exec(line);
      if (match)
        headings.push({ level: (match[1] as string).length, title: (match[2] as string).trim(), start: offset, end: offset + line.length });
    }
    offset += line.length + 1;
  }
  return { text, headings };
}
