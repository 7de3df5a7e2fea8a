//! Overlay working directories (Linux): the lower layer is a read-only
//! materialization of a base tree, made once ([`OverlayBase::new`], after
//! checking that this process may mount overlayfs at all); a node's
//! directory is an overlayfs mount ([`OverlayBase::mount`]) whose upper
//! layer holds only the node's difference from the base. Every overlay
//! working directory is set up this way: the search's overlay mode,
//! `helios mount` and `helios bench`.
//!
//! The difference is applied through the mounted directory, so overlayfs
//! itself records it: changed files are full copies in the upper layer,
//! deletions are whiteouts (character devices 0/0), and a directory that
//! replaced a lower one is marked opaque (`trusted.overlay.opaque`, or
//! `user.overlay.opaque` when mounted with `userxattr` in a user namespace).
//! [`OverlayMount::capture`] reads those three things back from the upper
//! layer only, so its cost follows the difference, not the tree.
//!
//! Mount options: `redirect_dir=off` and `metacopy=off` keep every change
//! visible in the upper layer as one of the three forms above (a renamed
//! lower directory then fails with `EXDEV` and tools copy instead).
//! Not supported: ignore rules that a lower `.heliosignore` would apply to
//! untouched lower paths (a base tree is captured with its rules already).

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use helios_types::store::ObjectStore;
use helios_types::{EntryKind, Name, RepoPath};
use helios_vst::{Edit, Entry, LeafKind, Vst};
use rustix::mount::{MountFlags, UnmountFlags};

use super::apply::{Applier, empty_dir, materialize};
use super::content::{self, ChunkStore};
use super::error::{Result, WorkdirError};
use super::scan::{IgnoreStack, is_protected};
use super::{CaptureOptions, Captured, Report, fsx};

/// A mounted overlay working directory. Unmount it with
/// [`OverlayMount::unmount`]; dropping it unmounts lazily (detached).
#[derive(Debug)]
pub struct OverlayMount {
    merged: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    base: Vst,
    userxattr: bool,
    mounted: bool,
}

fn check_mount_path(path: &Path) -> Result<()> {
    if path
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b',' | b':' | b'\\'))
    {
        return Err(WorkdirError::BadMountPath {
            path: path.to_path_buf(),
            reason: "overlayfs paths may not contain `,`, `:` or `\\`",
        });
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| WorkdirError::io("resolve", path, e))
}

/// A base tree copied once as the read-only lower layer that the overlay
/// mounts of its nodes share.
#[derive(Debug, Clone)]
pub struct OverlayBase {
    lower: PathBuf,
    base: Vst,
}

