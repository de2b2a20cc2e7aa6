/// <reference path="./plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/http-client@0.1.0' {
  /**
   * Sends `request` (its `uri` an absolute `http` or `https` URL) and waits for the
   * whole response, within the host's timeout.
   */
  export function fetch(request: HttpRequest): HttpResponse;
  export type HostError = import('plugboard:plugin/types@0.1.0').HostError;
  export type HttpRequest = import('plugboard:plugin/types@0.1.0').HttpRequest;
  export type HttpResponse = import('plugboard:plugin/types@0.1.0').HttpResponse;
}
