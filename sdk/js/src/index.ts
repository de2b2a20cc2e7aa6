// @plugboard/sdk: write a Plugboard plugin as one class, export it with definePlugin.
//
//   import { Plugin, definePlugin, kv } from '@plugboard/sdk';
//   class Shouter extends Plugin {
//     beforePrompt(_context, prompt) { return prompt.toUpperCase(); }
//   }
//   export default definePlugin(Shouter);

export { Plugin, definePlugin, implementedHooks } from './plugin.ts';
export type {
  FilterResult,
  MaybePromise,
  PluginClass,
  PluginExports,
  RequestFilterResult,
  ToolArguments,
  ToolResult,
} from './plugin.ts';
export { HostError, Reject, errorMessage } from './errors.ts';
export { Settings } from './settings.ts';
export { HttpRequest, HttpResponse } from './http.ts';
export type { BodyInit, HeadersInit, ResponseInit } from './http.ts';
export { ai, chat, completion, http, kv, log, plugins, settings } from './services.ts';
export type { FetchOptions, KvWriteOptions } from './services.ts';
export type * from './types.ts';

import type { HealthReport, SelfTestResult } from './types.ts';

/** A healthy report. */
export const healthy = (message = 'ok', details?: Record<string, unknown>): HealthReport => ({
  status: 'healthy',
  message,
  details,
});
/** A degraded report: working with reduced function. */
export const degraded = (message: string, details?: Record<string, unknown>): HealthReport => ({
  status: 'degraded',
  message,
  details,
});
/** An unhealthy report: not working. */
export const unhealthy = (message: string, details?: Record<string, unknown>): HealthReport => ({
  status: 'unhealthy',
  message,
  details,
});
/** A self-test result. */
export const check = (name: string, passed: boolean, message = ''): SelfTestResult => ({ name, passed, message });
