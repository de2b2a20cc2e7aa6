/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/exporter@0.1.0' {
  /**
   * The formats this exporter writes.
   */
  export function listFormats(): Array<ExportFormat>;
  /**
   * Writes `conversation` and its `messages` (oldest first) in format `format`.
   */
  export function exportConversation(format: string, conversation: Conversation, messages: Array<Message>): ExportFile;
  export type Conversation = import('plugboard:plugin/types@0.1.0').Conversation;
  export type Message = import('plugboard:plugin/types@0.1.0').Message;
  /**
   * A format this exporter writes.
   */
  export interface ExportFormat {
    /**
     * Id, unique within the plugin, such as `markdown`.
     */
    id: string,
    /**
     * Name shown in the export menu.
     */
    displayName: string,
    /**
     * Media type of the output, such as `text/markdown`.
     */
    mediaType: string,
    /**
     * File name extension without the dot, such as `md`.
     */
    extension: string,
  }
  /**
   * An exported file.
   */
  export interface ExportFile {
    /**
     * Suggested file name.
     */
    fileName: string,
    /**
     * Media type.
     */
    mediaType: string,
    /**
     * Contents.
     */
    data: Uint8Array,
  }
}
