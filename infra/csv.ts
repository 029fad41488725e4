import fs from 'node:fs';
import { type CsvError as ParseError, parse } from 'csv-parse';

/** One record of the file: its fields, or why it could not be read as a record. */
export type CsvRecord =
  | {
      /** The line the record starts on, counting the header as line 1. */
      line: number;
      /** How far into the file the parser is (bytes), for progress. */
      bytes: number;
      fields: Record<string, string>;
      error?: undefined;
    }
  | { line: number; bytes: number; fields?: undefined; error: string };

export class CsvError extends Error {
  override name = 'CsvError';
}

/**
 * Reads a CSV file with a header row, record by record (large files stream). Header names are
 * trimmed and lower-cased and no two may be the same; `required` columns must be present, and no column may be unknown
 * unless `allowUnknown`. A problem with the header or the file throws a `CsvError`; a record
 * with the wrong number of fields, or a quote that is never closed, comes back as a record with
 * an `error` and its start line, so the caller can name every bad line and go on.
 */
export async function* readCsv(file: string, columns: Columns): AsyncGenerator<CsvRecord> {
  if (!fs.existsSync(file)) throw new CsvError(`${file}: no such file`);
  // csv-parse counts a record's last line; its first is one after the previous record's last,
  // plus the empty lines skipped in between. Both callbacks run in file order.
  let lastLine = 1;
  let emptyLines = 0;
  const startOf = (info: { lines: number; empty_lines: number }) => {
    const line = lastLine + 1 + (info.empty_lines - emptyLines);
    lastLine = info.lines;
    emptyLines = info.empty_lines;
    return line;
  };
  const skipped: CsvRecord[] = [];
  const parser = fs.createReadStream(file).pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      columns: (header: string[]) => headerNames(file, header, columns),
      on_record: (record: Record<string, string>, info) => ({
        line: startOf(info),
        bytes: info.bytes,
        fields: record,
      }),
      on_skip: (err: ParseError | undefined) => {
        if (!err) return undefined;
        const info = err as ParseError & { lines: number; empty_lines: number; bytes: number };
        skipped.push({ line: startOf(info), bytes: info.bytes, error: describe(err) });
        return undefined;
      },
    }),
  );
  try {
    for await (const record of parser as AsyncIterable<CsvRecord>) {
      // a skipped record before this one was reported while the parser read ahead
      while (skipped.length && skipped[0]!.line < record.line) yield skipped.shift()!;
      yield record;
    }
    yield* skipped;
  } catch (err) {
    if (err instanceof CsvError) throw err;
    const e = err as Error & { lines?: number };
    throw new CsvError(`${file}${e.lines ? ` line ${e.lines}` : ''}: ${e.message}`);
  }
}

type Columns = { required: readonly string[]; optional: readonly string[]; allowUnknown?: boolean };

/** The header's column names, trimmed and lower-cased; throws a `CsvError` on a header `columns` refuses. */
function headerNames(file: string, header: string[], columns: Columns): string[] {
  const known = new Set([...columns.required, ...columns.optional]);
  const names = header.map((h) => h.trim().toLowerCase());
  // csv-parse would keep the last of two same-named columns and drop the other silently
  const twice = names.filter((n, i) => n !== '' && names.indexOf(n) !== i);
  if (twice.length)
    throw new CsvError(`${file}: the header has the column ${[...new Set(twice)].join(', ')} twice`);
  const missing = columns.required.filter((c) => !names.includes(c));
  if (missing.length) throw new CsvError(`${file}: the header has no column ${missing.join(', ')}`);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length && !columns.allowUnknown) {
    throw new CsvError(`${file}: unknown column ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  }
  return names;
}

function describe(err: ParseError): string {
  const e = err as ParseError & { record?: unknown[]; columns?: unknown[] };
  switch (err.code) {
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
      return `${e.record?.length ?? '?'} fields where the header has ${e.columns?.length ?? '?'}`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quote opened here is never closed (the rest of the file was read as one field)';
    default:
      return err.message;
  }
}
