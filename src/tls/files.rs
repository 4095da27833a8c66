//! Private files of the CA: written whole (temp file + rename) with a fixed mode, and
//! handed to the service user. The user name is looked up in /etc/passwd (std has no safe
//! getpwnam, and a service account is a local account on the routers this runs on).
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `data` to `path` with `mode`, replacing any file there only once it is complete.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    // The mode given to open is filtered by the umask; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

/// Creates `dir` (and parents) and sets its mode.
pub fn private_dir(dir: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
}

/// The uid and gid of a local account.
pub fn lookup_user(name: &str) -> io::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd_entry(&passwd, name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no user {name:?} in /etc/passwd"),
        )
    })
}

fn passwd_entry(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

pub fn chown(path: &Path, owner: (u32, u32)) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_are_read_by_name() {
        let p = "root:x:0:0:root:/root:/bin/sh\nportcullis:x:998:997::/var/lib/portcullis:/usr/sbin/nologin\n";
        assert_eq!(passwd_entry(p, "portcullis"), Some((998, 997)));
        assert_eq!(passwd_entry(p, "portcull"), None);
        assert_eq!(passwd_entry("broken:x:y:z", "broken"), None);
    }

    #[test]
    fn written_file_has_exact_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        write_atomic(&p, b"secret", 0o600).unwrap();
        let m = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o600);
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        write_atomic(&p, b"again", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"again");
    }
}
