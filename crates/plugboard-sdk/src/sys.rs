//! The imported host functions, one name for each, whatever the target.
//!
//! In a WebAssembly component they are the WIT imports the host provides. In a native
//! build (a plugin's `cargo test`) there is no host: each goes to the fake host a test
//! installs ([`crate::testing::FakeHost`]), or fails with an error saying to install one.

#[cfg(target_arch = "wasm32")]
mod imports {
    pub(crate) use crate::bindings::plugboard::plugin::ai::complete as ai_complete;
    pub(crate) use crate::bindings::plugboard::plugin::chat::{
        create_conversation, delete_message, edit_message, get_conversation, get_user, list_messages, post_message,
        read_file, write_file,
    };
    pub(crate) use crate::bindings::plugboard::plugin::completion_sink::emit as completion_emit;
    pub(crate) use crate::bindings::plugboard::plugin::http_client::fetch as http_fetch;
    pub(crate) use crate::bindings::plugboard::plugin::kv::{
        compare_and_set as kv_compare_and_set, delete as kv_delete, get as kv_get, list_keys as kv_list_keys,
        set as kv_set,
    };
    pub(crate) use crate::bindings::plugboard::plugin::log::write as log_write;
    pub(crate) use crate::bindings::plugboard::plugin::plugins::call_tool as plugins_call_tool;
    pub(crate) use crate::bindings::plugboard::plugin::settings::get as settings_get;
}

#[cfg(not(target_arch = "wasm32"))]
mod imports {
    pub(crate) use crate::testing::backend::{
        ai_complete, completion_emit, create_conversation, delete_message, edit_message, get_conversation, get_user,
        http_fetch, kv_compare_and_set, kv_delete, kv_get, kv_list_keys, kv_set, list_messages, log_write,
        plugins_call_tool, post_message, read_file, settings_get, write_file,
    };
}

pub(crate) use imports::*;
