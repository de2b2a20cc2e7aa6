/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/plugins@0.1.0' {
  /**
   * Calls tool `tool` of plugin `plugin-id` with JSON object `arguments` and returns
   * its result.
   */
  export function callTool(pluginId: string, tool: string, arguments: string): string;
  export type HostError = import('plugboard:plugin/types@0.1.0').HostError;
}
