//! `--profile FILE`: the configuration profile written beside the
//! password. The file is made before anything is generated (new, mode
//! 0600, never over an existing one) and removed again if the password
//! is not kept, so a profile on disk always holds a stored password.

use crate::error::CliError;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub(crate) struct ProfileFile {
    path: PathBuf,
    file: Option<File>,
    kept: bool,
}

impl ProfileFile {
    /// Makes `path`, empty, for this user only.
    pub(crate) fn create(path: &Path) -> Result<ProfileFile, CliError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "it exists, and a profile is never written over a file; name a new one"
                        .to_owned()
                } else {
                    e.to_string()
                };
                CliError::Usage(format!(
                    "cannot write the profile to {} ({why}); nothing was generated",
                    path.display()
                ))
            })?;
        Ok(ProfileFile {
            path: path.to_path_buf(),
            file: Some(file),
            kept: false,
        })
    }

    /// Writes the profile; the error says which file.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("the profile was written already"));
        };
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                std::io::Error::other(format!("cannot write {} ({e})", self.path.display()))
            })
    }

    /// The password is stored: the file stays.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for ProfileFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
