import { parseCsv } from './csv.ts';
import { parseDocx } from './docx.ts';
import { parseHtml } from './html.ts';
import { parsePdf } from './pdf.ts';
import { parseMarkdown, parseText } from './text.ts';
import { type MediaType, type ParseLimits, type Parsed, ParseFailure } from './types.ts';

export * from './types.ts';

/** Parses one document in the calling thread; ingestion calls it inside the parser worker (parser-pool.ts). */
export async function parseDocument(bytes: Uint8Array, mediaType: MediaType, limits: ParseLimits): Promise<Parsed> {
  let parsed: Parsed;
  const utf8 = () => new TextDecoder('utf-8').decode(bytes);
  switch (mediaType) {
    case 'application/pdf':
      parsed = await parsePdf(bytes, limits.maxPages);
      break;
    case 'application/vnd.openxmlformats-officedocument.wordprocessingml.document':
      parsed = await parseDocx(bytes, limits);
      break;
    case 'text/html':
      parsed = parseHtml(utf8());
      break;
    case 'text/csv':
      parsed = parseCsv(utf8());
      break;
    case 'text/markdown':
      parsed = parseMarkdown(utf8());
      break;
    case 'text/plain':
      parsed = parseText(utf8());
      break;
  }
  if (parsed.text.length > limits.maxTextChars) {
    throw new ParseFailure(
      'too_much_text',
      `the document has ${parsed.text.length} characters of text; at most ${limits.maxTextChars} are indexed`,
    );
  }
  if (parsed.text.trim() === '')
    throw new ParseFailure('empty_document', 'no text could be extracted (a scanned PDF needs OCR, which is not offered)');
  return parsed;
}
