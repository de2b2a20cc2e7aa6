/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/provider@0.1.0' {
  /**
   * The models this provider serves.
   */
  export function listModels(): Array<ModelInfo>;
  /**
   * Runs a completion, sending each piece through `completion-sink.emit` as it is
   * generated, and returns the whole result at the end.
   */
  export function complete(request: CompletionRequest): Completion;
  export type ModelInfo = import('plugboard:plugin/types@0.1.0').ModelInfo;
  export type CompletionRequest = import('plugboard:plugin/types@0.1.0').CompletionRequest;
  export type Completion = import('plugboard:plugin/types@0.1.0').Completion;
}
