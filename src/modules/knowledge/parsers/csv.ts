import { parse } from 'csv-parse/sync';
import { normalizeText } from './text.ts';
import { type Parsed, ParseFailure } from './types.ts';

/** One line per row, each value named by its column header ("Name: Ada; City: Turin"), so a chunk of rows reads on its own. */
export function parseCsv(source: string): Parsed {
  let records: string[][];
  try {
    records = parse(normalizeText(source), {
      delimiter: [',', ';', '\t'],
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      trim: true,
      max_record_size: 1_000_000,
    }) as string[][];
  } catch (error) {
    throw new ParseFailure('corrupt_file', `the CSV could not be read: ${(error as Error).message.slice(0, 200)}`);
  }
  const [header, ...rows] = records;
  if (!header) return { text: '', headings: [] };
  const names = header.map((name, i) => name || `column ${i + 1}`);
  const lines = (rows.length > 0 ? rows : [header]).map((row) =>
    rows.length > 0
      ? row
          .map((value, i) => (value ? `${names[i] ?? `column ${i + 1}`}: ${value}` : ''))
          .filter(Boolean)
          .join('; ')
      : row.join('; '),
  );
  return { text: lines.filter(Boolean).join('\n'), headings: [] };
}
