/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/commands@0.1.0' {
  /**
   * Runs command `name` (without the slash) with the rest of the line as `arguments`.
   * The result is shown to the user as a message from the plugin.
   */
  export function runCommand(context: CallContext, name: string, arguments: string): string;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
}
