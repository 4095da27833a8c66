//! The filesystem checks of a parsed config, kept apart from parsing so that
//! `Config::parse` stays pure: `portcullis check` and `portcullis run` call
//! [`Config::check_files`] after parsing, and nothing else here touches the disk.
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Config, ConfigError};

impl Config {
    /// Every path the config names, looked at as the current user: directories the proxy
    /// writes (or will create), the signature directory, the notice template and the alert
    /// command. Returns every problem, in the same key/value/fix shape as parse errors.
    pub fn check_files(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (key, dir) in [
            ("general.session_log_dir", &self.general.session_log_dir),
            ("general.spool_dir", &self.general.spool_dir),
            ("quarantine.dir", &self.quarantine.dir),
        ] {
            if let Err(fix) = writable_dir(dir) {
                errors.push(ConfigError::new(key, dir.display(), fix));
            }
        }
        if let Some(dir) = &self.scan.builtin.signature_dir
            && let Err(fix) = readable_dir(dir)
        {
            errors.push(ConfigError::new(
                "scan.builtin.signature_dir",
                dir.display(),
                fix,
            ));
        }
        if let Some(t) = &self.policy.notice_template
            && let Err(fix) = readable_text(t)
        {
            errors.push(ConfigError::new("policy.notice_template", t.display(), fix));
        }
        if let Some(c) = &self.abuse.alert.command
            && !executable_file(Path::new(c))
        {
            errors.push(ConfigError::new(
                "abuse.alert.command",
                c,
                "give the absolute path of an existing executable file",
            ));
        }
        errors
    }
}

/// A directory the proxy writes to: it exists and takes a new file, or it does not exist
/// yet and its nearest existing ancestor is a directory that takes one (`run` creates it).
fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut at = dir;
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if at == dir => {
                return Err("exists but is not a directory; give a directory".into());
            }
            Ok(_) => {
                return Err(format!(
                    "cannot be created: {} is not a directory; give another path",
                    at.display()
                ));
            }
            // ENOTDIR: a file further up; walking up finds it and says so.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                match at.parent() {
                    Some(p) if !p.as_os_str().is_empty() => at = p,
                    _ => {
                        at = Path::new(".");
                        break;
                    }
                }
            }
            Err(e) => {
                return Err(format!(
                    "cannot be examined ({e}); fix the permissions of the path"
                ));
            }
        }
    }
    // An unnamed temporary file: proves a write works and leaves nothing behind.
    match tempfile::tempfile_in(at) {
        Ok(_) => Ok(()),
        Err(e) if at == dir => Err(format!(
            "is not writable by this user ({e}); fix its owner or mode, or give another directory"
        )),
        Err(e) => Err(format!(
            "does not exist and cannot be created: {} is not writable by this user ({e}); create it or give another directory",
            at.display()
        )),
    }
}

fn readable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err("must be an existing directory (or remove the key)".into())
        }
        Err(e) => Err(format!(
            "must be a readable directory ({e}); fix its mode (or remove the key)"
        )),
    }
}

/// The notice template is read whole at start, as UTF-8 text.
fn readable_text(file: &Path) -> Result<(), String> {
    let fix = |why: String| {
        format!(
            "must be an existing readable UTF-8 file ({why}); fix it or remove the key to use the built-in notice"
        )
    };
    match std::fs::metadata(file) {
        Ok(m) if !m.is_file() => return Err(fix("not a regular file".into())),
        Ok(_) => {}
        Err(e) => return Err(fix(e.to_string())),
    }
    std::fs::read_to_string(file)
        .map(|_| ())
        .map_err(|e| fix(e.to_string()))
}

fn executable_file(p: &Path) -> bool {
    p.is_absolute()
        && std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_that_exist_or_can_be_created_pass() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(writable_dir(root.path()), Ok(()));
        assert_eq!(writable_dir(&root.path().join("x/y/z")), Ok(()));
        assert!(!root.path().join("x").exists(), "nothing is created");
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "the probe leaves nothing behind"
        );
    }

    #[test]
    fn a_file_in_the_way_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let f = root.path().join("file");
        std::fs::write(&f, "x").unwrap();
        let e = writable_dir(&f).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
        let e = writable_dir(&f.join("sub")).unwrap_err();
        assert!(e.contains("cannot be created") && e.contains("file"), "{e}");
    }

    #[test]
    fn an_unwritable_place_is_reported() {
        // procfs takes no new files, not even from root.
        let e = writable_dir(Path::new("/proc/portcullis-nonexistent/spool")).unwrap_err();
        assert!(e.contains("/proc is not writable"), "{e}");
    }

    #[test]
    fn signature_dir_must_be_a_readable_directory() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(readable_dir(root.path()), Ok(()));
        let e = readable_dir(&root.path().join("none")).unwrap_err();
        assert!(e.contains("existing directory"), "{e}");
        let f = root.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(readable_dir(&f).is_err());
    }

    #[test]
    fn notice_template_must_be_utf8_text() {
        let root = tempfile::tempdir().unwrap();
        let t = root.path().join("notice.txt");
        assert!(readable_text(&t).unwrap_err().contains("built-in notice"));
        std::fs::write(&t, b"caf\xe9").unwrap();
        assert!(readable_text(&t).is_err(), "Latin-1 is refused");
        std::fs::write(&t, "café {{subject}}").unwrap();
        assert_eq!(readable_text(&t), Ok(()));
        assert!(
            readable_text(root.path())
                .unwrap_err()
                .contains("not a regular file")
        );
    }

    #[test]
    fn alert_command_must_be_an_executable_file() {
        let root = tempfile::tempdir().unwrap();
        let c = root.path().join("alert");
        assert!(!executable_file(&c));
        std::fs::write(&c, "#!/bin/sh\n").unwrap();
        assert!(!executable_file(&c), "mode 644 is not executable");
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(executable_file(&c));
        assert!(
            !executable_file(root.path()),
            "a directory is not a program"
        );
        assert!(
            !executable_file(Path::new("alert")),
            "relative paths are refused"
        );
    }
}
