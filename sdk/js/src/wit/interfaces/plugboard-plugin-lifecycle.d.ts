declare module 'plugboard:plugin/lifecycle@0.1.0' {
  /**
   * The optional hooks this plugin implements. The host calls no other optional hook.
   */
  export function implementedHooks(): Array<Hook>;
  /**
   * Called on every fresh instance before any other hook, and again when the operator
   * changes the settings. `settings` is a JSON object validated against the manifest's
   * schema, defaults applied. An error refuses the settings (and, on first load, the plugin).
   * 
   * The host may run several instances of a plugin at once and replace any of them at any
   * time (after a fault, for example), so state that must last belongs in `kv`.
   */
  export function init(settings: string): void;
  /**
   * Called once when the plugin is unloaded or the server stops.
   */
  export function shutdown(): void;
  /**
   * Called when an operator enables the plugin.
   */
  export function onEnable(): void;
  /**
   * Called when an operator disables the plugin. No other hook follows until it is enabled again.
   */
  export function onDisable(): void;
  /**
   * Reports the plugin's own view of its health.
   */
  export function health(): HealthReport;
  /**
   * Runs the plugin's self-tests.
   */
  export function selfTest(): Array<SelfTestResult>;
  /**
   * A hook the host may call.
   * # Variants
   * 
   * ## `"shutdown"`
   * 
   * `lifecycle.shutdown`.
   * ## `"on-enable"`
   * 
   * `lifecycle.on-enable`.
   * ## `"on-disable"`
   * 
   * `lifecycle.on-disable`.
   * ## `"health"`
   * 
   * `lifecycle.health`.
   * ## `"self-test"`
   * 
   * `lifecycle.self-test`.
   * ## `"before-prompt"`
   * 
   * `filters.before-prompt`.
   * ## `"after-response"`
   * 
   * `filters.after-response`.
   * ## `"stream-chunk"`
   * 
   * `filters.stream-chunk`.
   * ## `"before-request"`
   * 
   * `filters.before-request`.
   * ## `"after-request"`
   * 
   * `filters.after-request`.
   * ## `"events"`
   * 
   * `events.on-event`.
   * ## `"message-will-be-posted"`
   * 
   * `events.message-will-be-posted`.
   * ## `"tools"`
   * 
   * `tools.list-tools` and `tools.call-tool`.
   * ## `"provider"`
   * 
   * `provider.list-models` and `provider.complete`.
   * ## `"exporter"`
   * 
   * `exporter.list-formats` and `exporter.export-conversation`.
   * ## `"http"`
   * 
   * `http-handler.handle`.
   * ## `"commands"`
   * 
   * `commands.run-command`.
   * ## `"scheduled"`
   * 
   * `scheduler.run-task`.
   */
  export type Hook = 'shutdown' | 'on-enable' | 'on-disable' | 'health' | 'self-test' | 'before-prompt' | 'after-response' | 'stream-chunk' | 'before-request' | 'after-request' | 'events' | 'message-will-be-posted' | 'tools' | 'provider' | 'exporter' | 'http' | 'commands' | 'scheduled';
  /**
   * Health a plugin reports about itself.
   * # Variants
   * 
   * ## `"healthy"`
   * 
   * Working normally.
   * ## `"degraded"`
   * 
   * Working with reduced function; the message says how.
   * ## `"unhealthy"`
   * 
   * Not working; the message says why.
   */
  export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';
  /**
   * The answer of `health`.
   */
  export interface HealthReport {
    /**
     * Overall state.
     */
    status: HealthStatus,
    /**
     * A short explanation for operators.
     */
    message: string,
    /**
     * Extra details, a JSON object (may be `{}`).
     */
    details: string,
  }
  /**
   * The result of one self-test.
   */
  export interface SelfTestResult {
    /**
     * Name of the test.
     */
    name: string,
    /**
     * Whether it passed.
     */
    passed: boolean,
    /**
     * What was checked or what went wrong.
     */
    message: string,
  }
}
