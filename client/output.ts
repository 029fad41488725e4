import type { Command } from 'commander';

/** How a command's --json form is printed. */
export interface JsonForm<A extends unknown[], T> {
  /** The option's help text; "print as JSON" unless told. */
  description?: string;
  /** On one line (an operation's result, for scripts) instead of indented (a listing, a record). */
  compact?: boolean;
  /** What is printed as JSON when it is not the command's value itself. */
  json?: (value: T, ...args: A) => unknown;
}

const jsonText = (value: unknown, compact = false) =>
  compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);

/** With --json, `value` as JSON (indented, or on one line when `compact`); else `human(value)`. */
export function printOutput<T>(
  o: { json?: boolean },
  value: T,
  human: (value: T) => void,
  compact = false,
): void {
  if (o.json) console.log(jsonText(value, compact));
  else human(value);
}

/**
 * A command whose output has a --json form: adds the option, and as the action runs `load` with the
 * command's arguments and options, then prints its value as JSON (with --json) or by `human`.
 */
export function withJsonOutput<A extends unknown[], T>(
  cmd: Command,
  load: (...args: A) => Promise<T>,
  human: (value: T, ...args: A) => void,
  form: JsonForm<A, T> = {},
): Command {
  return cmd.option('--json', form.description ?? 'print as JSON').action(async (...args: A) => {
    const value = await load(...args);
    if (!cmd.opts<{ json?: boolean }>().json) return human(value, ...args);
    console.log(jsonText(form.json ? form.json(value, ...args) : value, form.compact));
  });
}
