// The types a plugin sees. Most are the ABI's own (generated from wit/v0.1.0 into ./wit by
// `jco guest-types`); the records with 64-bit times or sizes are restated with `number`
// instead of `bigint`, so they print, compare and `JSON.stringify` as plain values
// (milliseconds since 1970 fit a double until the year 287396).
/// <reference path="./wit/plugin.d.ts" />
/// <reference path="./globals.d.ts" />

import type * as Wit from 'plugboard:plugin/types@0.1.0';
import type * as Lifecycle from 'plugboard:plugin/lifecycle@0.1.0';
import type * as Exporter from 'plugboard:plugin/exporter@0.1.0';
import type * as Events from 'plugboard:plugin/events@0.1.0';
import type * as AccountEvents from 'plugboard:plugin/account-events@0.1.0';
import type * as Chat from 'plugboard:plugin/chat@0.1.0';
import type * as Log from 'plugboard:plugin/log@0.1.0';

export type CallContext = Wit.CallContext;
export type Role = Wit.Role;
export type ErrorKind = Wit.ErrorKind;
export type ToolCall = Wit.ToolCall;
export type CompletionMessage = Wit.CompletionMessage;
export type CompletionChunk = Wit.CompletionChunk;
export type FinishReason = Wit.FinishReason;
export type Usage = Wit.Usage;
export type ModelInfo = Wit.ModelInfo;
export type Hook = Lifecycle.Hook;
export type HealthStatus = Lifecycle.HealthStatus;
export type ExportFormat = Exporter.ExportFormat;
export type PluginFailure = Events.PluginFailure;
export type Account = AccountEvents.Account;
export type AccountEvent = AccountEvents.AccountEvent;
export type User = Chat.User;
export type ChatFile = Chat.File;
export type LogLevel = Log.Level;

/** A header: lower-case name and value. */
export type Header = [string, string];

/** An HTTP request as the ABI carries it (a plugin route's, or one a plugin sends). */
export type WitHttpRequest = Wit.HttpRequest;
/** An HTTP response as the ABI carries it. */
export type WitHttpResponse = Wit.HttpResponse;

/** One message of a conversation. */
export interface Message {
  /** Stable id; empty when the message is not stored yet. */
  id: string;
  /** Its conversation; empty outside one. */
  conversationId: string;
  role: Role;
  /** `user:<id>`, `assistant`, or `plugin:<plugin-id>`. */
  author: string;
  /** The text, usually Markdown. */
  content: string;
  /** Creation time, milliseconds since the Unix epoch. */
  createdAtMs: number;
}

/** A conversation. */
export interface Conversation {
  id: string;
  title: string;
  /** The user who owns it. */
  userId: string;
  /** Creation time, milliseconds since the Unix epoch. */
  createdAtMs: number;
}

/** A file attachment without its contents (events carry these). */
export interface FileInfo {
  id: string;
  conversationId: string;
  name: string;
  mediaType: string;
  /** Size in bytes. */
  size: number;
}

/** Something that happened in the server (`onEvent`). */
export type Event =
  | { tag: 'conversation-started'; val: Conversation }
  | { tag: 'conversation-ended'; val: Conversation }
  | { tag: 'message-received'; val: Message }
  | { tag: 'message-sent'; val: Message }
  | { tag: 'message-edited'; val: Message }
  | { tag: 'message-deleted'; val: Message }
  | { tag: 'plugin-loaded'; val: string }
  | { tag: 'plugin-unloaded'; val: string }
  | { tag: 'plugin-enabled'; val: string }
  | { tag: 'plugin-disabled'; val: string }
  | { tag: 'plugin-failed'; val: PluginFailure }
  | { tag: 'file-attached'; val: FileInfo }
  | { tag: 'file-deleted'; val: FileInfo };

/** A tool the model or a user can call. `parameters` is its arguments' JSON Schema. */
export interface ToolSpec {
  name: string;
  description: string;
  /** An object schema; `{type: "object"}` when omitted. */
  parameters?: Record<string, unknown>;
}

/** A request for a completion; everything but `messages` may be left out. */
export interface CompletionRequest {
  /** Empty (or left out): the host's default model. */
  model?: string;
  messages: Array<{ role: Role; content: string; toolCalls?: ToolCall[]; toolCallId?: string }>;
  tools?: Wit.ToolSpec[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
}

/** A finished completion. */
export type Completion = Wit.Completion;

/** The answer of `health`. `details` is an object (JSON-encoded for the host). */
export interface HealthReport {
  status: HealthStatus;
  message: string;
  details?: Record<string, unknown>;
}

/** One self-test result. */
export interface SelfTestResult {
  name: string;
  passed: boolean;
  message: string;
}

/** An exported file; `data` as bytes or text (sent as UTF-8). */
export interface ExportFile {
  fileName: string;
  mediaType: string;
  data: Uint8Array | string;
}
