// @plugboard/sdk/testing: a fake Plugboard host for a plugin's unit tests in Node.js.
//
// A plugin's hooks are ordinary methods, so a test calls them directly, the way the host
// would. What a test cannot do without help is use the host's services: FakeHost is one,
// in memory, for every service (the Rust SDK's `plugboard_sdk::testing`, in JavaScript):
//
//   settings         .settings({...}) / .setting(name, value)      installed.init(MyPlugin)
//   kv               a map with expiry on a clock the test moves     installed.kv(key), kvJson, kvKeys
//   chat             users, conversations, messages, files given     installed.posted(), messages(id)
//   http             responses per URL; allowed_hosts checked        installed.httpRequests()
//   ai               answers given in order                          installed.aiRequests()
//   plugins          other plugins' tool results                     installed.toolCalls()
//   log              lines captured                                  installed.logs(), logged(level, text)
//   completion       chunks a provider streams                       installed.emitted()
//
// Build the fake, then `install()` it: the returned InstalledHost serves the host calls
// until `uninstall()` or the next install. Every permission is granted unless
// `.permissions([...])` lists those of plugin.toml; outbound HTTP needs `.allowedHost(entry)`
// for each entry of `[network] allowed_hosts`.

import { type Backend, setBackend } from '../backend.ts';
import { HostError } from '../errors.ts';
import { HttpResponse } from '../http.ts';
import type { Plugin, PluginClass } from '../plugin.ts';
import { Settings } from '../settings.ts';
import type {
  CallContext,
  ChatFile,
  Completion,
  CompletionChunk,
  Conversation,
  ErrorKind,
  LogLevel,
  Message,
  Role,
  User,
  WitHttpRequest,
  WitHttpResponse,
} from '../types.ts';
import type * as Wit from 'plugboard:plugin/types@0.1.0';
import { checkUrl, HostPattern } from './network.ts';

export { HostPattern } from './network.ts';

/** The longest key, in bytes. */
export const MAX_KEY_BYTES = 512;
/** The largest value, in bytes. */
export const MAX_VALUE_BYTES = 1 << 20;
const MAX_LIST_KEYS = 10_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One line the plugin logged. */
export interface LogLine {
  level: LogLevel;
  message: string;
}

/** One call the plugin made to another plugin's tool. */
export interface ToolCallRecord {
  plugin: string;
  tool: string;
  arguments: unknown;
}

/** A call context for calling a hook in a test: for `userId` in `conversationId` (either may be empty). */
export function context(userId = '', conversationId = ''): CallContext {
  return { conversationId, userId, model: '', requestId: 'test-request' };
}

type Answer<T> = { ok: T } | { error: HostError };

interface KvEntry {
  value: Uint8Array;
  expiresAtMs?: number;
}

interface HttpScript {
  method?: string;
  url: string;
  answers: Array<Answer<WitHttpResponse>>;
}

