import type { Heading, Parsed } from './parsers/types.ts';

export type Chunk = {
  ordinal: number;
  /** The heading path the chunk sits under ("Billing > Refunds"), '' when none. */
  heading: string;
  /** Exactly extractedText.slice(start, end). */
  content: string;
  start: number;
  end: number;
};

export type ChunkSettings = { size: number; overlap: number };

type Span = { start: number; end: number };

/**
 * The chunking of a base: its own overrides, else the tenant's configuration. A base's size with the
 * tenant's overlap may not fit (overlap ≥ size): the overlap then yields to a quarter of the size.
 */
export function effectiveChunking(base: { size: number | null; overlap: number | null }, tenant: ChunkSettings): ChunkSettings {
  const size = base.size ?? tenant.size;
  const overlap = base.overlap ?? tenant.overlap;
  return { size, overlap: overlap >= size ? Math.floor(size / 4) : overlap };
}

/** Splits [start, end) at the matches of a separator, dropping blank pieces; each piece keeps its own offsets. */
function splitAt(text: string, span: Span, separator: RegExp): Span[] {
  const pieces: Span[] = [];
  const re = new RegExp(separator.source, 'g');
  re.lastIndex = span.start;
  let from = span.start;
  for (let m = re.exec(text); m && m.index < span.end; m = re.exec(text)) {
    const cut = Math.min(m.index + m[0].length, span.end);
    pieces.push({ start: from, end: cut });
    from = cut;
    if (m[0].length === 0) re.lastIndex += 1;
  }
  if (from < span.end) pieces.push({ start: from, end: span.end });
  return pieces.map((p) => trim(text, p)).filter((p): p is Span => p !== null);
}

function trim(text: string, span: Span): Span | null {
  let { start, end } = span;
  while (start < end && /\s/.test(text[start] as string)) start++;
  while (end > start && /\s/.test(text[end - 1] as string)) end--;
  return end > start ? { start, end } : null;
}

/** A piece longer than the size is cut at a space near the size, or hard at the size. */
function hardCut(text: string, span: Span, size: number): Span[] {
  const out: Span[] = [];
  let start = span.start;
  while (span.end - start > size) {
    let cut = start + size;
    const space = text.lastIndexOf(' ', cut);
    if (space > start + size / 2) cut = space;
    const piece = trim(text, { start, end: cut });
    if (piece) out.push(piece);
    start = cut;
  }
  const last = trim(text, { start, end: span.end });
  if (last) out.push(last);
  return out;
}

const SEPARATORS = [/\n[ \t]*\n\s*/, /\n/, /[.!?;:。！？]+["'”’)\]]*\s+/];

/** Paragraphs, then lines, then sentences, then words: the largest units that fit in `size`. */
function pieces(text: string, span: Span, size: number, level = 0): Span[] {
  if (span.end - span.start <= size) return [span];
  const separator = SEPARATORS[level];
  if (!separator) return hardCut(text, span, size);
  return splitAt(text, span, separator).flatMap((p) => pieces(text, p, size, level + 1));
}

/** Heading path of every section: the titles of the enclosing headings, outermost first. */
function sections(parsed: Parsed): Array<{ heading: string; span: Span }> {
  const { text, headings } = parsed;
  const out: Array<{ heading: string; span: Span }> = [];
  const path: Heading[] = [];
  const first = headings[0]?.start ?? text.length;
  if (first > 0) out.push({ heading: '', span: { start: 0, end: first } });
  headings.forEach((h, i) => {
    while (path.length > 0 && (path.at(-1) as Heading).level >= h.level) path.pop();
    path.push(h);
    const next = headings[i + 1]?.start ?? text.length;
    out.push({
      heading: path
        .map((p) => p.title)
        .join(' > ')
        .slice(0, 1000),
      span: { start: h.end, end: next },
    });
  });
  return out;
}

/**
 * Structure-aware chunking: the text is cut at headings first (a chunk never spans two sections and
 * carries its heading path), then packed from paragraphs, lines or sentences up to `size`
 * characters; consecutive chunks of a section share about `overlap` characters (whole units only).
 * Every chunk is a slice of the extracted text, so a citation's offsets point at it exactly.
 */
export function chunkDocument(parsed: Parsed, settings: ChunkSettings): Chunk[] {
  const { text } = parsed;
  const size = Math.max(1, settings.size);
  const overlap = Math.max(0, Math.min(settings.overlap, Math.floor(size / 2)));
  const chunks: Chunk[] = [];
  for (const section of sections(parsed)) {
    const span = trim(text, section.span);
    if (!span) continue;
    const units = pieces(text, span, size);
    let i = 0;
    let from = (units[0] as Span).start;
    while (i < units.length) {
      let j = i;
      while (j + 1 < units.length && (units[j + 1] as Span).end - from <= size) j++;
      const start = from;
      const end = (units[j] as Span).end;
      chunks.push({ ordinal: chunks.length, heading: section.heading, content: text.slice(start, end), start, end });
      if (j + 1 >= units.length) break;
      // The next chunk starts at the earliest unit of this one that still fits in the overlap…
      let k = j + 1;
      while (k - 1 > i && end - (units[k - 1] as Span).start <= overlap) k--;
      i = k;
      from = (units[k] as Span).start;
      if (k === j + 1 && overlap > 0) {
        // …or, when no whole unit fits, at a word inside the last one, if the next unit still fits after it.
        const space = text.indexOf(' ', end - overlap);
        let inside = space + 1;
        while (inside < end && /\s/.test(text[inside] as string)) inside++;
        if (space >= 0 && inside > start && inside < end && (units[k] as Span).end - inside <= size) from = inside;
      }
    }
  }
  return chunks;
}