impl OverlayBase {
    /// Makes sure `lower` holds a copy of `base`, after checking that this
    /// process may mount overlayfs when the copy is still to be made.
    ///
    /// The check mounts an empty overlay under `scratch` (which must be
    /// empty or missing, and is removed afterwards), so where mounting is
    /// not allowed this fails with [`WorkdirError::OverlayUnavailable`] (one
    /// line saying why) before anything is copied, and leaves nothing
    /// behind: fall back to plain mode. With the copy there already (a
    /// fork of n directories makes it once), the check is left to
    /// [`OverlayBase::mount`], which fails the same way: one mount per
    /// directory instead of three calls.
    ///
    /// A `lower` that exists is taken as the copy of `base` (name it after
    /// the base tree to share one copy between set-ups). Otherwise the copy
    /// is written beside it, to `lower` with `.partial` appended (what an
    /// interrupted copy left there is removed first), and renamed into
    /// place, so a `lower` that exists is whole. `progress(done, total)`
    /// counts the files copied.
    pub fn new(
        base: &Vst,
        blobs: &dyn ObjectStore,
        lower: &Path,
        scratch: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> Result<OverlayBase> {
        if !lower.exists() {
            // Only where a copy is at stake: with the copy there, mounting
            // fails with the same error the probe would give.
            probe(base, blobs, scratch)?;
            let mut partial = lower.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            if partial.exists() {
                fs::remove_dir_all(&partial)
                    .map_err(|e| WorkdirError::io("remove", &partial, e))?;
            }
            materialize(base, blobs, &partial, &|_| true, progress)?;
            fs::rename(&partial, lower).map_err(|e| WorkdirError::io("rename", &partial, e))?;
        }
        Ok(OverlayBase {
            lower: lower.to_path_buf(),
            base: base.clone(),
        })
    }

    /// Mounts `node` at `merged` (made if missing) over the base copy:
    /// overlayfs with `scratch/upper` and `scratch/work` (made here, must be
    /// empty) as upper and work directories, and `base.diff(node)` applied
    /// through the mount with bytes from `node`/`blobs`, so the upper layer
    /// holds exactly the node's difference from the base.
    pub fn mount(
        &self,
        node: &Vst,
        blobs: &dyn ObjectStore,
        scratch: &Path,
        merged: &Path,
    ) -> Result<OverlayMount> {
        let mounted = OverlayMount::create(&self.lower, &self.base, node, blobs, scratch, merged);
        if let Err(WorkdirError::OverlayUnavailable { .. }) = &mounted {
            // Nothing was mounted: take back the empty layers made for it
            // (`remove_dir` removes only empty directories), as the probe
            // leaves nothing behind.
            for dir in [
                scratch.join("upper"),
                scratch.join("work"),
                scratch.to_path_buf(),
            ] {
                let _ = fs::remove_dir(dir);
            }
        }
        mounted
    }

    /// The lower layer: the copy of the base tree.
    pub fn lower(&self) -> &Path {
        &self.lower
    }

    /// The base tree the lower layer holds.
    pub fn base(&self) -> &Vst {
        &self.base
    }
}

/// Mounts an empty overlay under `scratch` and takes it down again: fails
/// with [`WorkdirError::OverlayUnavailable`] where this process may not
/// mount overlayfs. `scratch` must be empty or missing; it is removed
/// afterwards, whatever the outcome.
fn probe(base: &Vst, blobs: &dyn ObjectStore, scratch: &Path) -> Result<()> {
    empty_dir(scratch)?;
    let lower = scratch.join("lower");
    let probed = fs::create_dir(&lower)
        .map_err(|e| WorkdirError::io("create directory", &lower, e))
        .and_then(|()| {
            // The empty tree against itself: nothing is read from `blobs`.
            let empty = Vst::new(base.algorithm());
            let merged = scratch.join("merged");
            OverlayMount::create(&lower, &empty, &empty, blobs, scratch, &merged)?.unmount()
        });
    let removed = fs::remove_dir_all(scratch).map_err(|e| WorkdirError::io("remove", scratch, e));
    probed.and(removed)
}

impl OverlayMount {
    /// Mounts overlayfs at `merged` with `lower` (a materialization of
    /// `base`) as the lower layer and `scratch/upper`, `scratch/work` (made
    /// here, must be empty) as upper and work directories, then applies
    /// `base.diff(node)` through the mount with bytes from `node`/`blobs`.
    ///
    /// Fails with [`WorkdirError::OverlayUnavailable`] (one line saying why)
    /// when this process may not mount overlayfs; fall back to plain mode.
    /// Callers outside this crate set up through [`OverlayBase`].
    pub(crate) fn create(
        lower: &Path,
        base: &Vst,
        node: &Vst,
        blobs: &dyn ObjectStore,
        scratch: &Path,
        merged: &Path,
    ) -> Result<OverlayMount> {
        let _span = tracing::info_span!("overlay_create", merged = %merged.display()).entered();
        let upper = scratch.join("upper");
        let work = scratch.join("work");
        empty_dir(&upper)?;
        empty_dir(&work)?;
        fs::create_dir_all(merged).map_err(|e| WorkdirError::io("create directory", merged, e))?;
        let (lower, upper, work, merged) = (
            absolute(lower)?,
            absolute(&upper)?,
            absolute(&work)?,
            absolute(merged)?,
        );
        for p in [&lower, &upper, &work, &merged] {
            check_mount_path(p)?;
        }
        let userxattr = !rustix::process::geteuid().is_root();
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off",
            lower.display(),
            upper.display(),
            work.display()
        );
        if userxattr {
            data.push_str(",userxattr");
        }
        let data = CString::new(data).map_err(|_| WorkdirError::BadMountPath {
            path: lower.clone(),
            reason: "path contains NUL",
        })?;
        match rustix::mount::mount(
            "overlay",
            &merged,
            "overlay",
            // A snapshot is data: set-uid bits and device nodes in it
            // grant nothing.
            MountFlags::NOSUID | MountFlags::NODEV,
            data.as_c_str(),
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
                return Err(WorkdirError::OverlayUnavailable {
                    reason: "mounting overlayfs is not permitted (EPERM): run as root or inside a user namespace (unshare -Urm)"
                        .to_owned(),
                });
            }
            Err(rustix::io::Errno::NODEV) => {
                return Err(WorkdirError::OverlayUnavailable {
                    reason: "this kernel has no overlayfs (ENODEV)".to_owned(),
                });
            }
            Err(e) => return Err(WorkdirError::io("mount overlay", &merged, e.into())),
        }
        let mut mount = OverlayMount {
            merged,
            upper,
            work,
            base: base.clone(),
            userxattr,
            mounted: true,
        };
        if let Err(e) = mount.apply(node, blobs) {
            if let Err(un) = mount.umount() {
                tracing::warn!(%un, "unmounting after a failed overlay create");
            }
            return Err(e);
        }
        Ok(mount)
    }

    fn apply(&self, node: &Vst, blobs: &dyn ObjectStore) -> Result<()> {
        let changes = self.base.diff(node)?;
        let root =
            fsx::open_root(&self.merged).map_err(|e| WorkdirError::io("open", &self.merged, e))?;
        let mut applier = Applier {
            root: root.as_fd(),
            dir: &self.merged,
            to: node,
            blobs,
            fail_after_ops: None,
            progress: &|_, _| {},
            report: Report::default(),
            ops: 0,
            written: Vec::new(),
            rewrite_in_place: false,
        };
        applier.apply(&changes, None)
    }

    /// The working directory (the merged view).
    pub fn merged(&self) -> &Path {
        &self.merged
    }

    /// The upper layer: only the node's difference.
    pub fn upper(&self) -> &Path {
        &self.upper
    }

    /// The base tree the lower layer holds.
    pub fn base(&self) -> &Vst {
        &self.base
    }

    /// Reads the node back: the base tree plus the edits the upper layer
    /// holds (changed and added leaves with their bytes pending, whiteouts
    /// as deletions, opaque directories as replaced ones). A large file's
    /// chunks are written to `store` as it is read.
    pub fn capture(&self, options: &CaptureOptions, store: &dyn ChunkStore) -> Result<Captured> {
        let _span =
            tracing::info_span!("overlay_capture", merged = %self.merged.display()).entered();
        let mut scan = UpperScan {
            mount: self,
            store,
            options,
            report: Report::default(),
            edits: Vec::new(),
            ignores: IgnoreStack::default(),
        };
        let listing = self.base.list(&RepoPath::root())?;
        let upper =
            fsx::open_root(&self.upper).map_err(|e| WorkdirError::io("open", &self.upper, e))?;
        let merged =
            fsx::open_root(&self.merged).map_err(|e| WorkdirError::io("open", &self.merged, e))?;
        scan.dir(
            upper.as_fd(),
            merged.as_fd(),
            &mut Vec::new(),
            Some(listing),
        )?;
        scan.report.edits = scan.edits.len() as u64;
        let tree = self.base.apply(&scan.edits)?;
        Ok(Captured {
            tree,
            report: scan.report,
        })
    }

    fn umount(&mut self) -> Result<()> {
        if self.mounted {
            rustix::mount::unmount(&self.merged, UnmountFlags::empty())
                .map_err(|e| WorkdirError::io("unmount overlay", &self.merged, e.into()))?;
            self.mounted = false;
        }
        Ok(())
    }

    /// Unmounts and removes the upper and work directories.
    pub fn unmount(mut self) -> Result<()> {
        self.umount()?;
        for dir in [&self.upper, &self.work] {
            fs::remove_dir_all(dir).map_err(|e| WorkdirError::io("remove", dir, e))?;
        }
        Ok(())
    }

    /// Takes up an overlay left mounted by [`OverlayMount::keep_mounted`]
    /// (by another process, say) to capture it: `merged` must be an overlay
    /// whose upper directory is `scratch/upper` (else
    /// [`WorkdirError::NotOurMount`]), and `base` the tree its lower layer
    /// holds. Dropping the value leaves the overlay mounted.
    pub fn attach(merged: &Path, scratch: &Path, base: Vst) -> Result<OverlayMount> {
        let options = ours_mounted(merged, scratch)?;
        Ok(OverlayMount {
            merged: absolute(merged)?,
            upper: absolute(&scratch.join("upper"))?,
            work: absolute(&scratch.join("work"))?,
            base,
            userxattr: options.split(|&b| b == b',').any(|o| o == b"userxattr"),
            mounted: false,
        })
    }

    /// Leaves the overlay mounted after this value is gone (for a command
    /// line that mounts in one process and unmounts in another with
    /// [`unmount_dir`]).
    pub fn keep_mounted(mut self) {
        self.mounted = false;
    }
}

