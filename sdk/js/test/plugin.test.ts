// definePlugin: the hooks a class implements, and what each hook's export hands the host.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  type CallContext,
  type Message,
  HttpRequest,
  HttpResponse,
  Plugin,
  Reject,
  definePlugin,
  implementedHooks,
  kv,
} from '@plugboard/sdk';
import { FakeHost, type InstalledHost, context } from '@plugboard/sdk/testing';

let host: InstalledHost | undefined;
afterEach(() => host?.uninstall());

const ctx = context('ada', 'c1');

class Quiet extends Plugin {}

class Filter extends Plugin {
  override beforePrompt(_context: CallContext, prompt: string): string | undefined {
    if (prompt.includes('secret')) throw new Reject('no secrets here');
    if (prompt.startsWith('!')) return prompt.slice(1).toUpperCase();
    return undefined;
  }
  override async afterResponse(_context: CallContext, response: string): Promise<string | undefined> {
    return response.replace('colour', 'color');
  }
  override onMessageReceived(_context: CallContext, message: Message): void {
    kv.setJson(`seen:${message.id}`, message);
  }
}

class Tools extends Plugin {
  override tools() {
    return [{ name: 'add', description: 'Adds', parameters: { type: 'object', properties: { a: { type: 'number' } } } }];
  }
  override callTool(_context: CallContext, name: string, args: Record<string, unknown>) {
    if (name === 'add') return { sum: Number(args.a) + Number(args.b) };
    if (name === 'host') return kv.getString('k') ?? 'none';
    if (name === 'text') return 'plain';
    throw new Error(`unknown tool \`${name}\``);
  }
  override runCommand(): string {
    throw 'a thrown string';
  }
  override handleHttp(_context: CallContext, request: HttpRequest) {
    if (request.path === '/echo') return HttpResponse.json(200, { query: request.query.get('q'), body: request.json() });
    return { status: 418, body: 'teapot' };
  }
}

class Picky extends Plugin {
  override init(): void {
    if (this.settings.number('limit', 0) < 1) throw new Error('`limit` must be at least 1');
  }
  override health() {
    return { status: 'degraded' as const, message: 'slow', details: { limit: this.settings.get('limit') } };
  }
}

test('a plugin that overrides nothing implements only the always-delivered hooks', () => {
  assert.deepEqual(implementedHooks(Quiet), ['shutdown', 'on-enable', 'on-disable']);
});

test('the hooks list follows the methods a class overrides, finer event methods included', () => {
  assert.deepEqual(implementedHooks(Filter), [
    'shutdown', 'on-enable', 'on-disable', 'before-prompt', 'after-response', 'events',
  ]);
  assert.deepEqual(implementedHooks(Tools), ['shutdown', 'on-enable', 'on-disable', 'tools', 'http', 'commands']);
  class Sub extends Tools {}
  assert.deepEqual(implementedHooks(Sub), implementedHooks(Tools));
});

test('definePlugin refuses what is not a Plugin class', () => {
  assert.throws(() => definePlugin(class {} as never), /extends Plugin/);
});

test('filters keep, rewrite and reject', async () => {
  host = new FakeHost().install();
  const exports = definePlugin(Filter);
  exports.lifecycle.init('{}');
  assert.deepEqual(exports.filters.beforePrompt(ctx, 'hello'), { tag: 'keep' });
  assert.deepEqual(exports.filters.beforePrompt(ctx, '!hi'), { tag: 'rewrite', val: 'HI' });
  assert.deepEqual(exports.filters.beforePrompt(ctx, 'my secret'), { tag: 'reject', val: 'no secrets here' });
  assert.deepEqual(await exports.filters.afterResponse(ctx, 'colour'), { tag: 'rewrite', val: 'color' });
  // Filters it does not implement keep everything.
  assert.deepEqual(exports.events.messageWillBePosted(ctx, { id: 'm', conversationId: 'c1', role: 'user', author: 'user:ada', content: 'x', createdAtMs: 1n }), { tag: 'keep' });
});

test('events arrive at the finer methods with numbers for times', () => {
  host = new FakeHost().install();
  const exports = definePlugin(Filter);
  exports.lifecycle.init('{}');
  const message = { id: 'm1', conversationId: 'c1', role: 'user' as const, author: 'user:ada', content: 'hi', createdAtMs: 1767225600000n };
  exports.events.onEvent(ctx, { tag: 'message-received', val: message });
  assert.deepEqual(host.kvJson('seen:m1'), { ...message, createdAtMs: 1767225600000 });
});

