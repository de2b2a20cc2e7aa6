// The notes of one user: a JSON list in the key-value store under `notes:<user id>`,
// newest last, changed with compare-and-set so two instances adding at once lose nothing.

import { HostError, kv } from '@plugboard/sdk';

/** One note. */
export interface Note {
  /** Unique among the user's notes. */
  id: number;
  text: string;
  /** When it was taken, milliseconds since the Unix epoch. */
  createdAtMs: number;
  /** The conversation it was taken in, if any. */
  conversationId: string;
}

/** The longest note, in characters. */
export const MAX_NOTE_CHARS = 500;

const key = (userId: string) => `notes:${userId}`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The text of a note to take, trimmed; throws saying what is wrong with it. */
export function parseNoteText(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') throw new Error('say what to note, such as `/note buy milk`');
  const trimmed = text.trim();
  if ([...trimmed].length > MAX_NOTE_CHARS) {
    throw new Error(`a note has at most ${MAX_NOTE_CHARS} characters; this one has ${[...trimmed].length}`);
  }
  return trimmed;
}

/** Who a call is for; notes need a signed-in user. */
export function requireUser(userId: string): string {
  if (userId === '') throw new Error('notes belong to a user; this call is not made for one');
  return userId;
}

function decode(bytes: Uint8Array | undefined): Note[] {
  if (bytes === undefined) return [];
  try {
    const notes = JSON.parse(decoder.decode(bytes));
    return Array.isArray(notes) ? notes : [];
  } catch {
    return [];
  }
}

/** The user's notes, oldest first. */
export function listNotes(userId: string): Note[] {
  return decode(kv.get(key(userId)));
}

/**
 * Changes the user's notes with `change` and stores the result, retrying when another
 * instance changed them in between. Returns what `change` returned last.
 */
function update<T>(userId: string, change: (notes: Note[]) => { notes: Note[]; result: T }): T {
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = kv.get(key(userId));
    const { notes, result } = change(decode(before));
    const after = notes.length === 0 ? undefined : encoder.encode(JSON.stringify(notes));
    if (kv.compareAndSet(key(userId), before, after)) return result;
  }
  throw new HostError('limit-exceeded', 'the notes kept changing while this one was saved; try again');
}

/** Adds a note, dropping the oldest beyond `maxNotes`. */
export function addNote(userId: string, text: string, conversationId: string, maxNotes: number, nowMs: number): Note {
  return update(userId, (notes) => {
    const note: Note = {
      id: notes.reduce((highest, n) => Math.max(highest, n.id), 0) + 1,
      text: parseNoteText(text),
      createdAtMs: nowMs,
      conversationId,
    };
    return { notes: [...notes, note].slice(-maxNotes), result: note };
  });
}

/** Deletes note `id`; returns whether it existed. */
export function deleteNote(userId: string, id: number): boolean {
  return update(userId, (notes) => {
    const kept = notes.filter((note) => note.id !== id);
    return { notes: kept, result: kept.length !== notes.length };
  });
}

/** Forgets every note of the user. */
export function forgetUser(userId: string): void {
  kv.delete(key(userId));
}

/** The notes as a Markdown list, newest first, or a sentence when there are none. */
export function formatNotes(notes: Note[], search = ''): string {
  const wanted = search.trim().toLowerCase();
  const shown = notes.filter((note) => note.text.toLowerCase().includes(wanted)).reverse();
  if (shown.length === 0) return wanted === '' ? 'You have no notes yet; add one with `/note <text>`.' : `No note contains "${search.trim()}".`;
  return shown.map((note) => `- ${note.text} (#${note.id})`).join('\n');
}
