/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/filters@0.1.0' {
  /**
   * Sees the user's prompt before the model does. May rewrite it or reject the turn.
   */
  export function beforePrompt(context: CallContext, prompt: string): FilterOutcome;
  /**
   * Sees the model's whole reply before it is stored and shown. For a streamed reply this
   * runs on the collected text at the end, and the client is told of any replacement.
   * Rejecting withholds the reply.
   */
  export function afterResponse(context: CallContext, response: string): FilterOutcome;
  /**
   * Sees each streamed piece of a reply as it arrives and returns what to send instead
   * (the same text, a changed one, or an empty string to hold it back).
   */
  export function streamChunk(context: CallContext, chunk: string): string;
  /**
   * Sees each API request (`/api/...` and `/v1/...`; not the web interface's files nor
   * `/metrics`) before the host handles it, after authentication, in filter order.
   * `context.user-id` is the verified caller (empty when signed out) and
   * `context.request-id` ties this call to the request's `after-request` calls.
   * 
   * The request is a copy. `uri` is the path from the server root with the query, the
   * values of credential-like parameters (such as `access_token`) shown as `[redacted]`.
   * `headers` lack every credential: any name containing `authorization`, `cookie`,
   * `token`, `secret`, `password`, `session`, `api-key` or `apikey`, or ending in `-key`
   * or `_key`. They carry `x-plugboard-client-ip`, the TCP peer's address as the host
   * saw it (a client cannot set it). `body` is always empty.
   * 
   * A call that fails, or answers a status outside 400 to 499, is skipped when the
   * plugin's `on_error` is `open`, and refuses the request with 503
   * `request_filter_failed` when it is `closed`.
   */
  export function beforeRequest(context: CallContext, request: HttpRequest): RequestOutcome;
  /**
   * Sees each response to an API request, refusals by `before-request` included, before
   * it is sent: the request as `before-request` saw it (with the headers filters added),
   * and the response's status and headers, without credentials (no `set-cookie`) and
   * without its body (`body` is empty). Failing follows `on_error` as `before-request`
   * does (closed: the response is replaced by a 503).
   */
  export function afterRequest(context: CallContext, request: HttpRequest, response: HttpResponse): ResponseOutcome;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
  export type FilterOutcome = import('plugboard:plugin/types@0.1.0').FilterOutcome;
  export type HttpRequest = import('plugboard:plugin/types@0.1.0').HttpRequest;
  export type HttpResponse = import('plugboard:plugin/types@0.1.0').HttpResponse;
  /**
   * What a request-level filter decided about a request.
   */
  export type RequestOutcome = RequestOutcomeKeep | RequestOutcomeRewrite | RequestOutcomeRespond;
  /**
   * Let it through unchanged.
   */
  export interface RequestOutcomeKeep {
    tag: 'keep',
  }
  /**
   * Let it through with the headers this copy adds: each header whose name is not
   * already on the request is passed on to the handler and shown to the filters after
   * this one. Nothing else is taken: a changed method, path, query, body or existing
   * header is ignored (and logged), and so is an added credential (any name
   * `before-request` would hide), hop-by-hop or framing header (`host`, `content-length`, `transfer-encoding`,
   * `connection`, any `content-*`), forwarding header (`x-forwarded-*`, `forwarded`)
   * or `x-plugboard-*` header.
   */
  export interface RequestOutcomeRewrite {
    tag: 'rewrite',
    val: HttpRequest,
  }
  /**
   * Refuse it with this response's status, which must be 400 to 499 (any other is an
   * error of the plugin, handled as its `on_error` says). The body's text becomes the
   * message of the server's JSON error, `{"error": {"code": "refused_by_plugin",
   * "message", "plugin"}}`; headers are added as `after-request`'s are.
   */
  export interface RequestOutcomeRespond {
    tag: 'respond',
    val: HttpResponse,
  }
  /**
   * What a request-level filter decided about a response.
   */
  export type ResponseOutcome = ResponseOutcomeKeep | ResponseOutcomeRewrite;
  /**
   * Leave it unchanged.
   */
  export interface ResponseOutcomeKeep {
    tag: 'keep',
  }
  /**
   * Add the headers whose names the response does not have yet. A changed status,
   * body or existing header is ignored (and logged), and so are the names a request
   * filter may not add, `set-cookie`, `location`, `refresh`, `clear-site-data` and
   * `access-control-*`.
   */
  export interface ResponseOutcomeRewrite {
    tag: 'rewrite',
    val: HttpResponse,
  }
}
