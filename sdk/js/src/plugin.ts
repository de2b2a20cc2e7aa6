// The Plugin base class an author extends, and definePlugin, which turns the subclass into
// the component's exports (what Rust's `export_plugin!` does), listing the hooks the
// subclass overrides so the host calls only those.

import { errorMessage, Reject } from './errors.ts';
import { HttpRequest, HttpResponse, type ResponseInit, toWitResponse } from './http.ts';
import { log } from './services.ts';
import { Settings } from './settings.ts';
import { conversationFromWit, eventFromWit, messageFromWit } from './convert.ts';
import type {
  Account,
  AccountEvent,
  CallContext,
  Completion,
  Conversation,
  Event,
  ExportFile,
  ExportFormat,
  FileInfo,
  HealthReport,
  Hook,
  Message,
  ModelInfo,
  PluginFailure,
  SelfTestResult,
  ToolSpec,
} from './types.ts';
import type * as Wit from 'plugboard:plugin/types@0.1.0';
import type * as Lifecycle from 'plugboard:plugin/lifecycle@0.1.0';
import type * as Filters from 'plugboard:plugin/filters@0.1.0';
import type * as Events from 'plugboard:plugin/events@0.1.0';
import type * as Exporter from 'plugboard:plugin/exporter@0.1.0';
import type * as AccountEvents from 'plugboard:plugin/account-events@0.1.0';

/** What a text filter returns: undefined keeps the text, a string replaces it; throw `new Reject(reason)` to refuse it. */
export type FilterResult = string | undefined | void;

/** A value or a promise of it: every hook may be `async`. */
export type MaybePromise<T> = T | Promise<T>;

/** What `tools` lists and `callTool` returns: text as it is, anything else as JSON. */
export type ToolResult = string | number | boolean | object | null;

/** The arguments of a tool call: the JSON object the caller sent. */
export type ToolArguments = Record<string, unknown>;

/** What `beforeRequest` decides: undefined keeps the request, a request adds its new headers, a response refuses it (status 400 to 499). */
export type RequestFilterResult = HttpRequest | HttpResponse | undefined | void;

/**
 * A plugin. Extend it, override the hooks you need (as methods), and export the class
 * with `export default definePlugin(MyPlugin)`. Every hook has a default; the host calls
 * only the hooks the subclass overrides.
 *
 * The host may run several instances at once and replace any of them at any time, so the
 * constructor builds one instance's state from the settings; state that must last belongs
 * in `kv`.
 */
export class Plugin {
  /** The settings this instance was made with (validated, defaults applied). */
  readonly settings: Settings;

  constructor(settings: Settings = new Settings()) {
    this.settings = settings;
  }

  /** Called after the constructor; throw to refuse the settings (the message says why). */
  init(): MaybePromise<void> {}
  /** Called once when the plugin is unloaded or the server stops. */
  shutdown(): MaybePromise<void> {}
  /** Called when an operator enables the plugin. */
  onEnable(): MaybePromise<void> {}
  /** Called when an operator disables the plugin. */
  onDisable(): MaybePromise<void> {}
  /** The plugin's view of its health. */
  health(): MaybePromise<HealthReport> {
    return { status: 'healthy', message: 'ok' };
  }
  /** Runs the plugin's self-tests. */
  selfTest(): MaybePromise<SelfTestResult[]> {
    return [];
  }

  /** Sees a prompt before the model does. */
  beforePrompt(_context: CallContext, _prompt: string): MaybePromise<FilterResult> {}
  /** Sees the model's whole reply. */
  afterResponse(_context: CallContext, _response: string): MaybePromise<FilterResult> {}
  /** Sees each streamed piece of a reply; returns what to send ('' holds it back). */
  streamChunk(_context: CallContext, chunk: string): MaybePromise<string> {
    return chunk;
  }
  /** Sees each API request before the host handles it. */
  beforeRequest(_context: CallContext, _request: HttpRequest): MaybePromise<RequestFilterResult> {}
  /** Sees each API response; return a response to add its new headers. */
  afterRequest(
    _context: CallContext,
    _request: HttpRequest,
    _response: HttpResponse,
  ): MaybePromise<HttpResponse | undefined | void> {}

