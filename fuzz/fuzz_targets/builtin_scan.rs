//! Any message, however broken its MIME or archives, gets a verdict without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::config::Builtin;
use portcullis::scan::builtin::BuiltinEngine;
use std::sync::OnceLock;

static ENGINE: OnceLock<BuiltinEngine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let e = ENGINE.get_or_init(|| BuiltinEngine::new(&Builtin::default()).expect("default engine"));
    let _ = e.scan(data);
});
