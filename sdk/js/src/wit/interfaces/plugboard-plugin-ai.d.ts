/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/ai@0.1.0' {
  /**
   * Runs a completion to the end. An empty `model` means the host's default model.
   */
  export function complete(request: CompletionRequest): Completion;
  export type HostError = import('plugboard:plugin/types@0.1.0').HostError;
  export type CompletionRequest = import('plugboard:plugin/types@0.1.0').CompletionRequest;
  export type Completion = import('plugboard:plugin/types@0.1.0').Completion;
}
