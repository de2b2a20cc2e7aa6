/// <reference path="./interfaces/plugboard-plugin-account-events.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-ai.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-chat.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-commands.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-completion-sink.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-events.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-exporter.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-filters.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-http-client.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-http-handler.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-kv.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-lifecycle.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-log.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-plugins.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-provider.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-scheduler.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-settings.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-tools.d.ts" />
/// <reference path="./interfaces/plugboard-plugin-types.d.ts" />
declare module 'plugboard:plugin/plugin@0.1.0' {
  export type * as PlugboardPluginAi010 from 'plugboard:plugin/ai@0.1.0'; // import plugboard:plugin/ai@0.1.0
  export type * as PlugboardPluginChat010 from 'plugboard:plugin/chat@0.1.0'; // import plugboard:plugin/chat@0.1.0
  export type * as PlugboardPluginCompletionSink010 from 'plugboard:plugin/completion-sink@0.1.0'; // import plugboard:plugin/completion-sink@0.1.0
  export type * as PlugboardPluginHttpClient010 from 'plugboard:plugin/http-client@0.1.0'; // import plugboard:plugin/http-client@0.1.0
  export type * as PlugboardPluginKv010 from 'plugboard:plugin/kv@0.1.0'; // import plugboard:plugin/kv@0.1.0
  export type * as PlugboardPluginLog010 from 'plugboard:plugin/log@0.1.0'; // import plugboard:plugin/log@0.1.0
  export type * as PlugboardPluginPlugins010 from 'plugboard:plugin/plugins@0.1.0'; // import plugboard:plugin/plugins@0.1.0
  export type * as PlugboardPluginSettings010 from 'plugboard:plugin/settings@0.1.0'; // import plugboard:plugin/settings@0.1.0
  export type * as PlugboardPluginTypes010 from 'plugboard:plugin/types@0.1.0'; // import plugboard:plugin/types@0.1.0
  export * as lifecycle from 'plugboard:plugin/lifecycle@0.1.0'; // export plugboard:plugin/lifecycle@0.1.0
  export * as filters from 'plugboard:plugin/filters@0.1.0'; // export plugboard:plugin/filters@0.1.0
  export * as events from 'plugboard:plugin/events@0.1.0'; // export plugboard:plugin/events@0.1.0
  export * as tools from 'plugboard:plugin/tools@0.1.0'; // export plugboard:plugin/tools@0.1.0
  export * as provider from 'plugboard:plugin/provider@0.1.0'; // export plugboard:plugin/provider@0.1.0
  export * as exporter from 'plugboard:plugin/exporter@0.1.0'; // export plugboard:plugin/exporter@0.1.0
  export * as httpHandler from 'plugboard:plugin/http-handler@0.1.0'; // export plugboard:plugin/http-handler@0.1.0
  export * as commands from 'plugboard:plugin/commands@0.1.0'; // export plugboard:plugin/commands@0.1.0
  export * as scheduler from 'plugboard:plugin/scheduler@0.1.0'; // export plugboard:plugin/scheduler@0.1.0
  export * as accountEvents from 'plugboard:plugin/account-events@0.1.0'; // export plugboard:plugin/account-events@0.1.0
}
