// HTTP requests and responses: those of a plugin's routes (`handleHttp`), of request
// filters, and of outbound `http.fetch`.

import type { Header, WitHttpRequest, WitHttpResponse } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Headers as a plugin may give them: pairs, or an object of name to value. */
export type HeadersInit = Header[] | Record<string, string>;

/** A body as a plugin may give it: bytes, text (UTF-8), or anything else (sent as JSON). */
export type BodyInit = Uint8Array | string | null | undefined | object | number | boolean;

export function toHeaderList(headers: HeadersInit | undefined): Header[] {
  if (headers === undefined) return [];
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return pairs.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
}

/** Bytes of a body, and the content type it implies when the caller gave none. */
export function toBody(body: BodyInit): { bytes: Uint8Array; contentType?: string } {
  if (body === undefined || body === null) return { bytes: new Uint8Array() };
  if (body instanceof Uint8Array) return { bytes: body };
  if (typeof body === 'string') return { bytes: encoder.encode(body), contentType: 'text/plain; charset=utf-8' };
  return { bytes: encoder.encode(JSON.stringify(body)), contentType: 'application/json' };
}

function findHeader(headers: Header[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headers.find(([key]) => key.toLowerCase() === wanted)?.[1];
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  const text = decoder.decode(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not JSON: ${(error as Error).message}`);
  }
}

/** An HTTP request: one arriving at a plugin route, or one a request filter sees. */
export class HttpRequest {
  /** `GET`, `POST`, ... in upper case. */
  method: string;
  /** The path below the plugin's mount point with the query (`/notes?limit=5`), or for a filter the path from the server root. */
  uri: string;
  /** Header pairs, names in lower case. The host removes credentials first. */
  headers: Header[];
  /** The body, possibly empty. */
  body: Uint8Array;

  constructor(request: WitHttpRequest) {
    this.method = request.method;
    this.uri = request.uri;
    this.headers = request.headers.map(([name, value]) => [name, value]);
    this.body = request.body;
  }

  /** The path without the query. */
  get path(): string {
    const end = this.uri.search(/[?#]/);
    return end < 0 ? this.uri : this.uri.slice(0, end);
  }

  /** The query parameters. */
  get query(): URLSearchParams {
    const start = this.uri.indexOf('?');
    return new URLSearchParams(start < 0 ? '' : this.uri.slice(start + 1).split('#')[0]);
  }

  /** The first header called `name` (case-insensitive). */
  header(name: string): string | undefined {
    return findHeader(this.headers, name);
  }

  /** The body as text (UTF-8). */
  text(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON; throws, saying so, when it is not JSON. */
  json<T = unknown>(): T {
    return parseJson(this.body, 'the request body') as T;
  }

  /** The ABI record of this request. */
  toWit(): WitHttpRequest {
    return { method: this.method, uri: this.uri, headers: this.headers, body: this.body };
  }
}

/** An HTTP response: what a route answers, or what `http.fetch` received. */
export class HttpResponse {
  status: number;
  headers: Header[];
  body: Uint8Array;

  constructor(status: number, headers: HeadersInit = [], body: BodyInit = undefined) {
    const { bytes, contentType } = toBody(body);
    this.status = status;
    this.headers = toHeaderList(headers);
    this.body = bytes;
    if (contentType !== undefined && findHeader(this.headers, 'content-type') === undefined) {
      this.headers.push(['content-type', contentType]);
    }
  }

  /** A JSON response. */
  static json(status: number, value: unknown, headers: HeadersInit = []): HttpResponse {
    const response = new HttpResponse(status, headers, encoder.encode(JSON.stringify(value)));
    if (response.header('content-type') === undefined) response.headers.push(['content-type', 'application/json']);
    return response;
  }

  /** A `text/plain` response. */
  static text(status: number, text: string, headers: HeadersInit = []): HttpResponse {
    return new HttpResponse(status, headers, text);
  }

  /** An HTML response. */
  static html(status: number, html: string, headers: HeadersInit = []): HttpResponse {
    const list = toHeaderList(headers);
    if (findHeader(list, 'content-type') === undefined) list.push(['content-type', 'text/html; charset=utf-8']);
    return new HttpResponse(status, list, html);
  }

  /** Wraps an ABI response record. */
  static fromWit(response: WitHttpResponse): HttpResponse {
    return new HttpResponse(response.status, response.headers, response.body);
  }

  /** Whether the status is 200 to 299. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The first header called `name` (case-insensitive). */
  header(name: string): string | undefined {
    return findHeader(this.headers, name);
  }

  /** The body as text (UTF-8). */
  text(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON; throws, saying so, when it is not JSON. */
  json<T = unknown>(): T {
    return parseJson(this.body, `the response body (status ${this.status})`) as T;
  }

  /** The ABI record of this response. */
  toWit(): WitHttpResponse {
    return { status: this.status, headers: this.headers, body: this.body };
  }
}

/** What a route handler may return: a response, or `{status, headers?, body?}`. */
export type ResponseInit = HttpResponse | { status: number; headers?: HeadersInit; body?: BodyInit };

/** The ABI record of whatever a handler returned. */
export function toWitResponse(value: ResponseInit): WitHttpResponse {
  if (value instanceof HttpResponse) return value.toWit();
  if (value === null || typeof value !== 'object' || typeof value.status !== 'number') {
    throw new Error('a route handler must return an HttpResponse or {status, headers?, body?}');
  }
  return new HttpResponse(value.status, value.headers, value.body).toWit();
}