/// Unmounts an overlay working directory left mounted by
/// [`OverlayMount::keep_mounted`], then removes `scratch` (its upper and
/// work directories).
///
/// Only an overlay whose upper directory is `scratch/upper` is unmounted:
/// the mount table (`/proc/self/mountinfo`) must say so, else
/// [`WorkdirError::NotOurMount`] and nothing is touched.
pub fn unmount_dir(merged: &Path, scratch: &Path) -> Result<()> {
    ours_mounted(merged, scratch)?;
    rustix::mount::unmount(merged, UnmountFlags::empty())
        .map_err(|e| WorkdirError::io("unmount", merged, e.into()))?;
    if scratch.exists() {
        fs::remove_dir_all(scratch).map_err(|e| WorkdirError::io("remove", scratch, e))?;
    }
    Ok(())
}

/// Checks in the mount table (`/proc/self/mountinfo`) that `merged` is an
/// overlay whose upper directory is `scratch/upper`, and returns its
/// super-block options; [`WorkdirError::NotOurMount`] otherwise.
fn ours_mounted(merged: &Path, scratch: &Path) -> Result<Vec<u8>> {
    let not_ours = || WorkdirError::NotOurMount {
        path: merged.to_path_buf(),
    };
    let (Ok(mount_point), Ok(upper)) = (absolute(merged), absolute(&scratch.join("upper"))) else {
        return Err(not_ours());
    };
    let table = fs::read("/proc/self/mountinfo")
        .map_err(|e| WorkdirError::io("read", "/proc/self/mountinfo", e))?;
    mounted_overlay(&table, &mount_point, &upper).ok_or_else(not_ours)
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted
            && let Err(e) = rustix::mount::unmount(&self.merged, UnmountFlags::DETACH)
        {
            tracing::warn!(merged = %self.merged.display(), %e, "lazy unmount of an overlay failed");
        }
    }
}