test('tools get parsed arguments; objects are returned as JSON, errors as their message', () => {
  host = new FakeHost().kv('k', 'stored').install();
  const exports = definePlugin(Tools);
  exports.lifecycle.init('{}');
  assert.deepEqual(exports.tools.listTools(), [
    { name: 'add', description: 'Adds', parametersSchema: '{"type":"object","properties":{"a":{"type":"number"}}}' },
  ]);
  assert.equal(exports.tools.callTool(ctx, 'add', '{"a": 2, "b": 3}'), '{"sum":5}');
  assert.equal(exports.tools.callTool(ctx, 'text', '{}'), 'plain');
  assert.equal(exports.tools.callTool(ctx, 'host', '{}'), 'stored');
  assert.throws(() => exports.tools.callTool(ctx, 'nope', '{}'), (error) => error === 'unknown tool `nope`');
  assert.throws(() => exports.tools.callTool(ctx, 'add', '{'), (error) => typeof error === 'string' && error.startsWith('the arguments are not valid JSON'));
  assert.throws(() => exports.commands.runCommand(ctx, 'x', ''), (error) => error === 'a thrown string');
});

test("a host error thrown out of a tool reaches the host as the host's message", () => {
  host = new FakeHost().permissions([]).install();
  const exports = definePlugin(Tools);
  exports.lifecycle.init('{}');
  assert.throws(() => exports.tools.callTool(ctx, 'host', '{}'), (error) => typeof error === 'string' && error.includes('needs permission `kv`'));
});

test('routes answer with responses or plain objects', () => {
  host = new FakeHost().install();
  const exports = definePlugin(Tools);
  exports.lifecycle.init('{}');
  const body = new TextEncoder().encode('{"x": 1}');
  const answer = exports.httpHandler.handle(ctx, { method: 'POST', uri: '/echo?q=a%20b', headers: [], body });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.headers, [['content-type', 'application/json']]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(answer.body)), { query: 'a b', body: { x: 1 } });
  const other = exports.httpHandler.handle(ctx, { method: 'GET', uri: '/', headers: [], body: new Uint8Array() });
  assert.equal(other.status, 418);
  assert.equal(new TextDecoder().decode(other.body), 'teapot');
});

test('init refuses bad settings with the reason, and health details are JSON', () => {
  host = new FakeHost().install();
  const exports = definePlugin(Picky);
  assert.throws(() => exports.lifecycle.init('{"limit": 0}'), (error) => error === '`limit` must be at least 1');
  assert.throws(() => exports.lifecycle.init('[1]'), (error) => error === 'the host sent settings that are not a JSON object');
  assert.throws(() => exports.lifecycle.health(), /before `init` succeeded/);
  exports.lifecycle.init('{"limit": 3}');
  assert.deepEqual(exports.lifecycle.health(), { status: 'degraded', message: 'slow', details: '{"limit":3}' });
});

test('a hook without an error channel logs what it threw before failing', () => {
  class Broken extends Plugin {
    override streamChunk(): string {
      throw new Error('boom');
    }
  }
  host = new FakeHost().install();
  const exports = definePlugin(Broken);
  exports.lifecycle.init('{}');
  assert.throws(() => exports.filters.streamChunk(ctx, 'x'), /boom/);
  assert.ok(host.logged('error', 'hook `stream-chunk` failed: Error: boom'));
});

test('request filters keep, add headers, or refuse', () => {
  class Gate extends Plugin {
    override beforeRequest(_context: CallContext, request: HttpRequest) {
      if (request.header('x-block')) return HttpResponse.text(403, 'blocked');
      request.headers.push(['x-seen', '1']);
      return request;
    }
  }
  host = new FakeHost().install();
  const exports = definePlugin(Gate);
  exports.lifecycle.init('{}');
  const request = { method: 'GET', uri: '/api/x', headers: [['x-block', '1']] as Array<[string, string]>, body: new Uint8Array() };
  const refused = exports.filters.beforeRequest(ctx, request);
  assert.equal(refused.tag, 'respond');
  const passed = exports.filters.beforeRequest(ctx, { ...request, headers: [] });
  assert.deepEqual(passed.tag === 'rewrite' && passed.val.headers, [['x-seen', '1']]);
});
