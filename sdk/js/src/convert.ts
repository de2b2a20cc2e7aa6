// Conversions between the ABI's records (64-bit fields as bigint) and the SDK's (number).

import type * as Wit from 'plugboard:plugin/types@0.1.0';
import type * as Events from 'plugboard:plugin/events@0.1.0';
import type { Conversation, Event, FileInfo, Message } from './types.ts';

export const messageFromWit = (message: Wit.Message): Message => ({
  ...message,
  createdAtMs: Number(message.createdAtMs),
});

export const messageToWit = (message: Message): Wit.Message => ({
  ...message,
  createdAtMs: BigInt(Math.trunc(message.createdAtMs)),
});

export const conversationFromWit = (conversation: Wit.Conversation): Conversation => ({
  ...conversation,
  createdAtMs: Number(conversation.createdAtMs),
});

export const conversationToWit = (conversation: Conversation): Wit.Conversation => ({
  ...conversation,
  createdAtMs: BigInt(Math.trunc(conversation.createdAtMs)),
});

const fileFromWit = (file: Events.FileInfo): FileInfo => ({ ...file, size: Number(file.size) });

export function eventFromWit(event: Events.Event): Event {
  switch (event.tag) {
    case 'conversation-started':
    case 'conversation-ended':
      return { tag: event.tag, val: conversationFromWit(event.val) };
    case 'message-received':
    case 'message-sent':
    case 'message-edited':
    case 'message-deleted':
      return { tag: event.tag, val: messageFromWit(event.val) };
    case 'file-attached':
    case 'file-deleted':
      return { tag: event.tag, val: fileFromWit(event.val) };
    default:
      return event;
  }
}
