//! [`Remotes`]: the remotes a store knows by name, kept in the store's
//! `remotes` file, one `NAME URL` line each (a name is a single word, a URL
//! has no spaces). The file is replaced whole (written beside it, then
//! renamed), so a crash leaves the old list or the new one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The file's name in the store directory.
pub const REMOTES_FILE: &str = "remotes";
/// The directory, in the store directory, of each remote's pack indexes
/// read so far (see [`Remote::with_index_cache`](crate::Remote::with_index_cache)).
pub const INDEX_CACHE_DIR: &str = "remote-indexes";

/// Why the list of remotes could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not `NAME URL`.
    #[error("{}:{line}: not a `NAME URL` line", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
    },
    /// A name with characters other than letters, digits, `-`, `_`, `.`.
    #[error("`{0}` is not a remote name (letters, digits, `-`, `_` and `.`)")]
    BadName(String),
    /// A name already taken.
    #[error("a remote named `{0}` exists already")]
    Exists(String),
    /// No remote by that name.
    #[error("no remote named `{0}` (see `helios remote list`)")]
    Unknown(String),
}

/// The remotes of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remotes {
    path: PathBuf,
    urls: BTreeMap<String, String>,
}

impl Remotes {
    /// The remotes of the store at `store` (none when it has no file).
    pub fn load(store: &Path) -> Result<Remotes, ConfigError> {
        let path = store.join(REMOTES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Io { path, source }),
        };
        let mut urls = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, url)) = line.split_once(' ') else {
                return Err(ConfigError::BadLine { path, line: i + 1 });
            };
            urls.insert(name.to_owned(), url.to_owned());
        }
        Ok(Remotes { path, urls })
    }

    /// Where the pack indexes of remote `name` are kept for the store at
    /// `store`.
    pub fn index_cache(store: &Path, name: &str) -> PathBuf {
        store.join(INDEX_CACHE_DIR).join(name)
    }

    /// The URL of remote `name`.
    pub fn url(&self, name: &str) -> Result<&str, ConfigError> {
        self.urls
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ConfigError::Unknown(name.to_owned()))
    }

    /// Every remote, by name.
    pub fn all(&self) -> &BTreeMap<String, String> {
        &self.urls
    }

    /// Adds remote `name` at `url` and saves the list.
    pub fn add(&mut self, name: &str, url: &str) -> Result<(), ConfigError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid || url.contains(char::is_whitespace) {
            return Err(ConfigError::BadName(name.to_owned()));
        }
        if self.urls.contains_key(name) {
            return Err(ConfigError::Exists(name.to_owned()));
        }
        self.urls.insert(name.to_owned(), url.to_owned());
        self.save()
    }

    /// Forgets remote `name` and saves the list.
    pub fn remove(&mut self, name: &str) -> Result<(), ConfigError> {
        if self.urls.remove(name).is_none() {
            return Err(ConfigError::Unknown(name.to_owned()));
        }
        self.save()
    }

    fn save(&self) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: self.path.clone(),
            source,
        };
        let staged = self.path.with_extension("new");
        let mut file = std::fs::File::create(&staged).map_err(io)?;
        for (name, url) in &self.urls {
            writeln!(file, "{name} {url}").map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        std::fs::rename(&staged, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_are_saved_and_loaded_and_bad_names_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut remotes = Remotes::load(tmp.path()).unwrap();
        assert!(remotes.all().is_empty());
        remotes.add("origin", "file:///srv/helios").unwrap();
        remotes.add("b-2", "file:///srv/other").unwrap();
        assert!(matches!(
            remotes.add("origin", "file:///x"),
            Err(ConfigError::Exists(_))
        ));
        for bad in ["", "a b", "../x", "x/y"] {
            assert!(
                matches!(remotes.add(bad, "file:///x"), Err(ConfigError::BadName(_))),
                "{bad}"
            );
        }
        let loaded = Remotes::load(tmp.path()).unwrap();
        assert_eq!(loaded, remotes);
        assert_eq!(loaded.url("origin").unwrap(), "file:///srv/helios");
        remotes.remove("origin").unwrap();
        assert!(matches!(
            Remotes::load(tmp.path()).unwrap().url("origin"),
            Err(ConfigError::Unknown(_))
        ));
        std::fs::write(tmp.path().join(REMOTES_FILE), "just-a-name\n").unwrap();
        assert!(matches!(
            Remotes::load(tmp.path()),
            Err(ConfigError::BadLine { line: 1, .. })
        ));
    }
}
