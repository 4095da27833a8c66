//! Any config text is either accepted or rejected with errors that name a key and a fix;
//! never a panic. `Config::parse` is pure (the paths the text names are looked at only by
//! `Config::check_files`, which is not run here), so fuzzing touches no files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(errors) = portcullis::config::Config::parse(text)
    {
        assert!(!errors.is_empty());
        for e in errors {
            assert!(!e.key.is_empty() && !e.fix.is_empty(), "{e:?}");
        }
    }
});
