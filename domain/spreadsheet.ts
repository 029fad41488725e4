/**
 * CSV files end up in spreadsheets, which run a cell that starts with = + - @ (or a tab or a
 * carriage return before one) as a formula: `=HYPERLINK(…)` in a contact's name would be a link
 * to anywhere (OWASP, "CSV Injection"). Such a text cell is written with a leading apostrophe,
 * which spreadsheets show as text and do not print. A phone number in E.164 is written as it is.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const E164 = /^\+[1-9]\d{6,14}$/;

/** The cell as a spreadsheet will show it as text. */
export function spreadsheetText(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

/** A phone number column: E.164 as it is (it starts with +), anything else like any text. */
export function spreadsheetPhone(cell: string): string {
  return E164.test(cell) ? cell : spreadsheetText(cell);
}
