/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/events@0.1.0' {
  /**
   * Receives an event. Events are notifications: the plugin cannot change them.
   */
  export function onEvent(context: CallContext, event: Event): void;
  /**
   * Sees a message before it is stored. May rewrite its content or reject it.
   */
  export function messageWillBePosted(context: CallContext, message: Message): FilterOutcome;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
  export type Conversation = import('plugboard:plugin/types@0.1.0').Conversation;
  export type Message = import('plugboard:plugin/types@0.1.0').Message;
  export type FilterOutcome = import('plugboard:plugin/types@0.1.0').FilterOutcome;
  /**
   * A file attachment, without its contents (read them with `chat.read-file`).
   */
  export interface FileInfo {
    /**
     * Id.
     */
    id: string,
    /**
     * Its conversation.
     */
    conversationId: string,
    /**
     * File name.
     */
    name: string,
    /**
     * Media type.
     */
    mediaType: string,
    /**
     * Size in bytes.
     */
    size: bigint,
  }
  /**
   * A plugin that failed to load or reload.
   */
  export interface PluginFailure {
    /**
     * Its id, or its folder's name when its manifest could not be read.
     */
    plugin: string,
    /**
     * What went wrong.
     */
    error: string,
  }
  /**
   * Something that happened in the server.
   */
  export type Event = EventConversationStarted | EventConversationEnded | EventMessageReceived | EventMessageSent | EventMessageEdited | EventMessageDeleted | EventPluginLoaded | EventPluginUnloaded | EventPluginEnabled | EventPluginDisabled | EventPluginFailed | EventFileAttached | EventFileDeleted;
  /**
   * A conversation was created.
   */
  export interface EventConversationStarted {
    tag: 'conversation-started',
    val: Conversation,
  }
  /**
   * A conversation was deleted.
   */
  export interface EventConversationEnded {
    tag: 'conversation-ended',
    val: Conversation,
  }
  /**
   * A user's message was received and stored.
   */
  export interface EventMessageReceived {
    tag: 'message-received',
    val: Message,
  }
  /**
   * A reply (from the model or a plugin) was stored and sent.
   */
  export interface EventMessageSent {
    tag: 'message-sent',
    val: Message,
  }
  /**
   * A message was edited; this is its new state.
   */
  export interface EventMessageEdited {
    tag: 'message-edited',
    val: Message,
  }
  /**
   * A message was deleted; this is its last state.
   */
  export interface EventMessageDeleted {
    tag: 'message-deleted',
    val: Message,
  }
  /**
   * A plugin finished loading; its id.
   */
  export interface EventPluginLoaded {
    tag: 'plugin-loaded',
    val: string,
  }
  /**
   * A plugin was unloaded; its id.
   */
  export interface EventPluginUnloaded {
    tag: 'plugin-unloaded',
    val: string,
  }
  /**
   * An operator enabled a plugin; its id.
   */
  export interface EventPluginEnabled {
    tag: 'plugin-enabled',
    val: string,
  }
  /**
   * A plugin was disabled, by an operator or by its circuit breaker; its id.
   */
  export interface EventPluginDisabled {
    tag: 'plugin-disabled',
    val: string,
  }
  /**
   * A plugin failed to load or reload.
   */
  export interface EventPluginFailed {
    tag: 'plugin-failed',
    val: PluginFailure,
  }
  /**
   * A file was attached to a conversation.
   */
  export interface EventFileAttached {
    tag: 'file-attached',
    val: FileInfo,
  }
  /**
   * A file attachment was deleted; this is its last state.
   */
  export interface EventFileDeleted {
    tag: 'file-deleted',
    val: FileInfo,
  }
}
