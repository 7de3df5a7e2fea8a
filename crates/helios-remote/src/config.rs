//! [`Remotes`]: the remotes a store knows by name, kept in the store's
//! `remotes` file, one `NAME URL` line each (a name is a single word, a URL
//! has no spaces); at most one line ends with ` read-through`, the remote
//! the store reads what it lacks from ([`crate::ReadThrough`]). The file is
//! replaced whole (written beside it, then renamed), so a crash leaves the
//! old list or the new one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The file's name in the store directory.
pub const REMOTES_FILE: &str = "remotes";
/// The directory, in the store directory, of each remote's pack indexes
/// read so far (see [`Remote::with_index_cache`](crate::Remote::with_index_cache)).
pub const INDEX_CACHE_DIR: &str = "remote-indexes";
/// The word that marks the remote read through.
const READ_THROUGH: &str = "read-through";

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
    /// A line that is not `NAME URL` or `NAME URL read-through`, or a
    /// second remote read through.
    #[error("{}:{line}: not a `NAME URL [read-through]` line", path.display())]
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
    read_through: Option<String>,
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
        let mut read_through = None;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || ConfigError::BadLine {
                path: path.clone(),
                line: i + 1,
            };
            let mut words = line.split(' ');
            let (Some(name), Some(url)) = (words.next(), words.next()) else {
                return Err(bad());
            };
            match (words.next(), words.next()) {
                (None, _) => {}
                (Some(READ_THROUGH), None) if read_through.is_none() => {
                    read_through = Some(name.to_owned());
                }
                _ => return Err(bad()),
            }
            urls.insert(name.to_owned(), url.to_owned());
        }
        Ok(Remotes {
            path,
            urls,
            read_through,
        })
    }

    /// The remote the store reads what it lacks from, if any: its name and
    /// URL.
    pub fn read_through(&self) -> Option<(&str, &str)> {
        let name = self.read_through.as_deref()?;
        Some((name, self.urls.get(name)?.as_str()))
    }

    /// Makes remote `name` the one read through (`None`: none) and saves
    /// the list.
    pub fn set_read_through(&mut self, name: Option<&str>) -> Result<(), ConfigError> {
        if let Some(name) = name {
            self.url(name)?;
        }
        self.read_through = name.map(str::to_owned);
        self.save()
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
        if self.read_through.as_deref() == Some(name) {
            self.read_through = None;
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
            if self.read_through.as_deref() == Some(name.as_str()) {
                writeln!(file, "{name} {url} {READ_THROUGH}").map_err(io)?;
            } else {
                writeln!(file, "{name} {url}").map_err(io)?;
            }
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
        assert_eq!(remotes.read_through(), None);
        remotes.set_read_through(Some("b-2")).unwrap();
        let loaded = Remotes::load(tmp.path()).unwrap();
        assert_eq!(loaded.read_through(), Some(("b-2", "file:///srv/other")));
        assert!(matches!(
            remotes.set_read_through(Some("nope")),
            Err(ConfigError::Unknown(_))
        ));
        remotes.remove("b-2").unwrap();
        assert_eq!(Remotes::load(tmp.path()).unwrap().read_through(), None);
        for bad in [
            "just-a-name\n",
            "a file:///x read-through\nb file:///y read-through\n",
            "a file:///x lazily\n",
        ] {
            std::fs::write(tmp.path().join(REMOTES_FILE), bad).unwrap();
            assert!(
                matches!(Remotes::load(tmp.path()), Err(ConfigError::BadLine { .. })),
                "{bad:?}"
            );
        }
        std::fs::write(tmp.path().join(REMOTES_FILE), "just-a-name\n").unwrap();
        assert!(matches!(
            Remotes::load(tmp.path()),
            Err(ConfigError::BadLine { line: 1, .. })
        ));
    }
}