  /** Receives every event; by default calls the matching `on...` method below. */
  onEvent(context: CallContext, event: Event): MaybePromise<void> {
    switch (event.tag) {
      case 'conversation-started': return this.onConversationStarted(context, event.val);
      case 'conversation-ended': return this.onConversationEnded(context, event.val);
      case 'message-received': return this.onMessageReceived(context, event.val);
      case 'message-sent': return this.onMessageSent(context, event.val);
      case 'message-edited': return this.onMessageEdited(context, event.val);
      case 'message-deleted': return this.onMessageDeleted(context, event.val);
      case 'plugin-loaded': return this.onPluginLoaded(context, event.val);
      case 'plugin-unloaded': return this.onPluginUnloaded(context, event.val);
      case 'plugin-enabled': return this.onPluginEnabled(context, event.val);
      case 'plugin-disabled': return this.onPluginDisabled(context, event.val);
      case 'plugin-failed': return this.onPluginFailed(context, event.val);
      case 'file-attached': return this.onFileAttached(context, event.val);
      case 'file-deleted': return this.onFileDeleted(context, event.val);
    }
  }
  onConversationStarted(_context: CallContext, _conversation: Conversation): MaybePromise<void> {}
  onConversationEnded(_context: CallContext, _conversation: Conversation): MaybePromise<void> {}
  onMessageReceived(_context: CallContext, _message: Message): MaybePromise<void> {}
  onMessageSent(_context: CallContext, _message: Message): MaybePromise<void> {}
  onMessageEdited(_context: CallContext, _message: Message): MaybePromise<void> {}
  onMessageDeleted(_context: CallContext, _message: Message): MaybePromise<void> {}
  onPluginLoaded(_context: CallContext, _pluginId: string): MaybePromise<void> {}
  onPluginUnloaded(_context: CallContext, _pluginId: string): MaybePromise<void> {}
  onPluginEnabled(_context: CallContext, _pluginId: string): MaybePromise<void> {}
  onPluginDisabled(_context: CallContext, _pluginId: string): MaybePromise<void> {}
  onPluginFailed(_context: CallContext, _failure: PluginFailure): MaybePromise<void> {}
  onFileAttached(_context: CallContext, _file: FileInfo): MaybePromise<void> {}
  onFileDeleted(_context: CallContext, _file: FileInfo): MaybePromise<void> {}

  /** Receives account events (delivered with the `events` hook); by default calls `onUser...`. */
  onAccountEvent(context: CallContext, event: AccountEvent): MaybePromise<void> {
    switch (event.tag) {
      case 'user-created': return this.onUserCreated(context, event.val);
      case 'user-disabled': return this.onUserDisabled(context, event.val);
      case 'user-enabled': return this.onUserEnabled(context, event.val);
      case 'user-deleted': return this.onUserDeleted(context, event.val);
    }
  }
  onUserCreated(_context: CallContext, _account: Account): MaybePromise<void> {}
  onUserDisabled(_context: CallContext, _account: Account): MaybePromise<void> {}
  onUserEnabled(_context: CallContext, _account: Account): MaybePromise<void> {}
  /** Forget what the plugin keeps about this user. */
  onUserDeleted(_context: CallContext, _account: Account): MaybePromise<void> {}

  /** Sees a message before it is stored. */
  messageWillBePosted(_context: CallContext, _message: Message): MaybePromise<FilterResult> {}

  /** The plugin's tools. */
  tools(): MaybePromise<ToolSpec[]> {
    return [];
  }
  /** Runs tool `name`; text is returned as it is, anything else as JSON. Throw to fail. */
  callTool(_context: CallContext, name: string, _args: ToolArguments): MaybePromise<ToolResult> {
    throw new Error(`unknown tool \`${name}\``);
  }

  /** Runs slash command `name` (declared in plugin.toml's `[[commands]]`). Throw to fail. */
  runCommand(_context: CallContext, name: string, _args: string): MaybePromise<string> {
    throw new Error(`unknown command \`/${name}\``);
  }

  /** The models this provider serves. */
  listModels(): MaybePromise<ModelInfo[]> {
    return [];
  }
  /** Runs a completion, streaming with `completion.emitText`; a string is the whole reply. */
  complete(request: Wit.CompletionRequest): MaybePromise<Completion | string> {
    throw new Error(`model \`${request.model}\` is not served by this plugin`);
  }

