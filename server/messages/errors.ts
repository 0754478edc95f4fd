/**
 * @module errors
 * Domain failures, each with a stable `code`; the router maps them to tRPC error codes.
 */

export class UnknownRecipientError extends Error {
  override name = 'UnknownRecipientError';
  readonly code = 'UNKNOWN_RECIPIENT';
  constructor(readonly userId: string) {
    super(`No user "${userId}" is known to this server: they must register or sign in once first`);
  }
}

export class ClientMsgIdConflictError extends Error {
  override name = 'ClientMsgIdConflictError';
  readonly code = 'CLIENT_MSG_ID_CONFLICT';
  constructor(readonly clientMsgId: string) {
    super(
      `clientMsgId "${clientMsgId}" was already used for a different message: use a new id for each message`,
    );
  }
}

export class UserExistsError extends Error {
  override name = 'UserExistsError';
  readonly code = 'USER_EXISTS';
  constructor(readonly userId: string) {
    super(`The user id "${userId}" is taken: choose another`);
  }
}

export class InvalidCredentialsError extends Error {
  override name = 'InvalidCredentialsError';
  readonly code = 'INVALID_CREDENTIALS';
  constructor() {
    super('Wrong user id or password');
  }
}

/**
 * The store could not be reached or answered too slowly. Retryable: the request may be
 * sent again (sends are idempotent through clientMsgId).
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
  constructor(options?: { cause?: unknown }) {
    super('The message store is unavailable right now: try again shortly', options);
  }
}

/**
 * A resume cursor past the end of the user's stream: the server's data was reset (or the
 * cursor was made up), and waiting for that seq would deliver nothing, ever.
 */
export class CursorPastHeadError extends Error {
  override name = 'CursorPastHeadError';
  readonly code = 'CURSOR_PAST_HEAD';
  constructor(
    readonly lastEventId: number,
    readonly headSeq: number,
  ) {
    super(
      `lastEventId ${lastEventId} is past the end of your stream (${headSeq}): the server's data was reset; ` +
        'resubscribe without lastEventId',
    );
  }
}
