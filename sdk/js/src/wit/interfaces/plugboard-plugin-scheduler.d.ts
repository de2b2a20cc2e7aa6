declare module 'plugboard:plugin/scheduler@0.1.0' {
  /**
   * Runs task `name`. `scheduled-at-ms` is when it was due, milliseconds since the Unix epoch.
   */
  export function runTask(name: string, scheduledAtMs: bigint): void;
}