struct UpperScan<'a> {
    mount: &'a OverlayMount,
    /// Where a large file's chunks go as it is read.
    store: &'a dyn ChunkStore,
    options: &'a CaptureOptions,
    report: Report,
    edits: Vec<Edit>,
    ignores: IgnoreStack,
}

impl UpperScan<'_> {
    fn opaque(&self, path: &Path) -> Result<bool> {
        let names: &[&str] = if self.mount.userxattr {
            &["user.overlay.opaque"]
        } else {
            &["trusted.overlay.opaque", "user.overlay.opaque"]
        };
        for name in names {
            let mut buf = [0u8; 8];
            match rustix::fs::lgetxattr(path, *name, &mut buf[..]) {
                Ok(n) => return Ok(buf.get(..n) == Some(b"y".as_slice())),
                Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => {}
                Err(e) => return Err(WorkdirError::io("read xattr", path, e.into())),
            }
        }
        Ok(false)
    }

    /// Walks one directory of the upper layer (open as `upper`), with the
    /// same directory of the mount (open as `merged`) for its ignore rules.
    fn dir(
        &mut self,
        upper: BorrowedFd<'_>,
        merged: BorrowedFd<'_>,
        names: &mut Vec<Name>,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<()> {
        let rel_dir = RepoPath::from_names(names.iter().cloned());
        if names.len() >= helios_vst::MAX_DEPTH {
            return Err(WorkdirError::TooDeep { path: rel_dir });
        }
        let upper_path = fsx::disk_path(&self.mount.upper, &rel_dir);
        let merged_path = fsx::disk_path(&self.mount.merged, &rel_dir);
        self.ignores
            .push(merged, &merged_path, self.options.gitignore, None);
        let result = self.entries(
            upper,
            merged,
            names,
            &upper_path,
            &merged_path,
            base_listing,
        );
        self.ignores.pop();
        result
    }

    fn entries(
        &mut self,
        upper: BorrowedFd<'_>,
        merged: BorrowedFd<'_>,
        names: &mut Vec<Name>,
        upper_path: &Path,
        merged_path: &Path,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<()> {
        let base: std::collections::BTreeMap<Name, Entry> =
            base_listing.unwrap_or_default().into_iter().collect();
        let mut raw_names =
            fsx::list_dir(upper).map_err(|e| WorkdirError::io("read directory", upper_path, e))?;
        raw_names.sort();
        for raw in raw_names {
            let os = std::ffi::OsStr::from_bytes(&raw);
            let (up, mp) = (upper_path.join(os), merged_path.join(os));
            let name = Name::new(&raw).map_err(|source| WorkdirError::BadName {
                path: up.clone(),
                source,
            })?;
            let Some(st) =
                fsx::lstat_at(upper, &raw).map_err(|e| WorkdirError::io("stat", &up, e))?
            else {
                continue;
            };
            names.push(name.clone());
            let rel = RepoPath::from_names(names.iter().cloned());
            let base_entry = base.get(&name).copied();
            let skip = is_protected(&self.options.protected, rel.names())
                || self.ignores.ignored(&mp, fsx::is_dir(&st));
            let outcome = if skip {
                Ok(())
            } else {
                self.entry(upper, merged, names, &rel, &up, &st, base_entry)
            };
            names.pop();
            outcome?;
        }
        Ok(())
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one entry's context in both layers"
    )]
    fn entry(
        &mut self,
        upper: BorrowedFd<'_>,
        merged: BorrowedFd<'_>,
        names: &mut Vec<Name>,
        rel: &RepoPath,
        up: &Path,
        st: &rustix::fs::Stat,
        base_entry: Option<Entry>,
    ) -> Result<()> {
        use rustix::fs::FileType;
        let name = names.last().expect("entry has a name").as_bytes().to_vec();
        let file_type = FileType::from_raw_mode(st.st_mode);
        if file_type == FileType::CharacterDevice && st.st_rdev == 0 {
            if base_entry.is_some() {
                self.edits.push(Edit::delete_tree(rel.clone()));
            }
            return Ok(());
        }
        if file_type == FileType::Directory {
            let changed = || WorkdirError::Changed { path: up.into() };
            let sub_upper = fsx::open_dir_like(upper, &name, st)
                .map_err(|e| WorkdirError::io("open directory", up, e))?
                .ok_or_else(changed)?;
            let sub_merged = fsx::enter_dir(merged, &name, false)
                .map_err(|e| WorkdirError::io("open directory", up, e))?
                .ok_or_else(changed)?;
            let base_dir = base_entry.is_some_and(|e| e.kind == EntryKind::Dir);
            if base_dir && !self.opaque(up)? {
                let listing = self.mount.base.list(rel)?;
                return self.dir(sub_upper.as_fd(), sub_merged.as_fd(), names, Some(listing));
            }
            if base_entry.is_some() {
                self.edits.push(Edit::delete_tree(rel.clone()));
            }
            self.edits.push(Edit::make_dir(rel.clone()));
            return self.dir(sub_upper.as_fd(), sub_merged.as_fd(), names, None);
        }
        let kind = match file_type {
            FileType::Symlink => LeafKind::Symlink,
            FileType::RegularFile if st.st_mode & 0o100 != 0 => LeafKind::Executable,
            FileType::RegularFile => LeafKind::File,
            _ => {
                self.report.skipped += 1;
                return Ok(());
            }
        };
        self.leaf(upper, &name, kind, rel, up, st, base_entry)
    }

    /// A file or symlink in the upper layer: an edit unless it holds what
    /// the base has at `rel`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one entry's context in both layers"
    )]
    fn leaf(
        &mut self,
        upper: BorrowedFd<'_>,
        name: &[u8],
        kind: LeafKind,
        rel: &RepoPath,
        up: &Path,
        st: &rustix::fs::Stat,
        base_entry: Option<Entry>,
    ) -> Result<()> {
        self.report.files_scanned += 1;
        let stat = super::state::FileStat::from_rustix(st);
        if stat.size > self.options.max_file_size {
            return Err(WorkdirError::FileTooLarge {
                path: up.into(),
                size: stat.size,
                limit: self.options.max_file_size,
            });
        }
        let alg = self.mount.base.algorithm();
        let read = content::read_leaf(upper, name, kind, &stat, alg, Some(self.store))
            .map_err(|e| e.into_workdir(rel, up))?
            .ok_or_else(|| WorkdirError::Changed { path: up.into() })?;
        self.report.files_hashed += 1;
        self.report.bytes_hashed += read.size;
        self.report.objects_stored += read.stored.0;
        self.report.bytes_stored += read.stored.1;
        let hash = read.hash;
        if base_entry.is_some_and(|b| b.kind == kind.entry_kind() && b.hash == hash) {
            return Ok(());
        }
        if base_entry.is_some_and(|b| b.kind == EntryKind::Dir) {
            self.edits.push(Edit::delete_tree(rel.clone()));
        }
        self.edits.push(read.edit(rel.clone(), kind, false));
        Ok(())
    }
}

