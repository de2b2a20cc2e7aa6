// The host services against the fake host: permissions, kv limits and expiry, outbound
// HTTP only to allowed hosts, scripted model and tool answers, chat data per user.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { HostError, ai, chat, completion, http, kv, log, plugins, settings } from '@plugboard/sdk';
import { FakeHost, type InstalledHost } from '@plugboard/sdk/testing';

let host: InstalledHost | undefined;
afterEach(() => host?.uninstall());

const hostError = (kind: string, text: string) => (error: unknown) =>
  error instanceof HostError && error.kind === kind && error.message.includes(text);

test('without a fake host a service says to install one', () => {
  assert.throws(() => kv.get('x'), hostError('unavailable', 'new FakeHost().install()'));
});

test('kv stores bytes, text and JSON, expires keys on the clock and swaps atomically', () => {
  host = new FakeHost().install();
  kv.set('a', 'text');
  kv.setJson('b', { n: 1 });
  kv.set('c', new Uint8Array([1, 2]), { ttlMs: 1000 });
  assert.equal(kv.getString('a'), 'text');
  assert.deepEqual(kv.getJson('b'), { n: 1 });
  assert.deepEqual(kv.listKeys(), ['a', 'b', 'c']);
  host.advance(1000);
  assert.equal(kv.get('c'), undefined);
  assert.equal(kv.compareAndSet('a', 'wrong', 'new'), false);
  assert.equal(kv.compareAndSet('a', 'text', 'new'), true);
  assert.equal(kv.compareAndSet('z', undefined, 'first'), true);
  assert.equal(kv.delete('z'), true);
  assert.equal(kv.delete('z'), false);
  assert.equal(host.kvString('a'), 'new');
  assert.throws(() => kv.getJson('a'), hostError('invalid-input', 'is not JSON'));
  assert.throws(() => kv.set('', 'x'), hostError('invalid-input', 'kv keys are 1 to 512 bytes'));
  assert.throws(() => kv.set('big', new Uint8Array((1 << 20) + 1)), hostError('limit-exceeded', 'at most'));
});

test('services refuse what plugin.toml does not grant, naming the permission', () => {
  host = new FakeHost().permissions(['kv']).install();
  kv.set('ok', 'x');
  assert.throws(() => http.get('https://api.example.org/'), hostError('permission-denied', 'needs permission `network`'));
  assert.throws(() => ai.ask('hi'), hostError('permission-denied', 'needs permission `ai`'));
  assert.throws(() => chat.getConversation('c1'), hostError('permission-denied', '`channels.read`'));
});

test('http answers scripted responses for allowed hosts only, and records requests', () => {
  host = new FakeHost()
    .allowedHost('api.example.org')
    .httpResponse('https://api.example.org/now', { status: 200, body: { temp: 21 } })
    .httpResponse('https://api.example.org/now', { status: 201, body: 'created' }, 'POST')
    .httpError('https://api.example.org/down', 'timeout', 'took too long')
    .install();
  const response = http.get('https://api.example.org/now', { headers: { Accept: 'application/json' } });
  assert.ok(response.ok);
  assert.deepEqual(response.json(), { temp: 21 });
  assert.equal(response.header('Content-Type'), 'application/json');
  const posted = http.post('https://api.example.org/now', { a: 1 });
  assert.equal(posted.status, 201);
  assert.equal(posted.text(), 'created');
  assert.throws(() => http.get('https://api.example.org/down'), hostError('timeout', 'took too long'));
  assert.throws(() => http.get('https://evil.example.com/'), hostError('permission-denied', 'may not reach `evil.example.com`'));
  assert.throws(() => http.get('https://api.example.org:8443/'), hostError('permission-denied', 'add `api.example.org:8443`'));
  assert.throws(() => http.get('https://api.example.org/other'), hostError('unavailable', 'gave no response'));
  const sent = host.httpRequests();
  assert.deepEqual(sent.map((r) => r.method), ['GET', 'POST', 'GET', 'GET']);
  assert.deepEqual(sent[0].headers, [['accept', 'application/json']]);
  assert.deepEqual(sent[1].headers, [['content-type', 'application/json']]);
  assert.equal(new TextDecoder().decode(sent[1].body), '{"a":1}');
});

test('ai answers in order, the last repeating, and records requests', () => {
  host = new FakeHost().aiAnswer('one').aiAnswer('two').install();
  assert.equal(ai.ask('first?'), 'one');
  assert.equal(ai.complete({ messages: [{ role: 'user', content: 'second?' }], maxTokens: 5 }).content, 'two');
  assert.equal(ai.ask('third?'), 'two');
  const [first, second] = host.aiRequests();
  assert.equal(first.model, '');
  assert.deepEqual(first.messages, [{ role: 'user', content: 'first?', toolCalls: [], toolCallId: '' }]);
  assert.equal(second.maxTokens, 5);
});

test('other plugins: only scripted dependencies can be called', () => {
  host = new FakeHost().toolResult('calculator', 'evaluate', '4').toolError('calculator', 'fail', 'bad input').install();
  assert.equal(plugins.callTool('calculator', 'evaluate', { expression: '2+2' }), '4');
  assert.throws(() => plugins.callTool('calculator', 'fail'), hostError('invalid-input', 'bad input'));
  assert.throws(() => plugins.callTool('weather', 'now'), hostError('permission-denied', '`[dependencies]`'));
  assert.deepEqual(host.toolCalls()[0], { plugin: 'calculator', tool: 'evaluate', arguments: { expression: '2+2' } });
});

test("chat: a plugin acting for a user sees only their data and edits only its own messages", () => {
  host = new FakeHost()
    .pluginId('notes')
    .user('ada', 'Ada')
    .conversation('c1', 'ada', 'Mine')
    .conversation('c2', 'bob', 'Theirs')
    .message('c1', 'user', 'user:ada', 'hello')
    .actingUser('ada')
    .install();
  assert.equal(chat.getConversation('c1').title, 'Mine');
  assert.throws(() => chat.getConversation('c2'), hostError('not-found', 'no conversation `c2`'));
  const [first] = chat.listMessages('c1');
  assert.equal(first.createdAtMs, host.nowMs());
  const posted = chat.postMessage('c1', 'noted');
  assert.equal(posted.author, 'plugin:notes');
  assert.equal(chat.editMessage(posted.id, 'edited').content, 'edited');
  assert.throws(() => chat.editMessage(first.id, 'x'), hostError('permission-denied', 'only its own messages'));
  const file = chat.writeFile('c1', 'a.txt', 'text/plain', 'abc');
  assert.equal(new TextDecoder().decode(chat.readFile(file).data), 'abc');
  assert.equal(chat.createConversation('ada', 'New').userId, 'ada');
  assert.deepEqual(host.posted().map((m) => m.content), ['noted']);
  assert.deepEqual(host.messages('c1').map((m) => m.content), ['hello', 'edited']);
});

test('log, settings and completion streaming are recorded', () => {
  host = new FakeHost().setting('city', 'Bergen').clientLeavesAfter(1).install();
  log.info('words', { n: 3 });
  assert.deepEqual(host.logs(), [{ level: 'info', message: 'words {"n":3}' }]);
  assert.equal(settings.current().string('city', 'Oslo'), 'Bergen');
  assert.equal(completion.emitText('a'), true);
  assert.equal(completion.emitText('b'), false);
  assert.deepEqual(host.emitted(), [{ tag: 'delta', val: 'a' }]);
});