/** The next scripted answer: answers are given in order, and the last one repeats. */
function next<T>(answers: T[] | undefined): T | undefined {
  if (answers === undefined || answers.length === 0) return undefined;
  return answers.length > 1 ? answers.shift() : answers[0];
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.length === b.length && a.every((byte, index) => byte === b[index]);

const clone = <T>(value: T): T => structuredClone(value);

/** Everything the fake host knows and records. */
class State {
  pluginId = 'plugin-under-test';
  settings: Record<string, unknown> = {};
  permissions: Set<string> | undefined;
  allowedHosts: HostPattern[] = [];
  /** 2026-01-01T00:00:00Z: a fixed start, so tests see the same times every run. */
  nowMs = 1_767_225_600_000;
  actingUser: string | undefined;
  kv = new Map<string, KvEntry>();
  users = new Map<string, User>();
  conversations: Conversation[] = [];
  messages: Array<{ message: Message; deleted: boolean }> = [];
  files: ChatFile[] = [];
  posted: Message[] = [];
  http: HttpScript[] = [];
  httpRequests: WitHttpRequest[] = [];
  aiAnswers: Array<Answer<Completion>> = [];
  aiRequests: Wit.CompletionRequest[] = [];
  tools = new Map<string, Array<{ ok: string } | { error: string }>>();
  toolCalls: ToolCallRecord[] = [];
  logs: LogLine[] = [];
  emitted: CompletionChunk[] = [];
  clientTakes: number | undefined;
  nextId = 1;

  newId(kind: string): string {
    return `${kind}-${this.nextId++}`;
  }

  require(permission: string): void {
    if (this.permissions !== undefined && !this.permissions.has(permission)) {
      throw new HostError(
        'permission-denied',
        `plugin \`${this.pluginId}\` needs permission \`${permission}\` for this; add "${permission}" to \`permissions\` in plugin.toml`,
      );
    }
  }

  kvLive(key: string): KvEntry | undefined {
    const entry = this.kv.get(key);
    return entry !== undefined && (entry.expiresAtMs === undefined || entry.expiresAtMs > this.nowMs) ? entry : undefined;
  }

  checkKey(key: string): void {
    const length = encoder.encode(key).length;
    if (length === 0 || length > MAX_KEY_BYTES) {
      throw new HostError('invalid-input', `kv keys are 1 to ${MAX_KEY_BYTES} bytes; this one is ${length}`);
    }
  }

  checkValue(value: Uint8Array): void {
    if (value.length > MAX_VALUE_BYTES) {
      throw new HostError('limit-exceeded', `kv values are at most ${MAX_VALUE_BYTES} bytes; this one is ${value.length}`);
    }
  }

  expiry(ttlMs: number | undefined): number | undefined {
    return ttlMs === undefined ? undefined : this.nowMs + ttlMs;
  }

  visible(conversation: Conversation): boolean {
    return this.actingUser === undefined || this.actingUser === conversation.userId;
  }

  conversation(id: string): Conversation {
    const found = this.conversations.find((conversation) => conversation.id === id && this.visible(conversation));
    if (found === undefined) throw new HostError('not-found', `no conversation \`${id}\``);
    return found;
  }

  liveMessage(id: string): { message: Message; deleted: boolean } {
    const entry = this.messages.find(({ message, deleted }) => message.id === id && !deleted);
    if (entry === undefined) throw new HostError('not-found', `no message \`${id}\``);
    try {
      this.conversation(entry.message.conversationId);
    } catch {
      throw new HostError('not-found', `no message \`${id}\``);
    }
    return entry;
  }

  ownMessage(message: Message, verb: string): void {
    if (message.author !== `plugin:${this.pluginId}`) {
      throw new HostError(
        'permission-denied',
        `plugin \`${this.pluginId}\` may ${verb} only its own messages; \`${message.id}\` is by ${message.author}`,
      );
    }
  }

  addMessage(conversationId: string, role: Role, author: string, content: string): Message {
    const message: Message = { id: this.newId('message'), conversationId, role, author, content, createdAtMs: this.nowMs };
    this.messages.push({ message, deleted: false });
    return message;
  }

  backend(): Backend {
    return {
      log: (level, message) => {
        this.logs.push({ level, message });
      },
      settings: () => JSON.stringify(this.settings),
      kvGet: (key) => {
        this.require('kv');
        this.checkKey(key);
        const value = this.kvLive(key)?.value;
        return value === undefined ? undefined : value.slice();
      },
      kvSet: (key, value, ttlMs) => {
        this.require('kv');
        this.checkKey(key);
        this.checkValue(value);
        this.kv.set(key, { value: value.slice(), expiresAtMs: this.expiry(ttlMs) });
      },
      kvDelete: (key) => {
        this.require('kv');
        this.checkKey(key);
        const existed = this.kvLive(key) !== undefined;
        this.kv.delete(key);
        return existed;
      },
      kvListKeys: (prefix, limit) => {
        this.require('kv');
        const keys = [...this.kv.keys()].filter((key) => key.startsWith(prefix) && this.kvLive(key) !== undefined);
        return keys.sort(byteOrder).slice(0, Math.min(limit, MAX_LIST_KEYS));
      },
      kvCompareAndSet: (key, expected, next, ttlMs) => {
        this.require('kv');
        this.checkKey(key);
        if (next !== undefined) this.checkValue(next);
        if (!sameBytes(this.kvLive(key)?.value, expected)) return false;
        if (next === undefined) this.kv.delete(key);
        else this.kv.set(key, { value: next.slice(), expiresAtMs: this.expiry(ttlMs) });
        return true;
      },
      getConversation: (id) => {
        this.require('channels.read');
        return clone(this.conversation(id));
      },
      createConversation: (userId, title) => {
        this.require('channels.write');
        if (this.actingUser !== undefined && this.actingUser !== userId) {
          throw new HostError('permission-denied', 'a plugin acting for one user cannot create conversations for another');
        }
        if (!this.users.has(userId)) throw new HostError('not-found', `no user \`${userId}\``);
        const conversation = { id: this.newId('conversation'), title, userId, createdAtMs: this.nowMs };
        this.conversations.push(conversation);
        return clone(conversation);
      },
      listMessages: (conversationId, limit) => {
        this.require('messages.read');
        this.conversation(conversationId);
        const live = this.messages.filter((m) => m.message.conversationId === conversationId && !m.deleted);
        return live.slice(Math.max(0, live.length - Math.min(limit, 10_000))).map((m) => clone(m.message));
      },
      postMessage: (conversationId, content) => {
        this.require('messages.write');
        this.conversation(conversationId);
        const message = this.addMessage(conversationId, 'assistant', `plugin:${this.pluginId}`, content);
        this.posted.push(clone(message));
        return clone(message);
      },
      editMessage: (messageId, content) => {
        this.require('messages.write');
        const entry = this.liveMessage(messageId);
        this.ownMessage(entry.message, 'edit');
        entry.message.content = content;
        return clone(entry.message);
      },
      deleteMessage: (messageId) => {
        this.require('messages.write');
        const entry = this.liveMessage(messageId);
        this.ownMessage(entry.message, 'delete');
        entry.deleted = true;
      },
      getUser: (id) => {
        this.require('users.read');
        const user = this.users.get(id);
        if (user === undefined) throw new HostError('not-found', `no user \`${id}\``);
        return clone(user);
      },
      readFile: (id) => {
        this.require('files.read');
        const file = this.files.find((f) => f.id === id);
        if (file === undefined) throw new HostError('not-found', `no file \`${id}\``);
        try {
          this.conversation(file.conversationId);
        } catch {
          throw new HostError('not-found', `no file \`${id}\``);
        }
        return clone(file);
      },
      writeFile: (conversationId, name, mediaType, data) => {
        this.require('files.write');
        this.conversation(conversationId);
        const id = this.newId('file');
        this.files.push({ id, conversationId, name, mediaType, data: data.slice() });
        return id;
      },
      httpFetch: (request) => {
        this.require('network');
        checkUrl(this.pluginId, this.allowedHosts, request.uri);
        this.httpRequests.push(clone(request));
        const script = this.http.find(
          (s) => s.url === request.uri && (s.method === undefined || s.method.toUpperCase() === request.method.toUpperCase()),
        );
        const answer = next(script?.answers);
        if (answer === undefined) {
          throw new HostError(
            'unavailable',
            `the test gave no response for ${request.method} ${request.uri}; script one with \`.httpResponse("${request.uri}", ..)\``,
          );
        }
        if ('error' in answer) throw answer.error;
        return clone(answer.ok);
      },
      aiComplete: (request) => {
        this.require('ai');
        this.aiRequests.push(clone(request));
        const answer = next(this.aiAnswers);
        if (answer === undefined) {
          throw new HostError('unavailable', 'the test gave no model answer; script one with `.aiAnswer("..")`');
        }
        if ('error' in answer) throw answer.error;
        return clone(answer.ok);
      },
      callTool: (plugin, tool, args) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(args);
        } catch (error) {
          throw new HostError('invalid-input', `tool arguments are not JSON: ${(error as Error).message}`);
        }
        if (![...this.tools.keys()].some((key) => key.startsWith(`${plugin}\u0000`))) {
          throw new HostError(
            'permission-denied',
            `plugin \`${this.pluginId}\` may only call plugins it depends on; add \`${plugin} = "<version range>"\` to \`[dependencies]\` in plugin.toml, and script its tool with \`.toolResult("${plugin}", "${tool}", ..)\``,
          );
        }
        this.toolCalls.push({ plugin, tool, arguments: parsed });
        const answer = next(this.tools.get(`${plugin}\u0000${tool}`));
        if (answer === undefined) throw new HostError('not-found', `plugin \`${plugin}\` has no tool \`${tool}\``);
        if ('error' in answer) throw new HostError('invalid-input', answer.error);
        return answer.ok;
      },
      emit: (chunk) => {
        if (this.clientTakes !== undefined && this.emitted.length >= this.clientTakes) return false;
        this.emitted.push(clone(chunk));
        return true;
      },
    };
  }
}

