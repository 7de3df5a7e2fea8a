//! Where a store's server listens: `<store>/server.sock`, found by every
//! client from the store's path alone, and gone with the store. A Unix
//! socket address holds at most 107 bytes of path, so a store deeper than
//! that gets a socket in the temporary directory instead, named by a hash
//! of the store's canonical path (the server and its clients compute the
//! same name).

use std::path::{Path, PathBuf};

use helios_types::HashAlgorithm;

/// The socket's name inside the store.
pub const SOCKET_NAME: &str = "server.sock";

/// The longest path a Unix socket address holds (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Where the server of the store at `store` listens.
pub fn socket_path(store: &Path) -> PathBuf {
    let store = store
        .canonicalize()
        .or_else(|_| std::path::absolute(store))
        .unwrap_or_else(|_| store.to_path_buf());
    let inside = store.join(SOCKET_NAME);
    if inside.as_os_str().len() <= MAX_SOCKET_PATH {
        return inside;
    }
    let digest = HashAlgorithm::Blake3.digest(store.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("helios-{}.sock", &digest.to_hex()[..32]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_store_path_keeps_its_socket_inside_and_a_long_one_gets_a_stable_one_outside() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            socket_path(dir.path()),
            dir.path().canonicalize().unwrap().join(SOCKET_NAME)
        );
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let outside = socket_path(&deep);
        assert!(outside.starts_with(std::env::temp_dir()), "{outside:?}");
        assert!(outside.as_os_str().len() <= MAX_SOCKET_PATH);
        // The same store, named another way, has the same socket.
        assert_eq!(socket_path(&deep.join("../").join("e".repeat(60))), outside);
        assert_ne!(socket_path(&deep.join("..")), outside);
    }
}