/// Whether `mountinfo` (the kernel's mount table, proc(5)) lists an overlay
/// mounted at `mount_point` with `upper` as its upper directory.
fn mounted_overlay(mountinfo: &[u8], mount_point: &Path, upper: &Path) -> Option<Vec<u8>> {
    let want_upper = [b"upperdir=".as_slice(), upper.as_os_str().as_bytes()].concat();
    mountinfo.split(|&b| b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        // id parent dev root mount-point options [optional...] - type source super-options
        let dash = fields.iter().position(|f| *f == b"-")?;
        let (point, fstype, options) =
            (fields.get(4)?, fields.get(dash + 1)?, fields.get(dash + 3)?);
        let ours = *fstype == b"overlay"
            && unescape_octal(point) == mount_point.as_os_str().as_bytes()
            && options
                .split(|&b| b == b',')
                .any(|o| unescape_octal(o) == want_upper);
        ours.then(|| options.to_vec())
    })
}

/// Undoes the kernel's `\ooo` escapes of space, tab, newline and backslash
/// in mount table fields.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field.get(i + 1..i + 4);
        match digits {
            Some(d) if field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) => {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod mount_table_tests {
    use super::*;

    #[test]
    fn only_our_overlay_at_the_mount_point_counts() {
        let table = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
            90 30 0:50 / /tmp/my\\040dir rw,nosuid,nodev - overlay overlay \
            rw,lowerdir=/s/lower,upperdir=/s/m/upper,workdir=/s/m/work\n\
            91 30 0:51 / /tmp/other rw - tmpfs tmpfs rw\n";
        let ours = Path::new("/s/m/upper");
        let options = mounted_overlay(table, Path::new("/tmp/my dir"), ours);
        assert_eq!(
            options.as_deref(),
            Some(b"rw,lowerdir=/s/lower,upperdir=/s/m/upper,workdir=/s/m/work".as_slice())
        );
        let other_upper = Path::new("/x/upper");
        assert!(mounted_overlay(table, Path::new("/tmp/my dir"), other_upper).is_none());
        for point in ["/tmp/other", "/proc", "/tmp/nothing"] {
            assert!(
                mounted_overlay(table, Path::new(point), ours).is_none(),
                "{point}"
            );
        }
    }
}