function byteOrder(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const toBytes = (value: Uint8Array | string): Uint8Array => (typeof value === 'string' ? encoder.encode(value) : value.slice());

/** What a test may script as an HTTP answer: an HttpResponse or `{status, headers?, body?}`. */
export type ScriptedResponse = HttpResponse | { status: number; headers?: Array<[string, string]> | Record<string, string>; body?: unknown };

/**
 * A fake host being set up: settings, permissions and allowed hosts, the data the plugin
 * finds, and the answers of the services it calls. `install()` it to use it.
 */
export class FakeHost {
  readonly #state = new State();

  /** The plugin's id, used in messages and as the author of its messages. Default `plugin-under-test`. */
  pluginId(id: string): this {
    this.#state.pluginId = id;
    return this;
  }

  /** All the settings, as the host hands them over (defaults included). */
  settings(settings: Record<string, unknown>): this {
    this.#state.settings = clone(settings);
    return this;
  }

  /** One setting. */
  setting(name: string, value: unknown): this {
    this.#state.settings[name] = clone(value);
    return this;
  }

  /** Grants only these permissions (those of plugin.toml); without this call every permission is granted. */
  permissions(permissions: Iterable<string>): this {
    this.#state.permissions = new Set(permissions);
    return this;
  }

  /** Adds an entry of `[network] allowed_hosts` (`api.example.org`, `api.example.org:8443`, `*.example.org`, ...). */
  allowedHost(entry: string): this {
    this.#state.allowedHosts.push(HostPattern.parse(entry));
    return this;
  }

  /** Sets the clock, in milliseconds since the Unix epoch. */
  clockMs(nowMs: number): this {
    this.#state.nowMs = nowMs;
    return this;
  }

  /** Makes the chat service act for `userId`: only their conversations, messages and files are found. */
  actingUser(userId: string): this {
    this.#state.actingUser = userId;
    return this;
  }

  /** Stores `value` (bytes, or text as UTF-8) under `key`. */
  kv(key: string, value: Uint8Array | string): this {
    this.#state.kv.set(key, { value: toBytes(value) });
    return this;
  }

  /** Stores `value` as JSON under `key`, as `kv.setJson` does. */
  kvJson(key: string, value: unknown): this {
    return this.kv(key, JSON.stringify(value));
  }

  /** A user. */
  user(id: string, displayName: string): this {
    this.#state.users.set(id, { id, displayName, isAdmin: false });
    return this;
  }

  /** An administrator. */
  admin(id: string, displayName: string): this {
    this.#state.users.set(id, { id, displayName, isAdmin: true });
    return this;
  }

  /** A conversation of `userId`, created at the clock's time. */
  conversation(id: string, userId: string, title: string): this {
    this.#state.conversations.push({ id, title, userId, createdAtMs: this.#state.nowMs });
    return this;
  }

  /** A message in a conversation, with an id such as `message-3`. `author`: `user:<id>`, `assistant`, or `plugin:<id>`. */
  message(conversationId: string, role: Role, author: string, content: string): this {
    this.#state.addMessage(conversationId, role, author, content);
    return this;
  }

  /** A file attached to a conversation. */
  file(id: string, conversationId: string, name: string, mediaType: string, data: Uint8Array | string): this {
    this.#state.files.push({ id, conversationId, name, mediaType, data: toBytes(data) });
    return this;
  }

  /**
   * The response to a request for exactly `url` (of `method`, when given; those are
   * checked first). Several responses for one URL are given in order, the last repeating.
   * The URL's host must still be allowed (`allowedHost`).
   */
  httpResponse(url: string, response: ScriptedResponse, method?: string): this {
    const wit =
      response instanceof HttpResponse
        ? response.toWit()
        : new HttpResponse(response.status, response.headers, response.body as never).toWit();
    return this.#httpAnswer(url, method, { ok: wit });
  }

  /** A failure for a request to `url`, such as `unavailable` (unreachable) or `timeout`. */
  httpError(url: string, kind: ErrorKind, message: string, method?: string): this {
    return this.#httpAnswer(url, method, { error: new HostError(kind, message) });
  }

  #httpAnswer(url: string, method: string | undefined, answer: Answer<WitHttpResponse>): this {
    const script = this.#state.http.find((s) => s.url === url && s.method === method);
    if (script !== undefined) script.answers.push(answer);
    else this.#state.http.push({ url, method, answers: [answer] });
    this.#state.http.sort((a, b) => Number(a.method === undefined) - Number(b.method === undefined));
    return this;
  }

  /** The model's next answer: a completion with this text (answers in order, the last repeating). */
  aiAnswer(content: string): this {
    return this.aiCompletion({
      content,
      toolCalls: [],
      finishReason: 'stop',
      usage: { promptTokens: 0, completionTokens: 0 },
    });
  }

  /** The model's next answer, whole. */
  aiCompletion(completion: Completion): this {
    this.#state.aiAnswers.push({ ok: clone(completion) });
    return this;
  }

  /** The model's next answer is a failure. */
  aiError(kind: ErrorKind, message: string): this {
    this.#state.aiAnswers.push({ error: new HostError(kind, message) });
    return this;
  }

  /** The next result of `tool` of `plugin` (a dependency). Only plugins given here can be called. */
  toolResult(plugin: string, tool: string, output: string): this {
    return this.#tool(plugin, tool, { ok: output });
  }

  /** The next result of `tool` of `plugin` is the tool's error `message`. */
  toolError(plugin: string, tool: string, message: string): this {
    return this.#tool(plugin, tool, { error: message });
  }

  #tool(plugin: string, tool: string, answer: { ok: string } | { error: string }): this {
    const key = `${plugin}\u0000${tool}`;
    const answers = this.#state.tools.get(key) ?? [];
    answers.push(answer);
    this.#state.tools.set(key, answers);
    return this;
  }

  /** The client of a streamed completion goes away after `chunks` chunks: `emitText` returns false from then on. */
  clientLeavesAfter(chunks: number): this {
    this.#state.clientTakes = chunks;
    return this;
  }

  /** Makes this fake serve the SDK's host calls (replacing any installed before) until `uninstall()`. */
  install(): InstalledHost {
    const previous = setBackend(this.#state.backend());
    return new InstalledHost(this.#state, previous);
  }
}

/** An installed FakeHost: serves the host calls, and shows what the plugin did. */
export class InstalledHost {
  readonly #state: State;
  readonly #previous: Backend | undefined;

  /** @internal */
  constructor(state: State, previous: Backend | undefined) {
    this.#state = state;
    this.#previous = previous;
  }

  /** Stops serving host calls; the host installed before comes back. */
  uninstall(): void {
    setBackend(this.#previous);
  }

  /** The plugin's settings, as the constructor receives them. */
  settings(): Settings {
    return new Settings(clone(this.#state.settings));
  }

  /**
   * Builds the plugin from the settings, as the host does for a fresh instance: the
   * constructor, then `init()`. Returns the instance (a promise of it when `init` is async).
   */
  init<P extends Plugin>(pluginClass: PluginClass<P>): P {
    const plugin = new pluginClass(this.settings());
    const started = plugin.init();
    if (started instanceof Promise) {
      throw new Error('this plugin has an async init(); use `await host.initAsync(MyPlugin)`');
    }
    return plugin;
  }

  /** `init` for a plugin whose `init()` is async. */
  async initAsync<P extends Plugin>(pluginClass: PluginClass<P>): Promise<P> {
    const plugin = new pluginClass(this.settings());
    await plugin.init();
    return plugin;
  }

  /** Replaces the settings (as an operator's change would; `init` again to see the plugin take them). */
  setSettings(settings: Record<string, unknown>): void {
    this.#state.settings = clone(settings);
  }

  /** The clock, in milliseconds since the Unix epoch. */
  nowMs(): number {
    return this.#state.nowMs;
  }

  /** Moves the clock forward: keys whose time to live has passed expire. */
  advance(ms: number): void {
    this.#state.nowMs += ms;
  }

  /** The value of `key`, unless absent or expired. */
  kv(key: string): Uint8Array | undefined {
    return this.#state.kvLive(key)?.value.slice();
  }

  /** The value of `key` as text. */
  kvString(key: string): string | undefined {
    const value = this.kv(key);
    return value === undefined ? undefined : decoder.decode(value);
  }

  /** The value of `key` parsed as JSON. */
  kvJson<T = unknown>(key: string): T | undefined {
    const text = this.kvString(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new Error(`kv value of \`${key}\` (${text}) is not JSON: ${(error as Error).message}`);
    }
  }

  /** Every live key, in byte order. */
  kvKeys(): string[] {
    return [...this.#state.kv.keys()].filter((key) => this.#state.kvLive(key) !== undefined).sort(byteOrder);
  }

  /** Stores `value` under `key`, as another instance of the plugin might between calls. */
  setKv(key: string, value: Uint8Array | string): void {
    this.#state.kv.set(key, { value: toBytes(value) });
  }

  /** The messages the plugin posted, in order, as they were posted. */
  posted(): Message[] {
    return clone(this.#state.posted);
  }

  /** The live messages of a conversation, oldest first. */
  messages(conversationId: string): Message[] {
    return this.#state.messages
      .filter(({ message, deleted }) => message.conversationId === conversationId && !deleted)
      .map(({ message }) => clone(message));
  }

  /** Every conversation, those the plugin created last. */
  conversations(): Conversation[] {
    return clone(this.#state.conversations);
  }

  /** Every file, those the plugin attached last. */
  files(): ChatFile[] {
    return clone(this.#state.files);
  }

  /** Every request the plugin sent (those the allowed hosts let through), in order. */
  httpRequests(): WitHttpRequest[] {
    return clone(this.#state.httpRequests);
  }

  /** Every completion the plugin asked the model for, in order. */
  aiRequests(): Wit.CompletionRequest[] {
    return clone(this.#state.aiRequests);
  }

  /** Every call to another plugin's tool, in order. */
  toolCalls(): ToolCallRecord[] {
    return clone(this.#state.toolCalls);
  }

  /** Every line logged, in order. */
  logs(): LogLine[] {
    return clone(this.#state.logs);
  }

  /** Whether a line at `level` contains `text`. */
  logged(level: LogLevel, text: string): boolean {
    return this.#state.logs.some((line) => line.level === level && line.message.includes(text));
  }

  /** Every chunk a provider streamed that the client received, in order. */
  emitted(): CompletionChunk[] {
    return clone(this.#state.emitted);
  }
}