  /** The export formats this plugin writes. */
  listFormats(): MaybePromise<ExportFormat[]> {
    return [];
  }
  /** Exports a conversation and its messages (oldest first). */
  exportConversation(format: string, _conversation: Conversation, _messages: Message[]): MaybePromise<ExportFile> {
    throw new Error(`unknown export format \`${format}\``);
  }

  /** Serves a request to one of the plugin's routes (`[[routes]]` in plugin.toml). */
  handleHttp(_context: CallContext, _request: HttpRequest): MaybePromise<ResponseInit> {
    return HttpResponse.text(404, 'not found');
  }

  /** Runs scheduled task `name` (`[[schedules]]`), due at `scheduledAtMs`. Throw to fail. */
  runTask(name: string, _scheduledAtMs: number): MaybePromise<void> {
    throw new Error(`unknown task \`${name}\``);
  }
}

/** A subclass of Plugin. */
export type PluginClass<P extends Plugin = Plugin> = new (settings: Settings) => P;

/** The optional hooks and the methods that implement each (overriding any of them implements it). */
const HOOK_METHODS: Array<[Hook, Array<keyof Plugin>]> = [
  ['health', ['health']],
  ['self-test', ['selfTest']],
  ['before-prompt', ['beforePrompt']],
  ['after-response', ['afterResponse']],
  ['stream-chunk', ['streamChunk']],
  ['before-request', ['beforeRequest']],
  ['after-request', ['afterRequest']],
  [
    'events',
    [
      'onEvent', 'onConversationStarted', 'onConversationEnded', 'onMessageReceived', 'onMessageSent',
      'onMessageEdited', 'onMessageDeleted', 'onPluginLoaded', 'onPluginUnloaded', 'onPluginEnabled',
      'onPluginDisabled', 'onPluginFailed', 'onFileAttached', 'onFileDeleted', 'onAccountEvent',
      'onUserCreated', 'onUserDisabled', 'onUserEnabled', 'onUserDeleted',
    ],
  ],
  ['message-will-be-posted', ['messageWillBePosted']],
  ['tools', ['tools', 'callTool']],
  ['provider', ['listModels', 'complete']],
  ['exporter', ['listFormats', 'exportConversation']],
  ['http', ['handleHttp']],
  ['commands', ['runCommand']],
  ['scheduled', ['runTask']],
];

/**
 * The hooks `pluginClass` implements: shutdown, enable and disable always (as Rust's
 * `export_plugin!`), and each optional hook one of whose methods the class (or a class
 * between it and Plugin) defines.
 */
export function implementedHooks(pluginClass: PluginClass): Hook[] {
  const hooks: Hook[] = ['shutdown', 'on-enable', 'on-disable'];
  const base = Plugin.prototype as unknown as Record<string, unknown>;
  const own = pluginClass.prototype as Record<string, unknown>;
  for (const [hook, methods] of HOOK_METHODS) {
    if (methods.some((method) => own[method] !== base[method])) hooks.push(hook);
  }
  return hooks;
}

/**
 * Runs `run` and passes its value to `ok`, or what it (or `ok`) throws to `fail`; when
 * `run` returns a promise, so does this. Synchronous hooks stay synchronous, so the
 * component's export returns without running the event loop.
 */
function settle<T, R>(run: () => MaybePromise<T>, ok: (value: T) => R, fail: (error: unknown) => R): MaybePromise<R> {
  let value: MaybePromise<T>;
  try {
    value = run();
  } catch (error) {
    return fail(error);
  }
  if (value instanceof Promise) return value.then(ok).catch(fail);
  try {
    return ok(value);
  } catch (error) {
    return fail(error);
  }
}

