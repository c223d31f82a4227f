//! The core plugins, compiled to `wasm32-wasip2` by `engine/build.rs` and
//! embedded in the binary, so `switchboard` runs them from anywhere with no
//! other file.

/// `(name, component bytes)` of each built-in plugin.
pub const BUILTIN_PLUGINS: &[(&str, &[u8])] = &[
    (
        "billing",
        include_bytes!(concat!(env!("OUT_DIR"), "/billing.wasm")),
    ),
    ("crm", include_bytes!(concat!(env!("OUT_DIR"), "/crm.wasm"))),
    (
        "monitoring",
        include_bytes!(concat!(env!("OUT_DIR"), "/monitoring.wasm")),
    ),
];

/// Where the build left the other plugin components it built (the SDK
/// example and the test suite's hostile plugin), for tests and benchmarks.
pub const BUILT_WASM_DIR: &str = env!("SWITCHBOARD_WASM_DIR");
