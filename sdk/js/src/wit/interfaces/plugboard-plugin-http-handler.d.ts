/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/http-handler@0.1.0' {
  /**
   * Handles one request. `context.user-id` is the caller verified by the host, empty
   * for unauthenticated (webhook) routes.
   */
  export function handle(context: CallContext, request: HttpRequest): HttpResponse;
  export type CallContext = import('plugboard:plugin/types@0.1.0').CallContext;
  export type HttpRequest = import('plugboard:plugin/types@0.1.0').HttpRequest;
  export type HttpResponse = import('plugboard:plugin/types@0.1.0').HttpResponse;
}
