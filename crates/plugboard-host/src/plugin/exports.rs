//! Where a component's exported interfaces are: their function indices, found once per
//! component so that a new instance only loads its functions from them, and each
//! instance's exported functions, which the call path hands to a hook.

use std::collections::BTreeSet;

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::abi::exports::{
    account_events, commands, events, exporter, filters, http_handler, lifecycle, provider, scheduler, tools,
};
use crate::api::Hook;
use crate::state::HostState;

/// Where each optional interface's functions are, found once per component.
pub(crate) struct ExportIndices {
    pub(crate) lifecycle: lifecycle::GuestIndices,
    pub(crate) filters: Option<filters::GuestIndices>,
    pub(crate) events: Option<events::GuestIndices>,
    pub(crate) tools: Option<tools::GuestIndices>,
    pub(crate) provider: Option<provider::GuestIndices>,
    pub(crate) exporter: Option<exporter::GuestIndices>,
    pub(crate) http: Option<http_handler::GuestIndices>,
    pub(crate) commands: Option<commands::GuestIndices>,
    pub(crate) scheduler: Option<scheduler::GuestIndices>,
    /// Absent from plugins built before the interface was added to ABI 0.1.
    pub(crate) account_events: Option<account_events::GuestIndices>,
}

impl ExportIndices {
    pub(crate) fn new(pre: &InstancePre<HostState>) -> wasmtime::Result<ExportIndices> {
        Ok(ExportIndices {
            lifecycle: lifecycle::GuestIndices::new(pre)?,
            filters: filters::GuestIndices::new(pre).ok(),
            events: events::GuestIndices::new(pre).ok(),
            tools: tools::GuestIndices::new(pre).ok(),
            provider: provider::GuestIndices::new(pre).ok(),
            exporter: exporter::GuestIndices::new(pre).ok(),
            http: http_handler::GuestIndices::new(pre).ok(),
            commands: commands::GuestIndices::new(pre).ok(),
            scheduler: scheduler::GuestIndices::new(pre).ok(),
            account_events: account_events::GuestIndices::new(pre).ok(),
        })
    }

    /// The hooks whose interface the component exports.
    pub(crate) fn exported_hooks(&self) -> BTreeSet<Hook> {
        let mut hooks: BTreeSet<Hook> =
            [Hook::Init, Hook::Shutdown, Hook::OnEnable, Hook::OnDisable, Hook::Health, Hook::SelfTest].into();
        let groups: [(bool, &[Hook]); 8] = [
            (
                self.filters.is_some(),
                &[Hook::BeforePrompt, Hook::AfterResponse, Hook::StreamChunk, Hook::BeforeRequest, Hook::AfterRequest],
            ),
            (self.events.is_some(), &[Hook::Events, Hook::MessageWillBePosted]),
            (self.tools.is_some(), &[Hook::Tools]),
            (self.provider.is_some(), &[Hook::Provider]),
            (self.exporter.is_some(), &[Hook::Exporter]),
            (self.http.is_some(), &[Hook::Http]),
            (self.commands.is_some(), &[Hook::Commands]),
            (self.scheduler.is_some(), &[Hook::Scheduled]),
        ];
        for (present, group) in groups {
            if present {
                hooks.extend(group.iter().copied());
            }
        }
        hooks
    }

    pub(super) fn load(
        &self,
        store: &mut Store<HostState>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Exports> {
        fn optional<I, G>(
            indices: &Option<I>,
            load: impl FnOnce(&I) -> wasmtime::Result<G>,
        ) -> wasmtime::Result<Option<G>> {
            indices.as_ref().map(load).transpose()
        }
        Ok(Exports {
            lifecycle: self.lifecycle.load(&mut *store, instance)?,
            filters: optional(&self.filters, |i| i.load(&mut *store, instance))?,
            events: optional(&self.events, |i| i.load(&mut *store, instance))?,
            tools: optional(&self.tools, |i| i.load(&mut *store, instance))?,
            provider: optional(&self.provider, |i| i.load(&mut *store, instance))?,
            exporter: optional(&self.exporter, |i| i.load(&mut *store, instance))?,
            http: optional(&self.http, |i| i.load(&mut *store, instance))?,
            commands: optional(&self.commands, |i| i.load(&mut *store, instance))?,
            scheduler: optional(&self.scheduler, |i| i.load(&mut *store, instance))?,
            account_events: optional(&self.account_events, |i| i.load(&mut *store, instance))?,
        })
    }
}

/// The exported functions of one instance.
pub(crate) struct Exports {
    pub(super) lifecycle: lifecycle::Guest,
    filters: Option<filters::Guest>,
    events: Option<events::Guest>,
    tools: Option<tools::Guest>,
    provider: Option<provider::Guest>,
    exporter: Option<exporter::Guest>,
    http: Option<http_handler::Guest>,
    commands: Option<commands::Guest>,
    scheduler: Option<scheduler::Guest>,
    account_events: Option<account_events::Guest>,
}

fn missing(interface: &str) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export `{interface}`")
}

impl Exports {
    pub(super) fn filters(&self) -> wasmtime::Result<&filters::Guest> {
        self.filters.as_ref().ok_or_else(|| missing("filters"))
    }
    pub(super) fn events(&self) -> wasmtime::Result<&events::Guest> {
        self.events.as_ref().ok_or_else(|| missing("events"))
    }
    pub(super) fn tools(&self) -> wasmtime::Result<&tools::Guest> {
        self.tools.as_ref().ok_or_else(|| missing("tools"))
    }
    pub(super) fn provider(&self) -> wasmtime::Result<&provider::Guest> {
        self.provider.as_ref().ok_or_else(|| missing("provider"))
    }
    pub(super) fn exporter(&self) -> wasmtime::Result<&exporter::Guest> {
        self.exporter.as_ref().ok_or_else(|| missing("exporter"))
    }
    pub(super) fn http(&self) -> wasmtime::Result<&http_handler::Guest> {
        self.http.as_ref().ok_or_else(|| missing("http-handler"))
    }
    pub(super) fn commands(&self) -> wasmtime::Result<&commands::Guest> {
        self.commands.as_ref().ok_or_else(|| missing("commands"))
    }
    pub(super) fn scheduler(&self) -> wasmtime::Result<&scheduler::Guest> {
        self.scheduler.as_ref().ok_or_else(|| missing("scheduler"))
    }
    pub(super) fn account_events(&self) -> wasmtime::Result<&account_events::Guest> {
        self.account_events.as_ref().ok_or_else(|| missing("account-events"))
    }
}