/** The component's exports for a plugin class (what the build exports from the entry). */
export interface PluginExports {
  readonly pluginClass: PluginClass;
  lifecycle: typeof Lifecycle;
  filters: typeof Filters;
  events: typeof Events;
  tools: {
    listTools(): MaybePromise<Wit.ToolSpec[]>;
    callTool(context: CallContext, name: string, args: string): MaybePromise<string>;
  };
  provider: {
    listModels(): MaybePromise<ModelInfo[]>;
    complete(request: Wit.CompletionRequest): MaybePromise<Wit.Completion>;
  };
  exporter: typeof Exporter;
  httpHandler: { handle(context: CallContext, request: Wit.HttpRequest): MaybePromise<Wit.HttpResponse> };
  commands: { runCommand(context: CallContext, name: string, args: string): MaybePromise<string> };
  scheduler: { runTask(name: string, scheduledAtMs: bigint): MaybePromise<void> };
  accountEvents: typeof AccountEvents;
}

/**
 * Makes `pluginClass` the component's plugin: `export default definePlugin(MyPlugin)`.
 * The returned object holds one export per ABI interface; each hook builds nothing, it
 * calls the instance `init` made.
 *
 * Errors: a hook that returns a result (init, callTool, runCommand, complete,
 * exportConversation, runTask) reports what it throws as the call's error message. A
 * filter refuses with `throw new Reject(reason)`. Anything else thrown is logged (at
 * error level, with its stack) and fails the call, as a Rust panic would.
 */
