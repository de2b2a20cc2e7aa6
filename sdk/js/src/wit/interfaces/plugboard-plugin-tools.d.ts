/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/tools@0.1.0' {
  /**
   * The plugin's tools. Called once per loaded instance version; keep it constant.
   */
  export function listTools(): Array<ToolSpec>;
  /**
   * Runs tool `name` with `arguments`, a JSON object matching its schema. For
   * `/run <plugin> <input>` the host passes `{"input": "<input>"}` to the first tool.
   * The result is text (often JSON) given to the model or the user; an error is
   * explained to them the same way.
   */
  export function callTool(context: CallContext, name: string, arguments: string): string;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
  export type ToolSpec = import('plugboard:plugin/types@0.1.0').ToolSpec;
}
