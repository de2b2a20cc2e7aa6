// The notes plugin against the SDK's fake host: tools, commands, routes and the
// account event, each as the host would call it.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FakeHost, type InstalledHost, context } from '@plugboard/sdk/testing';
import plugin, { Notes } from '../src/plugin.ts';
import { MAX_NOTE_CHARS, formatNotes } from '../src/notes.ts';

let host: InstalledHost | undefined;
afterEach(() => host?.uninstall());

const ada = context('ada', 'c1');
const bob = context('bob', 'c2');
const request = (method: string, uri: string, body?: unknown) => ({
  method,
  uri,
  headers: [] as Array<[string, string]>,
  body: body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body)),
});
const json = (response: { body: Uint8Array }) => JSON.parse(new TextDecoder().decode(response.body));

test('the tools keep notes per user and list them newest first', () => {
  host = new FakeHost().permissions(['kv']).install();
  const notes = host.init(Notes);

  assert.deepEqual(notes.callTool(ada, 'add_note', { text: ' buy milk ' }), { noted: 'buy milk', id: 1 });
  notes.callTool(ada, 'add_note', { input: 'call Bob' });
  notes.callTool(bob, 'add_note', { text: 'secret' });

  const listed = notes.callTool(ada, 'list_notes', {}) as Array<{ text: string }>;
  assert.deepEqual(listed.map((note) => note.text), ['call Bob', 'buy milk']);
  const found = notes.callTool(ada, 'list_notes', { search: 'MILK' }) as Array<{ text: string }>;
  assert.deepEqual(found.map((note) => note.text), ['buy milk']);
  assert.deepEqual(host.kvKeys(), ['notes:ada', 'notes:bob']);
});

test('commands take and show notes; a search that finds none says so', () => {
  host = new FakeHost().permissions(['kv']).install();
  const notes = host.init(Notes);

  assert.equal(notes.runCommand(ada, 'notes', ''), 'You have no notes yet; add one with `/note <text>`.');
  assert.equal(notes.runCommand(ada, 'note', 'water the plants'), 'Noted (#1).');
  assert.equal(notes.runCommand(ada, 'notes', ''), '- water the plants (#1)');
  assert.equal(notes.runCommand(ada, 'notes', 'cat'), 'No note contains "cat".');
  assert.throws(() => notes.runCommand(ada, 'note', '   '), /say what to note/);
  assert.throws(() => notes.runCommand(ada, 'note', 'x'.repeat(MAX_NOTE_CHARS + 1)), /at most 500 characters/);
  assert.throws(() => notes.runCommand(context('', 'c1'), 'notes', ''), /not made for one/);
});

test('only the newest max_notes notes are kept', () => {
  host = new FakeHost().permissions(['kv']).setting('max_notes', 2).install();
  const notes = host.init(Notes);
  for (const text of ['one', 'two', 'three']) notes.runCommand(ada, 'note', text);
  assert.equal(notes.runCommand(ada, 'notes', ''), '- three (#3)\n- two (#2)');
});

test('two instances of the plugin add to the same list', () => {
  host = new FakeHost().permissions(['kv']).install();
  const first = host.init(Notes);
  const second = host.init(Notes);
  first.runCommand(ada, 'note', 'from the first');
  second.runCommand(ada, 'note', 'from the second');
  assert.deepEqual(host.kvJson<Array<{ id: number }>>('notes:ada')?.map((note) => note.id), [1, 2]);
});

test('the routes the widget uses list, add and delete the caller’s notes', () => {
  host = new FakeHost().permissions(['kv']).install();
  plugin.lifecycle.init('{"max_notes": 50}');

  const added = plugin.httpHandler.handle(ada, request('POST', '/notes', { text: 'from the widget' }));
  assert.equal(added.status, 201);
  assert.equal(json(added).text, 'from the widget');
  const listed = plugin.httpHandler.handle(ada, request('GET', '/notes'));
  assert.deepEqual(json(listed).notes.map((note: { text: string }) => note.text), ['from the widget']);
  assert.equal(json(plugin.httpHandler.handle(bob, request('GET', '/notes'))).notes.length, 0);

  assert.equal(plugin.httpHandler.handle(bob, request('DELETE', '/notes/1')).status, 404);
  assert.equal(plugin.httpHandler.handle(ada, request('DELETE', '/notes/1')).status, 200);
  assert.equal(host.kv('notes:ada'), undefined);

  assert.equal(plugin.httpHandler.handle(ada, request('POST', '/notes', { text: '' })).status, 400);
  assert.equal(plugin.httpHandler.handle(context('', ''), request('GET', '/notes')).status, 401);
  assert.equal(plugin.httpHandler.handle(ada, request('PUT', '/elsewhere')).status, 404);
});

test("a deleted user's notes are forgotten", () => {
  host = new FakeHost().permissions(['kv']).install();
  plugin.lifecycle.init('{}');
  plugin.commands.runCommand(ada, 'note', 'mine');
  plugin.accountEvents.onAccountEvent(context('ada'), { tag: 'user-deleted', val: { id: 'ada', username: 'ada' } });
  assert.deepEqual(host.kvKeys(), []);
  assert.ok(host.logged('info', 'forgot the notes of deleted user ada'));
});

test('the component implements tools, commands, routes and events, and passes its self-test', () => {
  host = new FakeHost().permissions(['kv']).install();
  assert.throws(() => plugin.lifecycle.init('{"max_notes": 0}'), (error) => error === '`max_notes` must be a whole number of at least 1');
  plugin.lifecycle.init('{"max_notes": 50}');
  assert.deepEqual(plugin.lifecycle.implementedHooks(), [
    'shutdown', 'on-enable', 'on-disable', 'health', 'self-test', 'events', 'tools', 'http', 'commands',
  ]);
  assert.ok(plugin.lifecycle.selfTest().every((result) => result.passed));
  assert.equal(plugin.lifecycle.health().details, '{"max_notes":50}');
  assert.equal(formatNotes([]), 'You have no notes yet; add one with `/note <text>`.');
});
