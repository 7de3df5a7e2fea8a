//! Validated file names and workspace-relative paths.
//!
//! Every name that enters Helios — from a decoded tree, a path given to the
//! VST, or a directory being captured — passes [`validate_name`], so a tree
//! can never name a file outside the directory it is materialized into.

use std::fmt;
use std::sync::Arc;

/// Longest name a tree entry may carry, in bytes. Matches the `u16` length
/// field of the encoding and is well above every filesystem's `NAME_MAX`.
pub const MAX_NAME_LEN: usize = u16::MAX as usize;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The empty string names nothing.
    #[error("empty name")]
    Empty,
    /// `.` and `..` would escape or alias a directory.
    #[error("`.` and `..` are not names")]
    Dot,
    /// A `/` inside a name would smuggle in a path.
    #[error("name contains `/`")]
    Slash,
    /// NUL cannot be passed to the operating system.
    #[error("name contains NUL")]
    Nul,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("name is {0} bytes long, the limit is {MAX_NAME_LEN}")]
    TooLong(usize),
    /// A path that starts with `/` is not relative to the workspace.
    #[error("path is absolute")]
    Absolute,
}

/// Checks one path component: not empty, not `.` or `..`, no `/`, no NUL,
/// at most [`MAX_NAME_LEN`] bytes.
pub fn validate_name(name: &[u8]) -> Result<(), NameError> {
    match name {
        [] => Err(NameError::Empty),
        b"." | b".." => Err(NameError::Dot),
        _ if name.len() > MAX_NAME_LEN => Err(NameError::TooLong(name.len())),
        _ if name.contains(&b'/') => Err(NameError::Slash),
        _ if name.contains(&0) => Err(NameError::Nul),
        _ => Ok(()),
    }
}

/// One validated path component. Names are bytes, not text: Unix file names
/// need not be UTF-8. Cheap to clone (shared), ordered by bytes as trees are.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<[u8]>);

impl Name {
    /// Validates and wraps a name.
    pub fn new(name: impl AsRef<[u8]>) -> Result<Self, NameError> {
        let name = name.as_ref();
        validate_name(name)?;
        Ok(Name(Arc::from(name)))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// A validated path relative to the workspace root: names joined by `/`,
/// none of them hostile, no leading or doubled `/`. The empty path is the
/// root itself.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(Vec<Name>);

impl RepoPath {
    /// The root directory.
    pub fn root() -> Self {
        RepoPath(Vec::new())
    }

    /// Parses `a/b/c`. A single trailing `/` is accepted (`src/` names the
    /// directory `src`); anything else hostile is an error.
    pub fn parse(path: impl AsRef<[u8]>) -> Result<Self, NameError> {
        let path = path.as_ref();
        if path.is_empty() {
            return Ok(Self::root());
        }
        if path.first() == Some(&b'/') {
            return Err(NameError::Absolute);
        }
        let path = path.strip_suffix(b"/").unwrap_or(path);
        path.split(|&b| b == b'/')
            .map(Name::new)
            .collect::<Result<_, _>>()
            .map(RepoPath)
    }

    /// Builds a path from already-validated names.
    pub fn from_names(names: impl IntoIterator<Item = Name>) -> Self {
        RepoPath(names.into_iter().collect())
    }

    /// The components, outermost first.
    pub fn names(&self) -> &[Name] {
        &self.0
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last component, `None` for the root.
    pub fn file_name(&self) -> Option<&Name> {
        self.0.last()
    }

    /// Everything but the last component (the root's parent is the root).
    pub fn parent(&self) -> RepoPath {
        RepoPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// This path with one more component.
    pub fn join(&self, name: Name) -> RepoPath {
        let mut names = self.0.clone();
        names.push(name);
        RepoPath(names)
    }

    /// The `/`-joined bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(name.as_bytes());
        }
        out
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl std::str::FromStr for RepoPath {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        assert_eq!(validate_name(b""), Err(NameError::Empty));
        assert_eq!(validate_name(b"."), Err(NameError::Dot));
        assert_eq!(validate_name(b".."), Err(NameError::Dot));
        assert_eq!(validate_name(b"a/b"), Err(NameError::Slash));
        assert_eq!(validate_name(b"a\0b"), Err(NameError::Nul));
        assert_eq!(
            validate_name(&vec![b'x'; MAX_NAME_LEN + 1]),
            Err(NameError::TooLong(65536))
        );
        assert_eq!(validate_name(b"..."), Ok(()));
        assert_eq!(validate_name(&[0xff, 0xfe]), Ok(()));
    }

    #[test]
    fn paths_parse_and_print() {
        let p = RepoPath::parse("src/lib.rs").unwrap();
        assert_eq!(p.names().len(), 2);
        assert_eq!(p.to_string(), "src/lib.rs");
        assert_eq!(p.file_name().unwrap().as_bytes(), b"lib.rs");
        assert_eq!(p.parent().to_string(), "src");
        assert_eq!(p.parent().parent(), RepoPath::root());
        assert_eq!(RepoPath::parse("src/").unwrap().to_string(), "src");
        assert!(RepoPath::parse("").unwrap().is_root());
        assert_eq!(RepoPath::parse("/etc/passwd"), Err(NameError::Absolute));
        assert_eq!(RepoPath::parse("a//b"), Err(NameError::Empty));
        assert_eq!(RepoPath::parse("a/../b"), Err(NameError::Dot));
        assert_eq!(
            "a/b"
                .parse::<RepoPath>()
                .unwrap()
                .join(Name::new("c").unwrap())
                .to_string(),
            "a/b/c"
        );
        assert_eq!(format!("{:?}", Name::new("x").unwrap()), "\"x\"");
    }
}
