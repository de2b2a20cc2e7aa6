declare module 'plugboard:plugin/settings@0.1.0' {
  /**
   * The plugin's current settings as a JSON object, validated against the schema in
   * its manifest with defaults applied. The same value `lifecycle.init` received.
   */
  export function get(): string;
}
