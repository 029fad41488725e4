import fs from 'node:fs';
import { parse } from 'csv-parse';

export interface CsvRecord {
  /** The line the record starts on, counting the header as line 1. */
  line: number;
  /** How far into the file the parser is (bytes), for progress. */
  bytes: number;
  fields: Record<string, string>;
}

export class CsvError extends Error {
  override name = 'CsvError';
}

/**
 * Reads a CSV file with a header row, record by record (large files stream). Header names are
 * trimmed and lower-cased; `required` columns must be present, and no column may be unknown
 * unless `allowUnknown`.
 */
export async function* readCsv(
  file: string,
  columns: { required: readonly string[]; optional: readonly string[]; allowUnknown?: boolean },
): AsyncGenerator<CsvRecord> {
  if (!fs.existsSync(file)) throw new CsvError(`${file}: no such file`);
  const known = new Set([...columns.required, ...columns.optional]);
  const parser = fs.createReadStream(file).pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      info: true,
      columns: (header: string[]) => {
        const names = header.map((h) => h.trim().toLowerCase());
        const missing = columns.required.filter((c) => !names.includes(c));
        if (missing.length) throw new CsvError(`${file}: the header has no column ${missing.join(', ')}`);
        const unknown = names.filter((n) => !known.has(n));
        if (unknown.length && !columns.allowUnknown) {
          throw new CsvError(
            `${file}: unknown column ${unknown.join(', ')} (known: ${[...known].join(', ')})`,
          );
        }
        return names;
      },
    }),
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number; bytes: number };
    }>) {
      yield { line: info.lines, bytes: info.bytes, fields: record };
    }
  } catch (err) {
    if (err instanceof CsvError) throw err;
    const e = err as Error & { lines?: number };
    throw new CsvError(`${file}${e.lines ? ` line ${e.lines}` : ''}: ${e.message}`);
  }
}
