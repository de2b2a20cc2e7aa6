// Notes: a TypeScript example plugin. Each user keeps short notes in the plugin's
// key-value store. Models take and read them with the `add_note` and `list_notes` tools,
// people with `/note <text>` and `/notes`, and the sidebar widget (ui/notes.html) shows
// them through the plugin's HTTP routes.

import {
  type Account,
  type CallContext,
  type HealthReport,
  HttpRequest,
  HttpResponse,
  Plugin,
  type SelfTestResult,
  type ToolArguments,
  type ToolSpec,
  check,
  definePlugin,
  healthy,
  log,
} from '@plugboard/sdk';
import { MAX_NOTE_CHARS, addNote, deleteNote, forgetUser, formatNotes, listNotes, parseNoteText, requireUser } from './notes.ts';

export class Notes extends Plugin {
  /** The most notes each user keeps (setting `max_notes`). */
  readonly maxNotes = this.settings.number('max_notes', 50);

  override init(): void {
    if (!Number.isInteger(this.maxNotes) || this.maxNotes < 1) throw new Error('`max_notes` must be a whole number of at least 1');
  }

  override tools(): ToolSpec[] {
    return [
      {
        name: 'add_note',
        description: 'Keeps a short note for the user, to read again later',
        parameters: {
          type: 'object',
          properties: { text: { type: 'string', description: 'What to note', maxLength: MAX_NOTE_CHARS } },
          required: ['text'],
        },
      },
      {
        name: 'list_notes',
        description: "Lists the user's notes, newest first, optionally only those containing a word",
        parameters: { type: 'object', properties: { search: { type: 'string', description: 'A word the notes contain' } } },
      },
    ];
  }

  override callTool(context: CallContext, name: string, args: ToolArguments) {
    const userId = requireUser(context.userId);
    switch (name) {
      case 'add_note': {
        // `/run ts-widget <text>` sends {"input": "<text>"} to the first tool.
        const note = addNote(userId, String(args.text ?? args.input ?? ''), context.conversationId, this.maxNotes, Date.now());
        return { noted: note.text, id: note.id };
      }
      case 'list_notes':
        return listNotes(userId)
          .filter((note) => note.text.toLowerCase().includes(String(args.search ?? '').toLowerCase()))
          .reverse();
      default:
        throw new Error(`unknown tool \`${name}\`; this plugin has \`add_note\` and \`list_notes\``);
    }
  }

  override runCommand(context: CallContext, name: string, args: string): string {
    const userId = requireUser(context.userId);
    if (name === 'note') {
      const note = addNote(userId, args, context.conversationId, this.maxNotes, Date.now());
      return `Noted (#${note.id}).`;
    }
    if (name === 'notes') return formatNotes(listNotes(userId), args);
    throw new Error(`unknown command \`/${name}\``);
  }

  override handleHttp(context: CallContext, request: HttpRequest): HttpResponse {
    if (context.userId === '') return HttpResponse.json(401, { message: 'sign in to use notes' });
    const userId = context.userId;
    if (request.path === '/notes' && request.method === 'GET') {
      return HttpResponse.json(200, { notes: listNotes(userId).reverse(), max_notes: this.maxNotes });
    }
    if (request.path === '/notes' && request.method === 'POST') {
      let text: string;
      try {
        text = parseNoteText(request.json<{ text?: unknown }>().text);
      } catch (error) {
        return HttpResponse.json(400, { message: (error as Error).message });
      }
      return HttpResponse.json(201, addNote(userId, text, '', this.maxNotes, Date.now()));
    }
    const match = /^\/notes\/(\d+)$/.exec(request.path);
    if (match && request.method === 'DELETE') {
      return deleteNote(userId, Number(match[1]))
        ? HttpResponse.json(200, { deleted: Number(match[1]) })
        : HttpResponse.json(404, { message: `no note #${match[1]}` });
    }
    return HttpResponse.json(404, { message: `no route ${request.method} ${request.path}` });
  }

  override onUserDeleted(_context: CallContext, account: Account): void {
    forgetUser(account.id);
    log.info(`forgot the notes of deleted user ${account.id}`);
  }

  override health(): HealthReport {
    return healthy('ready', { max_notes: this.maxNotes });
  }

  override selfTest(): SelfTestResult[] {
    const refuses = (text: unknown) => {
      try {
        parseNoteText(text);
        return false;
      } catch {
        return true;
      }
    };
    return [
      check('trims a note', parseNoteText('  milk ') === 'milk', 'surrounding spaces are dropped'),
      check('refuses an empty note', refuses('  '), 'an empty note is an error'),
      check('refuses a long note', refuses('x'.repeat(MAX_NOTE_CHARS + 1)), `more than ${MAX_NOTE_CHARS} characters is an error`),
      check('lists newest first', formatNotes([
        { id: 1, text: 'a', createdAtMs: 0, conversationId: '' },
        { id: 2, text: 'b', createdAtMs: 0, conversationId: '' },
      ]) === '- b (#2)\n- a (#1)', 'the newest note comes first'),
    ];
  }
}

export default definePlugin(Notes);