export function definePlugin<P extends Plugin>(pluginClass: PluginClass<P>): PluginExports {
  if (typeof pluginClass !== 'function' || !(pluginClass.prototype instanceof Plugin)) {
    throw new TypeError('definePlugin takes a class that extends Plugin from @plugboard/sdk');
  }
  let instance: P | undefined;

  const plugin = (hook: string): P => {
    if (instance === undefined) throw new Error(`hook \`${hook}\` was called before \`init\` succeeded`);
    return instance;
  };

  // Hooks returning result<_, string>: the error is the message of whatever was thrown.
  const result = <T, R>(hook: string, run: (p: P) => MaybePromise<T>, map: (value: T) => R): MaybePromise<R> =>
    settle(
      () => run(plugin(hook)),
      map,
      (error) => {
        throw errorMessage(error);
      },
    );

  // Hooks without an error channel: a throw traps the call; log it first so the reason shows.
  const plain = <T, R>(hook: string, run: (p: P) => MaybePromise<T>, map: (value: T) => R): MaybePromise<R> =>
    settle(
      () => run(plugin(hook)),
      map,
      (error) => {
        fault(hook, error);
        throw error;
      },
    );

  const filter = (hook: string, run: (p: P) => MaybePromise<FilterResult>): MaybePromise<Wit.FilterOutcome> =>
    settle<FilterResult, Wit.FilterOutcome>(
      () => run(plugin(hook)),
      (value) => {
        if (value === undefined || value === null) return { tag: 'keep' };
        if (typeof value === 'string') return { tag: 'rewrite', val: value };
        throw new TypeError(`\`${hook}\` returned ${typeof value}; return a string to rewrite, nothing to keep`);
      },
      (error) => {
        if (error instanceof Reject) return { tag: 'reject', val: error.reason };
        fault(hook, error);
        throw error;
      },
    );

  return {
    pluginClass,
    lifecycle: {
      implementedHooks: () => implementedHooks(pluginClass),
      init(settings: string) {
        let candidate: P | undefined;
        return settle(
          () => {
            candidate = new pluginClass(Settings.parse(settings));
            return candidate.init();
          },
          () => {
            instance = candidate;
          },
          (error) => {
            throw errorMessage(error);
          },
        );
      },
      shutdown: () => plain('shutdown', (p) => p.shutdown(), () => undefined),
      onEnable: () => plain('on-enable', (p) => p.onEnable(), () => undefined),
      onDisable: () => plain('on-disable', (p) => p.onDisable(), () => undefined),
      health: () =>
        plain('health', (p) => p.health(), (report) => ({
          status: report.status,
          message: report.message,
          details: JSON.stringify(report.details ?? {}),
        })),
      selfTest: () =>
        plain('self-test', (p) => p.selfTest(), (results) =>
          results.map((r) => ({ name: String(r.name), passed: Boolean(r.passed), message: String(r.message ?? '') })),
        ),
    } as unknown as typeof Lifecycle,
    filters: {
      beforePrompt: (context: CallContext, prompt: string) =>
        filter('before-prompt', (p) => p.beforePrompt(context, prompt)),
      afterResponse: (context: CallContext, response: string) =>
        filter('after-response', (p) => p.afterResponse(context, response)),
      streamChunk: (context: CallContext, chunk: string) =>
        plain('stream-chunk', (p) => p.streamChunk(context, chunk), (text) => (typeof text === 'string' ? text : chunk)),
      beforeRequest: (context: CallContext, request: Wit.HttpRequest) =>
        plain('before-request', (p) => p.beforeRequest(context, new HttpRequest(request)), (outcome) => {
          if (outcome instanceof HttpResponse) return { tag: 'respond', val: outcome.toWit() };
          if (outcome instanceof HttpRequest) return { tag: 'rewrite', val: outcome.toWit() };
          return { tag: 'keep' };
        }),
      afterRequest: (context: CallContext, request: Wit.HttpRequest, response: Wit.HttpResponse) =>
        plain(
          'after-request',
          (p) => p.afterRequest(context, new HttpRequest(request), HttpResponse.fromWit(response)),
          (outcome) => (outcome instanceof HttpResponse ? { tag: 'rewrite', val: outcome.toWit() } : { tag: 'keep' }),
        ),
    } as unknown as typeof Filters,
    events: {
      onEvent: (context: CallContext, event: Events.Event) =>
        plain('on-event', (p) => p.onEvent(context, eventFromWit(event)), () => undefined),
      messageWillBePosted: (context: CallContext, message: Wit.Message) =>
        filter('message-will-be-posted', (p) => p.messageWillBePosted(context, messageFromWit(message))),
    } as unknown as typeof Events,
    tools: {
      listTools: () =>
        plain('list-tools', (p) => p.tools(), (specs) =>
          specs.map((spec) => ({
            name: spec.name,
            description: spec.description,
            parametersSchema: JSON.stringify(spec.parameters ?? { type: 'object' }),
          })),
        ),
      callTool: (context: CallContext, name: string, args: string) =>
        result(
          'call-tool',
          (p) => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(args);
            } catch (error) {
              throw new Error(`the arguments are not valid JSON: ${(error as Error).message}`);
            }
            return p.callTool(context, name, (parsed ?? {}) as ToolArguments);
          },
          (output) => (typeof output === 'string' ? output : JSON.stringify(output)),
        ),
    },
    provider: {
      listModels: () => plain('list-models', (p) => p.listModels(), (models) => models),
      complete: (request: Wit.CompletionRequest) =>
        result('complete', (p) => p.complete(request), (answer): Wit.Completion =>
          typeof answer === 'string'
            ? { content: answer, toolCalls: [], finishReason: 'stop', usage: { promptTokens: 0, completionTokens: 0 } }
            : answer,
        ),
    },
    exporter: {
      listFormats: () => plain('list-formats', (p) => p.listFormats(), (formats) => formats),
      exportConversation: (format: string, conversation: Wit.Conversation, messages: Wit.Message[]) =>
        result(
          'export-conversation',
          (p) => p.exportConversation(format, conversationFromWit(conversation), messages.map(messageFromWit)),
          (file) => ({
            fileName: file.fileName,
            mediaType: file.mediaType,
            data: typeof file.data === 'string' ? new TextEncoder().encode(file.data) : file.data,
          }),
        ),
    } as unknown as typeof Exporter,
    httpHandler: {
      handle: (context: CallContext, request: Wit.HttpRequest) =>
        plain('handle', (p) => p.handleHttp(context, new HttpRequest(request)), toWitResponse),
    },
    commands: {
      runCommand: (context: CallContext, name: string, args: string) =>
        result('run-command', (p) => p.runCommand(context, name, args), (text) => String(text)),
    },
    scheduler: {
      runTask: (name: string, scheduledAtMs: bigint) =>
        result('run-task', (p) => p.runTask(name, Number(scheduledAtMs)), () => undefined),
    },
    accountEvents: {
      onAccountEvent: (context: CallContext, event: AccountEvent) =>
        plain('on-account-event', (p) => p.onAccountEvent(context, event), () => undefined),
    } as unknown as typeof AccountEvents,
  };
}

function fault(hook: string, error: unknown): void {
  try {
    log.error(`hook \`${hook}\` failed:`, error instanceof Error ? error : errorMessage(error));
  } catch {
    // No host to log to (a test without a fake host): the error itself still propagates.
  }
}
