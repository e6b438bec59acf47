import { JSDOM } from 'jsdom';
import type { Heading, Parsed } from './types.ts';

/** Elements whose content is never document text. */
const DROPPED = new Set([
  'SCRIPT',
  'STYLE',
  'NOSCRIPT',
  'TEMPLATE',
  'IFRAME',
  'OBJECT',
  'EMBED',
  'SVG',
  'CANVAS',
  'HEAD',
  'BUTTON',
  'SELECT',
]);
/** Elements that end a paragraph. */
const BLOCKS = new Set([
  'P',
  'DIV',
  'SECTION',
  'ARTICLE',
  'MAIN',
  'ASIDE',
  'HEADER',
  'FOOTER',
  'NAV',
  'BLOCKQUOTE',
  'PRE',
  'TABLE',
  'UL',
  'OL',
  'DL',
  'FIGURE',
  'FIGCAPTION',
  'FORM',
  'FIELDSET',
  'ADDRESS',
  'HR',
  'BODY',
]);
/** Elements that end a line. */
const LINES = new Set(['LI', 'TR', 'DT', 'DD', 'BR', 'CAPTION']);
const HEADING = /^H([1-6])$/;

/**
 * Accumulates text with paragraph and line breaks inserted lazily, so none is doubled or trailing.
 * Pieces are kept in an array and the text is joined once: reading the end of a string built with
 * += flattens it each time, which made a few megabytes of HTML take minutes.
 */
class TextBuilder {
  private parts: string[] = [];
  length = 0;
  private pending: 0 | 1 | 2 = 0;
  private endsWithSpace = false;
  brk(level: 1 | 2) {
    if (this.length > 0 && level > this.pending) this.pending = level;
  }
  private push(piece: string) {
    this.parts.push(piece);
    this.length += piece.length;
    this.endsWithSpace = piece.endsWith(' ');
  }
  /** Appends collapsed inline text; returns the offset where it starts. */
  inline(raw: string): number {
    const collapsed = raw.replace(/\s+/g, ' ');
    if (collapsed.trim() === '') {
      if (collapsed && this.pending === 0 && this.length > 0 && !this.endsWithSpace) this.push(' ');
      return this.length;
    }
    let piece = collapsed;
    if (this.pending > 0) {
      // Trailing spaces before a break are dropped (they sit in the last piece).
      while (this.endsWithSpace) {
        const last = this.parts.pop() as string;
        const trimmed = last.replace(/ +$/, '');
        this.length -= last.length - trimmed.length;
        if (trimmed) {
          this.parts.push(trimmed);
          this.endsWithSpace = false;
        } else this.endsWithSpace = (this.parts.at(-1) ?? '').endsWith(' ');
      }
      this.push(this.pending === 2 ? '\n\n' : '\n');
      this.pending = 0;
      piece = piece.trimStart();
    } else if (this.length === 0 || this.endsWithSpace) piece = piece.trimStart();
    const start = this.length;
    this.push(piece);
    return start;
  }
  toString(): string {
    return this.parts.join('');
  }
}

/**
 * Text of an HTML document: scripts, styles and other non-text elements dropped, paragraphs and
 * lines kept, headings h1–h6 recorded. The tree is walked with an explicit stack, so a deeply
 * nested document cannot overflow the call stack. Nothing is fetched and no script runs (jsdom's defaults).
 */
export function parseHtml(html: string): Parsed {
  const dom = new JSDOM(html);
  try {
    const body = dom.window.document.body ?? dom.window.document.documentElement;
    const out = new TextBuilder();
    const headings: Heading[] = [];
    const TEXT = 3;
    const ELEMENT = 1;
    // Each entry: a node to enter, or (exit) the block/line break that follows an element.
    const stack: Array<{ node: Node; exit?: 1 | 2 }> = [{ node: body }];
    while (stack.length > 0) {
      const { node, exit } = stack.pop() as { node: Node; exit?: 1 | 2 };
      if (exit) {
        out.brk(exit);
        continue;
      }
      if (node.nodeType === TEXT) {
        out.inline(node.nodeValue ?? '');
        continue;
      }
      if (node.nodeType !== ELEMENT) continue;
      const tag = (node as Element).tagName.toUpperCase();
      if (DROPPED.has(tag)) continue;
      const heading = HEADING.exec(tag);
      if (heading) {
        const title = (node.textContent ?? '').replace(/\s+/g, ' ').trim();
        if (title) {
          out.brk(2);
          const start = out.inline(title);
          headings.push({ level: Number(heading[1]), title, start, end: out.length });
          out.brk(2);
        }
        continue;
      }
      if (tag === 'BR') {
        out.brk(1);
        continue;
      }
      const breakAfter: 1 | 2 | undefined = BLOCKS.has(tag) ? 2 : LINES.has(tag) ? 1 : undefined;
      if (breakAfter) {
        out.brk(breakAfter);
        stack.push({ node, exit: breakAfter });
      } else if (tag === 'TD' || tag === 'TH') {
        out.inline(' ');
      }
      // Siblings by nextSibling: indexing jsdom's live childNodes is not constant-time.
      const children: Node[] = [];
      for (let child = node.firstChild; child; child = child.nextSibling) children.push(child);
      for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i] as Node });
    }
    return { text: out.toString().trimEnd(), headings };
  } finally {
    dom.window.close();
  }
}
