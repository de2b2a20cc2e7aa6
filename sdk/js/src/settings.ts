// Settings: a plugin's validated settings, with typed access.

/**
 * A plugin's settings: the JSON object the host validated against the manifest's schema,
 * defaults applied.
 */
export class Settings {
  readonly #values: Record<string, unknown>;

  constructor(values: Record<string, unknown> = {}) {
    this.#values = { ...values };
  }

  /** Parses the settings JSON the host sends; throws (refusing them) if it is not an object. */
  static parse(json: string): Settings {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new Error(`the host sent settings that are not JSON: ${(error as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error('the host sent settings that are not a JSON object');
    }
    return new Settings(value as Record<string, unknown>);
  }

  /** Setting `name`, or `fallback` when it is absent. */
  get<T = unknown>(name: string): T | undefined;
  get<T>(name: string, fallback: T): T;
  get<T>(name: string, fallback?: T): T | undefined {
    return Object.prototype.hasOwnProperty.call(this.#values, name) ? (this.#values[name] as T) : fallback;
  }

  /** Setting `name` if it is a string, else `fallback`. */
  string(name: string, fallback: string): string {
    const value = this.#values[name];
    return typeof value === 'string' ? value : fallback;
  }

  /** Setting `name` if it is a number, else `fallback`. */
  number(name: string, fallback: number): number {
    const value = this.#values[name];
    return typeof value === 'number' ? value : fallback;
  }

  /** Setting `name` if it is a boolean, else `fallback`. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.#values[name];
    return typeof value === 'boolean' ? value : fallback;
  }

  /** Every setting, as a plain object (a copy). */
  all(): Record<string, unknown> {
    return structuredClone(this.#values);
  }

  toJSON(): Record<string, unknown> {
    return this.all();
  }
}
