//! Probe.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "plugboard:plugin/plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
