// JavaScript tagger: the example tagger (plugins/example-tagger in Rust,
// examples/python-tagger in Python) for the language benchmark. It tags prompts on their
// way to the model and replies on their way back, and counts conversations as they start
// and end in its key-value store.

import { Plugin, definePlugin, healthy, kv, log } from '@plugboard/sdk';

const STARTED = 'sessions:started';
const ENDED = 'sessions:ended';

/**
 * Adds one to the counter `key` and returns the new count. Several instances may count
 * at once: compare-and-set retries until none interfered.
 * @param {string} key
 */
function count(key) {
  for (;;) {
    const current = kv.getString(key);
    const next = (current ? Number.parseInt(current, 10) : 0) + 1;
    if (kv.compareAndSet(key, current, String(next))) return next;
  }
}

/** @param {string} key */
function read(key) {
  const value = kv.getString(key);
  return value ? Number.parseInt(value, 10) : 0;
}

export class Tagger extends Plugin {
  /** The tag added to prompts and replies (setting `tag`). */
  tag = this.settings.string('tag', 'tagged');

  /** @param {import('@plugboard/sdk').CallContext} _context @param {string} prompt */
  beforePrompt(_context, prompt) {
    return `[${this.tag}] ${prompt}`;
  }

  /** @param {import('@plugboard/sdk').CallContext} _context @param {string} response */
  afterResponse(_context, response) {
    return `${response}\n\n[${this.tag}]`;
  }

  /** @param {import('@plugboard/sdk').CallContext} _context @param {import('@plugboard/sdk').Conversation} conversation */
  onConversationStarted(_context, conversation) {
    const started = count(STARTED);
    log.info(`session ${conversation.id} started (${started} so far): ${conversation.title}`);
  }

  /** @param {import('@plugboard/sdk').CallContext} _context @param {import('@plugboard/sdk').Conversation} conversation */
  onConversationEnded(_context, conversation) {
    const ended = count(ENDED);
    log.info(`session ${conversation.id} ended (${ended} so far)`);
  }

  health() {
    return healthy(`${read(STARTED)} sessions started, ${read(ENDED)} ended`, {
      started: read(STARTED),
      ended: read(ENDED),
    });
  }
}

export default definePlugin(Tagger);
