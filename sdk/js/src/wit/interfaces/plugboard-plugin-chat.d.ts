/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/chat@0.1.0' {
  /**
   * A conversation. Needs `channels.read`.
   */
  export function getConversation(id: string): Conversation;
  /**
   * Creates a conversation owned by `user-id`. Needs `channels.write`.
   */
  export function createConversation(userId: string, title: string): Conversation;
  /**
   * The newest `limit` messages of a conversation, oldest first. Needs `messages.read`.
   */
  export function listMessages(conversationId: string, limit: number): Array<Message>;
  /**
   * Posts a message authored by this plugin. Returns the stored message. Needs `messages.write`.
   */
  export function postMessage(conversationId: string, content: string): Message;
  /**
   * Replaces the content of a message. Needs `messages.write`.
   */
  export function editMessage(messageId: string, content: string): Message;
  /**
   * Deletes a message. Needs `messages.write`.
   */
  export function deleteMessage(messageId: string): void;
  /**
   * A user. Needs `users.read`.
   */
  export function getUser(id: string): User;
  /**
   * A file attachment. Needs `files.read`.
   */
  export function readFile(id: string): File;
  /**
   * Attaches a file to a conversation and returns its id. Needs `files.write`.
   */
  export function writeFile(conversationId: string, name: string, mediaType: string, data: Uint8Array): string;
  export type HostError = import('plugboard:plugin/types@0.1.0').HostError;
  export type Message = import('plugboard:plugin/types@0.1.0').Message;
  export type Conversation = import('plugboard:plugin/types@0.1.0').Conversation;
  /**
   * A user as plugins see them.
   */
  export interface User {
    /**
     * Stable id.
     */
    id: string,
    /**
     * Name shown in the UI.
     */
    displayName: string,
    /**
     * Whether the user is an administrator.
     */
    isAdmin: boolean,
  }
  /**
   * A stored file attachment.
   */
  export interface File {
    /**
     * Stable id.
     */
    id: string,
    /**
     * The conversation it is attached to.
     */
    conversationId: string,
    /**
     * Its file name.
     */
    name: string,
    /**
     * Its media type, such as `text/plain`.
     */
    mediaType: string,
    /**
     * Its contents.
     */
    data: Uint8Array,
  }
}
