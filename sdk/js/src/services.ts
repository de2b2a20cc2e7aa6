// Host services, each behind the permission its documentation names in plugin.toml. A
// refusal or failure throws a HostError. In plain Node.js (a plugin's tests) they go to the
// FakeHost of '@plugboard/sdk/testing'.

import { backend } from './backend.ts';
import { HostError } from './errors.ts';
import { type BodyInit, type HeadersInit, HttpResponse, toBody, toHeaderList } from './http.ts';
import { Settings } from './settings.ts';
import type {
  ChatFile,
  Completion,
  CompletionRequest,
  Conversation,
  LogLevel,
  Message,
  ToolCall,
  User,
} from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function write(level: LogLevel, parts: unknown[]): void {
  const message = parts.map((part) => (typeof part === 'string' ? part : describe(part))).join(' ');
  backend('log').log(level, message);
}

function describe(value: unknown): string {
  if (value instanceof Error) {
    // SpiderMonkey's `stack` holds only the frames; Node's starts with the message.
    const head = `${value.name}: ${value.message}`;
    const stack = value.stack ?? '';
    return stack.startsWith(head) ? stack : `${head}\n${stack}`.trimEnd();
  }
  try {
    return JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? item.toString() : item)) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The server log (always allowed); each line is tagged with the plugin id. */
export const log = {
  trace: (...parts: unknown[]): void => write('trace', parts),
  debug: (...parts: unknown[]): void => write('debug', parts),
  info: (...parts: unknown[]): void => write('info', parts),
  warn: (...parts: unknown[]): void => write('warn', parts),
  error: (...parts: unknown[]): void => write('error', parts),
};

/** The plugin's settings (always allowed). */
export const settings = {
  /** The current settings, as `init` last received them. */
  current(): Settings {
    return Settings.parse(backend('settings.current').settings());
  },
};

function bytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** Options of a write to the key-value store. */
export interface KvWriteOptions {
  /** The key expires this many milliseconds later. */
  ttlMs?: number;
}

/**
 * The plugin's private key-value store. Needs permission `kv`. Keys are 1 to 512 bytes of
 * UTF-8; values up to 1 MiB.
 */
export const kv = {
  /** The value of `key`, or undefined when it is absent or expired. */
  get(key: string): Uint8Array | undefined {
    return backend('kv.get').kvGet(key);
  },
  /** The value of `key` as text (UTF-8). */
  getString(key: string): string | undefined {
    const value = backend('kv.getString').kvGet(key);
    return value === undefined ? undefined : decoder.decode(value);
  },
  /** The value of `key` parsed as JSON; a HostError (`invalid-input`) if it is not JSON. */
  getJson<T = unknown>(key: string): T | undefined {
    const value = backend('kv.getJson').kvGet(key);
    if (value === undefined) return undefined;
    try {
      return JSON.parse(decoder.decode(value)) as T;
    } catch (error) {
      throw new HostError('invalid-input', `kv value of \`${key}\` is not JSON: ${(error as Error).message}`);
    }
  },
  /** Stores `value` (bytes, or text as UTF-8) under `key`. */
  set(key: string, value: Uint8Array | string, options: KvWriteOptions = {}): void {
    backend('kv.set').kvSet(key, bytes(value), options.ttlMs);
  },
  /** Stores `value` as JSON under `key`. */
  setJson(key: string, value: unknown, options: KvWriteOptions = {}): void {
    const json = JSON.stringify(value);
    if (json === undefined) throw new HostError('invalid-input', `cannot store ${String(value)} as JSON under \`${key}\``);
    backend('kv.setJson').kvSet(key, encoder.encode(json), options.ttlMs);
  },
  /** Removes `key`; returns whether it existed. */
  delete(key: string): boolean {
    return backend('kv.delete').kvDelete(key);
  },
  /** Keys starting with `prefix`, in byte order, at most `limit` (1000 unless given). */
  listKeys(prefix = '', limit = 1000): string[] {
    return backend('kv.listKeys').kvListKeys(prefix, limit);
  },
  /**
   * Replaces the value of `key` with `next` only if it is now `expected` (undefined: absent);
   * `next` undefined deletes it. Returns whether it swapped.
   */
  compareAndSet(
    key: string,
    expected: Uint8Array | string | undefined,
    next: Uint8Array | string | undefined,
    options: KvWriteOptions = {},
  ): boolean {
    const as = (value: Uint8Array | string | undefined) => (value === undefined ? undefined : bytes(value));
    return backend('kv.compareAndSet').kvCompareAndSet(key, as(expected), as(next), options.ttlMs);
  },
};

/**
 * Conversations, messages, users and files. Each call needs the permission it names; a
 * call made for a user sees only that user's data.
 */
