// The seam between the SDK's services and whatever serves them: the Plugboard host in a
// component (./component.ts installs it), or a FakeHost in a test (./testing). The calls
// mirror the ABI's imports in the SDK's types; a failure is thrown as a HostError.

import { HostError } from './errors.ts';
import type {
  Completion,
  CompletionChunk,
  Conversation,
  ChatFile,
  LogLevel,
  Message,
  User,
  WitHttpRequest,
  WitHttpResponse,
} from './types.ts';
import type * as Wit from 'plugboard:plugin/types@0.1.0';

export interface Backend {
  log(level: LogLevel, message: string): void;
  settings(): string;
  kvGet(key: string): Uint8Array | undefined;
  kvSet(key: string, value: Uint8Array, ttlMs: number | undefined): void;
  kvDelete(key: string): boolean;
  kvListKeys(prefix: string, limit: number): string[];
  kvCompareAndSet(
    key: string,
    expected: Uint8Array | undefined,
    next: Uint8Array | undefined,
    ttlMs: number | undefined,
  ): boolean;
  getConversation(id: string): Conversation;
  createConversation(userId: string, title: string): Conversation;
  listMessages(conversationId: string, limit: number): Message[];
  postMessage(conversationId: string, content: string): Message;
  editMessage(messageId: string, content: string): Message;
  deleteMessage(messageId: string): void;
  getUser(id: string): User;
  readFile(id: string): ChatFile;
  writeFile(conversationId: string, name: string, mediaType: string, data: Uint8Array): string;
  httpFetch(request: WitHttpRequest): WitHttpResponse;
  aiComplete(request: Wit.CompletionRequest): Completion;
  callTool(pluginId: string, tool: string, arguments_: string): string;
  emit(chunk: CompletionChunk): boolean;
}

let current: Backend | undefined;

/** Makes `backend` serve the host calls of this module graph; returns the one before. */
export function setBackend(backend: Backend | undefined): Backend | undefined {
  const previous = current;
  current = backend;
  return previous;
}

/** What a host call says when nothing serves it: plain Node.js with no FakeHost installed. */
export function notInstalled(call: string): string {
  return (
    `\`${call}\` needs the Plugboard host, and this is plain Node.js (a test) with no fake host installed; ` +
    "install one at the start of the test: `const host = new FakeHost().install();` " +
    "(import { FakeHost } from '@plugboard/sdk/testing')"
  );
}

/** The backend serving host calls, or a HostError naming `call` when there is none. */
export function backend(call: string): Backend {
  if (current === undefined) throw new HostError('unavailable', notInstalled(call));
  return current;
}
