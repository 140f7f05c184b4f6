//! Reading a small file that an attacker or an unlucky operator may have replaced with
//! anything: a FIFO (whose `open` would block forever), a device (`/dev/zero` never ends), a
//! directory, a symlink loop, a huge file, or one still growing. Only regular files are read,
//! the open never blocks, and the size is checked before reading and again while reading.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest key file or environment value accepted as a credential. A JSON credential
/// with a key, a secret, a passphrase and a PEM private key fits in a few KiB.
// Defined here and aliased by `Source::MAX_CREDENTIAL_BYTES`: the readers below `Source` must
// not import the handle that names them (the module graph stays acyclic, checked in CI).
pub(crate) const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;
/// The largest file accepted as a header value of an endpoint source (a Vault token, a
/// Kubernetes service-account token).
pub(crate) const MAX_HEADER_FILE_BYTES: usize = 64 * 1024;

/// Reads `path` whole if it is a regular file of at most `max` bytes. Error messages name the
/// cause (never the content).
pub(crate) fn read_capped(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", describe_kind(&kind)),
        ));
    }
    if meta.len() > max as u64 {
        return Err(too_big(format!(
            "the file is {} bytes, over the limit of {max}",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed tells a file that grew while being read.
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(too_big(format!(
            "the file grew past the limit of {max} bytes while being read"
        )));
    }
    Ok(bytes)
}

fn too_big(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// A read error as shown in a source error: the cause, in words.
pub(crate) fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "file not found".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => err.to_string(),
        _ => format!("read failed: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'k'; 100]).unwrap();
        let err = read_capped(&big, 99).unwrap_err();
        assert!(
            err.to_string().contains("100 bytes, over the limit of 99"),
            "{err}"
        );
        assert_eq!(read_capped(&big, 100).unwrap().len(), 100);

        let err = read_capped(dir.path(), 10).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");

        let err = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = read_capped(&fifo, 10).unwrap_err();
            assert!(err.to_string().contains("a FIFO"), "{err}");
        }

        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = read_capped(&a, 10).unwrap_err();
        assert!(describe_io(&err).contains("read failed"), "{err}");
    }
}
