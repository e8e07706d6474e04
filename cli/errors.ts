// How the command fails: an error a person can act on carries its exit code and one sentence;
// anything else is unexpected and shown as one line (with the stack only under CAPSTAN_DEBUG=1).

export const EXIT = {
  ok: 0,
  /** Invalid input, failed writes, not found. */
  failed: 1,
  /** Wrong flags or arguments. */
  usage: 2,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
