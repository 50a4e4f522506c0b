/**
 * An error whose message is fit to show a user as one line, in the editor or the CLI.
 * Anything else that escapes the engine is a bug and is reported with its stack.
 */
export class MeadowrunError extends Error {
  constructor(message: string, readonly code: string = 'error') {
    super(message);
    this.name = 'MeadowrunError';
  }
}
