// Errors a plugin throws or catches.

import type { ErrorKind } from './types.ts';

/**
 * An error from a host service: `kind` says what failed (`permission-denied`,
 * `not-found`, ...), `message` explains it, naming the permission or limit involved.
 * Thrown out of a hook that returns a result (a tool, a command, `init`), it reaches the
 * host as the call's error with its message.
 */
export class HostError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'HostError';
    this.kind = kind;
  }
}

/**
 * Thrown from a filter (`beforePrompt`, `afterResponse`, `messageWillBePosted`) to refuse
 * the text; `reason` is shown to the user.
 */
export class Reject extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.name = 'Reject';
    this.reason = reason;
  }
}

/** The text a thrown value becomes when it reaches the host as an error. */
export function errorMessage(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return error.message || error.name;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
