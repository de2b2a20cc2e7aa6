/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/completion-sink@0.1.0' {
  /**
   * Sends one chunk to the client. Returns false when the client has gone away:
   * the plugin should stop generating and return.
   */
  export function emit(chunk: CompletionChunk): boolean;
  export type CompletionChunk = import('plugboard:plugin/types@0.1.0').CompletionChunk;
}
