/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/account-events@0.1.0' {
  /**
   * Receives an account event. `context.user-id` is the account's id.
   */
  export function onAccountEvent(context: CallContext, event: AccountEvent): void;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
  /**
   * A user, as the event found them.
   */
  export interface Account {
    /**
     * The user's id.
     */
    id: string,
    /**
     * The user's name.
     */
    username: string,
  }
  /**
   * Something that happened to an account. Changes made by `plugboard user ...` while
   * no server runs arrive when the next server starts.
   */
  export type AccountEvent = AccountEventUserCreated | AccountEventUserDisabled | AccountEventUserEnabled | AccountEventUserDeleted;
  /**
   * A user was created (signed up, or created by an administrator).
   */
  export interface AccountEventUserCreated {
    tag: 'user-created',
    val: Account,
  }
  /**
   * An administrator disabled a user: they cannot sign in or use their API tokens.
   */
  export interface AccountEventUserDisabled {
    tag: 'user-disabled',
    val: Account,
  }
  /**
   * An administrator enabled a disabled user again.
   */
  export interface AccountEventUserEnabled {
    tag: 'user-enabled',
    val: Account,
  }
  /**
   * A user was deleted with their conversations, messages, files and API tokens (no
   * `conversation-ended` or `file-deleted` events come for those). Forget what the
   * plugin keeps about them.
   */
  export interface AccountEventUserDeleted {
    tag: 'user-deleted',
    val: Account,
  }
}
