import { extractText, getDocumentProxy } from 'unpdf';
import { type Parsed, ParseFailure } from './types.ts';

/** Text of a PDF, page after page (a blank line between pages). PDFs carry no reliable headings. */
export async function parsePdf(bytes: Uint8Array, maxPages: number): Promise<Parsed> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    pdf = await getDocumentProxy(new Uint8Array(bytes), { isEvalSupported: false, stopAtErrors: false, verbosity: 0 });
  } catch (error) {
    throw new ParseFailure('corrupt_file', `the PDF could not be opened: ${(error as Error).message.slice(0, 200)}`);
  }
  try {
    if (pdf.numPages > maxPages)
      throw new ParseFailure('too_many_pages', `the PDF has ${pdf.numPages} pages; at most ${maxPages} are read`);
    let pages: string[];
    try {
      pages = (await extractText(pdf, { mergePages: false })).text;
    } catch (error) {
      throw new ParseFailure('corrupt_file', `the PDF's text could not be read: ${(error as Error).message.slice(0, 200)}`);
    }
    return {
      text: pages
        .map((page) => page.replace(/\r\n?/g, '\n').trim())
        .filter(Boolean)
        .join('\n\n'),
      headings: [],
    };
  } finally {
    await pdf.destroy().catch(() => {});
  }
}
