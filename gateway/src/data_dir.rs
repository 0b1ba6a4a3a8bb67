//! The data dir: the ledger, the cache and its key, the portal simulator's state.
//! It holds every lookup's subject and the applicants' names, so the gateway makes
//! it owner-only (0700) whatever the umask, and its files owner-only (0600, each
//! made by the part that owns it); an existing data dir open to other users is
//! warned about at start-up, not changed (an operator may have a reason).

use std::path::Path;

use crate::Error;

/// Makes `dir` (owner-only) if missing; warns if an existing one is open to others.
pub fn prepare(dir: &Path) -> Result<(), Error> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        restrict(dir, 0o700)?;
        return Ok(());
    }
    if let Some(mode) = mode(dir)
        && mode & 0o077 != 0
    {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:o}"),
            "the data dir is open to other users of this machine: it holds personal data; chmod 700 it"
        );
    }
    Ok(())
}

/// Sets `path`'s permission bits to `mode` (on Unix; elsewhere nothing).
pub fn restrict(path: &Path, mode: u32) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(Error::io(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The permission bits of `path`, where there are such.
pub fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
