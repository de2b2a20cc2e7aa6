// The backend of a built component: the Plugboard host's imports. The build's entry
// imports this module first, so it is installed before the plugin's module runs. It also
// replaces the global `fetch`, which this component cannot use (the host links no
// wasi:http), with one that says what to use instead.

import * as ai from 'plugboard:plugin/ai@0.1.0';
import * as chat from 'plugboard:plugin/chat@0.1.0';
import * as completionSink from 'plugboard:plugin/completion-sink@0.1.0';
import * as httpClient from 'plugboard:plugin/http-client@0.1.0';
import * as kv from 'plugboard:plugin/kv@0.1.0';
import * as log from 'plugboard:plugin/log@0.1.0';
import * as plugins from 'plugboard:plugin/plugins@0.1.0';
import * as settings from 'plugboard:plugin/settings@0.1.0';
import { type Backend, setBackend } from './backend.ts';
import { conversationFromWit, messageFromWit } from './convert.ts';
import { HostError } from './errors.ts';

/** The message of the global `fetch` in a plugin. */
export const FETCH_MESSAGE =
  "a Plugboard plugin cannot use the global `fetch`: use `http` from '@plugboard/sdk' " +
  "(`http.get(url)`, `http.fetch(url, {method, headers, body})`), which needs permission `network` " +
  'and the host in `[network] allowed_hosts` of plugin.toml';

/** Calls a host import, turning its error (a host-error record) into a HostError. */
function host<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    const payload = (error as { payload?: { kind?: string; message?: string } } | null)?.payload;
    if (payload && typeof payload.kind === 'string') {
      throw new HostError(payload.kind as HostError['kind'], String(payload.message ?? ''));
    }
    throw error;
  }
}

const ttl = (ms: number | undefined): bigint | undefined => (ms === undefined ? undefined : BigInt(Math.max(0, Math.trunc(ms))));

const componentBackend: Backend = {
  log: (level, message) => log.write(level, message),
  settings: () => settings.get(),
  kvGet: (key) => host(() => kv.get(key)),
  kvSet: (key, value, ttlMs) => host(() => kv.set(key, value, ttl(ttlMs))),
  kvDelete: (key) => host(() => kv.delete(key)),
  kvListKeys: (prefix, limit) => host(() => kv.listKeys(prefix, limit)),
  kvCompareAndSet: (key, expected, next, ttlMs) => host(() => kv.compareAndSet(key, expected, next, ttl(ttlMs))),
  getConversation: (id) => conversationFromWit(host(() => chat.getConversation(id))),
  createConversation: (userId, title) => conversationFromWit(host(() => chat.createConversation(userId, title))),
  listMessages: (conversationId, limit) => host(() => chat.listMessages(conversationId, limit)).map(messageFromWit),
  postMessage: (conversationId, content) => messageFromWit(host(() => chat.postMessage(conversationId, content))),
  editMessage: (messageId, content) => messageFromWit(host(() => chat.editMessage(messageId, content))),
  deleteMessage: (messageId) => host(() => chat.deleteMessage(messageId)),
  getUser: (id) => host(() => chat.getUser(id)),
  readFile: (id) => host(() => chat.readFile(id)),
  writeFile: (conversationId, name, mediaType, data) =>
    host(() => chat.writeFile(conversationId, name, mediaType, data)),
  httpFetch: (request) => host(() => httpClient.fetch(request)),
  aiComplete: (request) => host(() => ai.complete(request)),
  callTool: (pluginId, tool, args) => host(() => plugins.callTool(pluginId, tool, args)),
  emit: (chunk) => completionSink.emit(chunk),
};

setBackend(componentBackend);

(globalThis as { fetch?: unknown }).fetch = function fetch(): never {
  throw new Error(FETCH_MESSAGE);
};