export const chat = {
  /** A conversation. Needs `channels.read`. */
  getConversation: (id: string): Conversation => backend('chat.getConversation').getConversation(id),
  /** Creates a conversation owned by `userId`. Needs `channels.write`. */
  createConversation: (userId: string, title: string): Conversation =>
    backend('chat.createConversation').createConversation(userId, title),
  /** The newest `limit` messages of a conversation, oldest first. Needs `messages.read`. */
  listMessages: (conversationId: string, limit = 50): Message[] =>
    backend('chat.listMessages').listMessages(conversationId, limit),
  /** Posts a message authored by this plugin and returns it. Needs `messages.write`. */
  postMessage: (conversationId: string, content: string): Message =>
    backend('chat.postMessage').postMessage(conversationId, content),
  /** Replaces the content of one of this plugin's messages. Needs `messages.write`. */
  editMessage: (messageId: string, content: string): Message =>
    backend('chat.editMessage').editMessage(messageId, content),
  /** Deletes one of this plugin's messages. Needs `messages.write`. */
  deleteMessage: (messageId: string): void => backend('chat.deleteMessage').deleteMessage(messageId),
  /** A user. Needs `users.read`. */
  getUser: (id: string): User => backend('chat.getUser').getUser(id),
  /** A file attachment with its contents. Needs `files.read`. */
  readFile: (id: string): ChatFile => backend('chat.readFile').readFile(id),
  /** Attaches a file to a conversation and returns its id. Needs `files.write`. */
  writeFile: (conversationId: string, name: string, mediaType: string, data: Uint8Array | string): string =>
    backend('chat.writeFile').writeFile(conversationId, name, mediaType, bytes(data)),
};

/** Options of an outbound request. */
export interface FetchOptions {
  /** `GET` unless given. */
  method?: string;
  headers?: HeadersInit;
  /** Bytes, text, or any other value (sent as JSON with `content-type: application/json`). */
  body?: BodyInit;
}

/**
 * Outbound HTTP. Needs permission `network`, and the URL's host in `[network]
 * allowed_hosts` of plugin.toml. Synchronous: the call returns the whole response.
 */
export const http = {
  /** Sends a request and waits for the whole response (any status; check `ok`). */
  fetch(url: string, options: FetchOptions = {}): HttpResponse {
    const headers = toHeaderList(options.headers);
    const { bytes: body, contentType } = toBody(options.body);
    if (contentType !== undefined && !headers.some(([name]) => name === 'content-type')) {
      headers.push(['content-type', contentType]);
    }
    const method = (options.method ?? 'GET').toUpperCase();
    return HttpResponse.fromWit(backend('http.fetch').httpFetch({ method, uri: url, headers, body }));
  },
  /** Sends a `GET` request. */
  get(url: string, options: Omit<FetchOptions, 'method' | 'body'> = {}): HttpResponse {
    return http.fetch(url, { ...options, method: 'GET' });
  },
  /** Sends a `POST` request; an object body goes as JSON. */
  post(url: string, body: BodyInit, options: Omit<FetchOptions, 'method' | 'body'> = {}): HttpResponse {
    return http.fetch(url, { ...options, method: 'POST', body });
  },
};

/** The language model configured in the host. Needs permission `ai`. */
export const ai = {
  /** Runs a completion to the end. */
  complete(request: CompletionRequest): Completion {
    return backend('ai.complete').aiComplete({
      model: request.model ?? '',
      messages: request.messages.map((message) => ({
        role: message.role,
        content: message.content,
        toolCalls: message.toolCalls ?? [],
        toolCallId: message.toolCallId ?? '',
      })),
      tools: request.tools ?? [],
      temperature: request.temperature,
      topP: request.topP,
      maxTokens: request.maxTokens,
    });
  },
  /** Asks the default model one question and returns its answer's text. */
  ask(prompt: string): string {
    return ai.complete({ messages: [{ role: 'user', content: prompt }] }).content;
  },
};

/** Tools of other plugins. Only plugins listed in `[dependencies]` can be called. */
export const plugins = {
  /** Calls `tool` of plugin `pluginId` with `args` (an object, sent as JSON); returns its text. */
  callTool(pluginId: string, tool: string, args: Record<string, unknown> = {}): string {
    return backend('plugins.callTool').callTool(pluginId, tool, JSON.stringify(args));
  },
};

/** Streaming a completion from a provider plugin (only inside `complete`). */
export const completion = {
  /** Sends a piece of text to the client. False when the client has gone away: stop then. */
  emitText: (text: string): boolean => backend('completion.emitText').emit({ tag: 'delta', val: text }),
  /** Sends a tool call to the client. False when the client has gone away. */
  emitToolCall: (call: ToolCall): boolean => backend('completion.emitToolCall').emit({ tag: 'tool-call', val: call }),
};
