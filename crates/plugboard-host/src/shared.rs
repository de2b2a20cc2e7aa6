//! [`PluginShared`]: what every instance of one loaded plugin shares, reachable from an
//! instance's store data (`state`) and from the plugin (`plugin`).

use std::sync::{Arc, Weak};

use plugboard_manifest::{Manifest, PluginId};

use crate::http::OutboundHttp;
use crate::link::RuntimeLink;
use crate::services::Services;

/// What instances of one plugin share, reachable from their store data.
#[derive(Debug)]
pub(crate) struct PluginShared {
    pub(crate) id: PluginId,
    pub(crate) manifest: Manifest,
    pub(crate) services: Services,
    pub(crate) http: Arc<OutboundHttp>,
    pub(crate) runtime: Weak<dyn RuntimeLink>,
    pub(crate) max_output_bytes: usize,
}
