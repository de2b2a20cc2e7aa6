declare module 'plugboard:plugin/types@0.1.0' {
  /**
   * The author of a chat message.
   * # Variants
   * 
   * ## `"system"`
   * 
   * Instructions to the model, set by the operator or a plugin.
   * ## `"user"`
   * 
   * A person typing in the chat.
   * ## `"assistant"`
   * 
   * The model's reply.
   * ## `"tool"`
   * 
   * The result of a tool call, fed back to the model.
   */
  export type Role = 'system' | 'user' | 'assistant' | 'tool';
  /**
   * One message of a conversation as a plugin sees it.
   */
  export interface Message {
    /**
     * Stable id of the stored message; empty when the message is not stored yet.
     */
    id: string,
    /**
     * The conversation it belongs to; empty outside a conversation.
     */
    conversationId: string,
    /**
     * Who wrote it.
     */
    role: Role,
    /**
     * `user:<id>`, `assistant`, or `plugin:<plugin-id>`.
     */
    author: string,
    /**
     * The text, usually Markdown.
     */
    content: string,
    /**
     * Creation time, milliseconds since the Unix epoch.
     */
    createdAtMs: bigint,
  }
  /**
   * A conversation (a "session" or "channel" in other chat servers).
   */
  export interface Conversation {
    /**
     * Stable id.
     */
    id: string,
    /**
     * Title shown in the conversation list.
     */
    title: string,
    /**
     * The user who owns it.
     */
    userId: string,
    /**
     * Creation time, milliseconds since the Unix epoch.
     */
    createdAtMs: bigint,
  }
  /**
   * Where a hook call comes from. Every field may be empty when it does not apply,
   * for example a tool run from the command line has no conversation.
   */
  export interface CallContext {
    /**
     * The conversation the call is about.
     */
    conversationId: string,
    /**
     * The authenticated user on whose behalf the host calls; verified by the host.
     */
    userId: string,
    /**
     * The model chosen for the turn, as `provider/model`.
     */
    model: string,
    /**
     * An id that ties together every call of one chat turn or request, for traces.
     */
    requestId: string,
  }
  /**
   * What a filter decided about a piece of text.
   */
  export type FilterOutcome = FilterOutcomeKeep | FilterOutcomeRewrite | FilterOutcomeReject;
  /**
   * Leave the text unchanged. Cheaper than returning the same text.
   */
  export interface FilterOutcomeKeep {
    tag: 'keep',
  }
  /**
   * Replace the text with this one.
   */
  export interface FilterOutcomeRewrite {
    tag: 'rewrite',
    val: string,
  }
  /**
   * Refuse it; the reason is shown to the user.
   */
  export interface FilterOutcomeReject {
    tag: 'reject',
    val: string,
  }
  /**
   * A name/value pair of HTTP headers. Names are lower-case.
   */
  export type Header = [string, string];
  /**
   * An HTTP request, either arriving at a plugin route or made by a plugin.
   */
  export interface HttpRequest {
    /**
     * `GET`, `POST`, ... in upper case.
     */
    method: string,
    /**
     * For an incoming request, the path below the plugin's mount point, starting
     * with `/`; for an outgoing request, the absolute URL.
     */
    uri: string,
    /**
     * Headers. The host removes credentials (cookies, authorization) from incoming
     * requests before a plugin sees them.
     */
    headers: Array<Header>,
    /**
     * The body, possibly empty.
     */
    body: Uint8Array,
  }
  /**
   * An HTTP response.
   */
  export interface HttpResponse {
    /**
     * Status code, 100 to 599.
     */
    status: number,
    /**
     * Headers.
     */
    headers: Array<Header>,
    /**
     * The body, possibly empty.
     */
    body: Uint8Array,
  }
  /**
   * A tool the model or a user can call.
   */
  export interface ToolSpec {
    /**
     * Name, unique within the plugin: lower-case letters, digits, `_` and `-`.
     */
    name: string,
    /**
     * What it does, written for the model and for people.
     */
    description: string,
    /**
     * JSON Schema (an object schema) of the arguments.
     */
    parametersSchema: string,
  }
  /**
   * A model a provider plugin serves.
   */
  export interface ModelInfo {
    /**
     * Id, unique within the plugin. The host lists it as `<plugin-id>/<id>`.
     */
    id: string,
    /**
     * Name shown in the model picker.
     */
    displayName: string,
    /**
     * Context window in tokens; 0 when unknown.
     */
    contextLength: number,
    /**
     * Whether the model can call tools.
     */
    supportsTools: boolean,
  }
  /**
   * A tool call the model asked for.
   */
  export interface ToolCall {
    /**
     * Id that ties the call to its result.
     */
    id: string,
    /**
     * `<plugin-id>.<tool-name>` or a bare tool name.
     */
    name: string,
    /**
     * The arguments, a JSON object.
     */
    arguments: string,
  }
  /**
   * One message of a completion request.
   */
  export interface CompletionMessage {
    /**
     * Who wrote it.
     */
    role: Role,
    /**
     * Its text.
     */
    content: string,
    /**
     * Tool calls of an assistant message.
     */
    toolCalls: Array<ToolCall>,
    /**
     * For a `tool` message, the id of the call it answers.
     */
    toolCallId: string,
  }
  /**
   * A request for a chat completion.
   */
  export interface CompletionRequest {
    /**
     * Model id (for a provider plugin, its own id without the plugin prefix).
     */
    model: string,
    /**
     * The conversation so far, oldest first.
     */
    messages: Array<CompletionMessage>,
    /**
     * Tools the model may call.
     */
    tools: Array<ToolSpec>,
    /**
     * Sampling temperature; none for the model's default.
     */
    temperature?: number,
    /**
     * Nucleus sampling; none for the model's default.
     */
    topP?: number,
    /**
     * Most tokens to generate; none for the model's default.
     */
    maxTokens?: number,
  }
  /**
   * A piece of a streamed completion.
   */
  export type CompletionChunk = CompletionChunkDelta | CompletionChunkToolCall;
  /**
   * More text of the reply.
   */
  export interface CompletionChunkDelta {
    tag: 'delta',
    val: string,
  }
  /**
   * The model wants a tool called.
   */
  export interface CompletionChunkToolCall {
    tag: 'tool-call',
    val: ToolCall,
  }
  /**
   * Token counts of a finished completion.
   */
  export interface Usage {
    /**
     * Tokens in the prompt.
     */
    promptTokens: number,
    /**
     * Tokens generated.
     */
    completionTokens: number,
  }
  /**
   * Why a completion ended.
   * # Variants
   * 
   * ## `"stop"`
   * 
   * The model finished its reply.
   * ## `"length"`
   * 
   * The token limit was reached.
   * ## `"tool-calls"`
   * 
   * The model called tools and waits for their results.
   * ## `"cancelled"`
   * 
   * The caller stopped listening.
   */
  export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'cancelled';
  /**
   * A finished completion.
   */
  export interface Completion {
    /**
     * The whole reply text.
     */
    content: string,
    /**
     * Tool calls the model asked for.
     */
    toolCalls: Array<ToolCall>,
    /**
     * Why it ended.
     */
    finishReason: FinishReason,
    /**
     * Token counts.
     */
    usage: Usage,
  }
  /**
   * The kinds of error a host service returns.
   * # Variants
   * 
   * ## `"permission-denied"`
   * 
   * The plugin's manifest does not grant the permission this needs.
   * ## `"not-found"`
   * 
   * The thing asked for does not exist (or is not visible to this plugin).
   * ## `"invalid-input"`
   * 
   * An argument was malformed.
   * ## `"limit-exceeded"`
   * 
   * A size, rate or quota limit was reached.
   * ## `"unavailable"`
   * 
   * The service is not available in this host right now.
   * ## `"timeout"`
   * 
   * The operation took too long.
   * ## `"internal"`
   * 
   * Anything else.
   */
  export type ErrorKind = 'permission-denied' | 'not-found' | 'invalid-input' | 'limit-exceeded' | 'unavailable' | 'timeout' | 'internal';
  /**
   * An error from a host service.
   */
  export interface HostError {
    /**
     * What kind of failure.
     */
    kind: ErrorKind,
    /**
     * A human-readable explanation, naming the permission or limit involved.
     */
    message: string,
  }
}
