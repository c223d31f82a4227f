//! Files of the on-disk caches (compiled plugins, trained NLU models): the
//! folder is private to the engine's operator, and a file appears whole or
//! not at all, so engines sharing the folder never read half a file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates `dir` (and its parents) if needed and, on Unix, restricts it to
/// its owner (0700): what the caches hold is loaded without further checks
/// (compiled code is run as is), so nobody else may write there.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it, flushed to
/// disk, then renames that over `path`, so a reader sees the old file or the
/// new one, never half of one, even after a crash. The temporary file is
/// removed if the write or the rename fails.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_name(path);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A name beside `path` that no other writer, in this process or another,
/// uses at the same time.
fn temporary_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_extension(format!("tmp-{}-{unique}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read the folder")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_written_whole_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("model.bin");
        write_atomically(&path, b"first").expect("first write");
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        write_atomically(&path, b"second, longer").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second, longer");
        assert_eq!(
            files_in(dir.path()),
            ["model.bin"],
            "no temporary file is left"
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        // The target is a folder: the temporary file is written, the rename
        // over a non-empty folder fails, and the temporary file must go.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).expect("create");
        std::fs::write(target.join("inside"), b"x").expect("write");
        assert!(write_atomically(&target, b"bytes").is_err());
        assert_eq!(files_in(dir.path()), ["taken"]);
        // A missing folder is an error too, not a panic.
        assert!(write_atomically(&dir.path().join("missing/file"), b"bytes").is_err());
    }

    #[test]
    fn temporary_names_differ_between_calls() {
        let path = Path::new("/cache/model.bin");
        assert_ne!(temporary_name(path), temporary_name(path));
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_is_created_and_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("create");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        private_dir(&open).expect("restrict");
        let mode = std::fs::metadata(&open).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let nested = dir.path().join("a/b");
        private_dir(&nested).expect("create nested");
        let mode = std::fs::metadata(&nested)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
