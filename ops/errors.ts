/**
 * What operators (the CLI) and CRMs (the API) do is checked before anything changes; a refusal is
 * an OperationError that says what is wrong. The API maps its kind to an HTTP status
 * (server/problem.ts), the CLI prints its message and exits 1.
 */
export class OperationError extends Error {
  override name = 'OperationError';
  constructor(
    /** not-found 404 · invalid 400 · conflict 409 · unprocessable 422 · unavailable 503 (a dependency is down) */
    readonly kind: 'not-found' | 'invalid' | 'conflict' | 'unprocessable' | 'unavailable',
    message: string,
    /** Where in the request: a JSON pointer into the body ("/contacts/3/phoneNumber") or a parameter name. */
    readonly field?: string,
  ) {
    super(message);
  }
}
