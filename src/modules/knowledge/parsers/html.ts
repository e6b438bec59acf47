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

/** Accumulates text with paragraph and line breaks inserted lazily, so none is doubled or trailing. */
class TextBuilder {
  text = '';
  private pending: 0 | 1 | 2 = 0;
  brk(level: 1 | 2) {
    if (this.text.length > 0 && level > this.pending) this.pending = level;
  }
  /** Appends collapsed inline text; returns the offset where it starts. */
  inline(raw: string): number {
    const collapsed = raw.replace(/\s+/g, ' ');
    if (collapsed.trim() === '') {
      if (collapsed && this.pending === 0 && this.text.length > 0 && !this.text.endsWith(' ')) this.text += ' ';
      return this.text.length;
    }
    let piece = collapsed;
    if (this.pending > 0) {
      this.text = this.text.replace(/ +$/, '') + (this.pending === 2 ? '\n\n' : '\n');
      this.pending = 0;
      piece = piece.trimStart();
    } else if (this.text.length === 0 || this.text.endsWith(' ')) piece = piece.trimStart();
    const start = this.text.length;
    this.text += piece;
    return start;
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
          headings.push({ level: Number(heading[1]), title, start, end: out.text.length });
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
      const children = node.childNodes;
      for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i] as Node });
    }
    return { text: out.text.trimEnd(), headings };
  } finally {
    dom.window.close();
  }
}
