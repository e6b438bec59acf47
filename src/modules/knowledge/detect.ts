import { fileTypeFromBuffer } from 'file-type';
import { AppError } from '../../platform/errors.ts';
import { DOCX, type MediaType } from './parsers/types.ts';

const unsupported = (detail: string) => new AppError('unsupported_media_type', detail);

const extensionOf = (filename: string) => /\.([a-z0-9]{1,10})$/i.exec(filename)?.[1]?.toLowerCase() ?? '';

/** Valid UTF-8 with no NUL byte: what a text document is. */
function isText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const HTML = /^\s*(<!--[\s\S]*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])/i;
const MARKDOWN_HEADING = /^ {0,3}#{1,6}[ \t]+\S/m;

/**
 * The type of an upload, read from its content (T42): binary formats by their magic bytes
 * (file-type), text by a sniff (valid UTF-8, no NUL). The name only chooses between text kinds, and
 * a name promising a binary format the content does not have is refused: a `.pdf` holding HTML is
 * a disguise. A PDF named `.txt` is simply a PDF.
 */
export async function detectMediaType(bytes: Uint8Array, filename: string, declared?: string): Promise<MediaType> {
  const ext = extensionOf(filename);
  const magic = await fileTypeFromBuffer(bytes);
  if (magic) {
    if (magic.mime === 'application/pdf') return 'application/pdf';
    if (magic.mime === DOCX) return DOCX;
    // A damaged Word file may be recognisable only as a zip: the parser (behind its zip-bomb guard)
    // then says what is wrong with it, rather than calling it some other type.
    if (magic.mime === 'application/zip' && ext === 'docx') return DOCX;
    throw unsupported(
      `the file's content is ${magic.mime} (.${magic.ext}), which is not accepted; upload text, Markdown, HTML, CSV, PDF or DOCX`,
    );
  }
  if (!isText(bytes)) {
    throw unsupported('the file is binary content of no accepted type; upload text, Markdown, HTML, CSV, PDF or DOCX');
  }
  if (ext === 'pdf' || ext === 'docx' || ext === 'doc') {
    throw unsupported(`the file is named .${ext} but its content is text, not ${ext.toUpperCase()}: a renamed file is refused`);
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 4096)).replace(/^\uFEFF/, '');
  if (HTML.test(head) || ((ext === 'html' || ext === 'htm') && head.includes('<'))) return 'text/html';
  if (ext === 'csv' || ext === 'tsv' || declared === 'text/csv') return 'text/csv';
  if (ext === 'md' || ext === 'markdown' || declared === 'text/markdown' || MARKDOWN_HEADING.test(head)) return 'text/markdown';
  return 'text/plain';
}

/** A file name fit to store and show: the last path component, no control characters, at most 255 characters. */
export function cleanFilename(raw: string | undefined): string {
  const base = (raw ?? '').split(/[/\\]/).pop() ?? '';
  const clean = base
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 255);
  return clean || 'upload';
}
