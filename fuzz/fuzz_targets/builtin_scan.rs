//! Any message, however broken its MIME or archives, gets a verdict without panicking:
//! as configured by default, and read without mail-parser with every decoded part over
//! 64 bytes scanned from a spill file (how a message over `max_parser_bytes` is read).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::config::Builtin;
use portcullis::scan::builtin::BuiltinEngine;
use std::sync::OnceLock;

static ENGINES: OnceLock<[BuiltinEngine; 2]> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let engines = ENGINES.get_or_init(|| {
        let large = Builtin {
            max_parser_bytes: 0,
            decoded_memory_bytes: 64,
            ..Builtin::default()
        };
        [
            BuiltinEngine::new(&Builtin::default()).expect("default engine"),
            BuiltinEngine::new(&large).expect("engine without mail-parser"),
        ]
    });
    for e in engines {
        let _ = e.scan(data);
    }
});
