/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/kv@0.1.0' {
  /**
   * The value of `key`, or none when it is absent or expired.
   */
  export function get(key: string): Uint8Array | undefined;
  /**
   * Stores `value` under `key`. With `ttl-ms`, the key expires that many milliseconds later.
   */
  export function set(key: string, value: Uint8Array, ttlMs: bigint | undefined): void;
  /**
   * Removes `key`. Returns whether it existed.
   */
  export { _delete as delete };
  function _delete(key: string): boolean;
  /**
   * Keys starting with `prefix`, in byte order, at most `limit` of them.
   */
  export function listKeys(prefix: string, limit: number): Array<string>;
  /**
   * Atomically replaces the value of `key` with `new`, only if its current value is
   * `expected` (none: the key must be absent). `new` of none deletes the key.
   * Returns whether the swap happened.
   */
  export function compareAndSet(key: string, expected: Uint8Array | undefined, new_: Uint8Array | undefined, ttlMs: bigint | undefined): boolean;
  export type HostError = import('plugboard:plugin/types@0.1.0').HostError;
}
