//! A local directory standing in for S3 in the embedded default.
//!
//! Puts are durable and atomic: the bytes go to a temporary file that is
//! fsynced, then hard-linked to the final name (which fails if the name
//! exists — create-only), then the directory is fsynced. A crash leaves
//! either no object or a whole one; stray temporary files are removed at
//! start-up.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectMeta, ObjectStore, StoreError};

const TMP_DIR: &str = ".tmp";

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        let tmp = root.join(TMP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(Self { root })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let bad = key.is_empty()
            || key.starts_with('/')
            || key.split('/').any(|part| part.is_empty() || part == "." || part == ".." || part == TMP_DIR);
        if bad {
            return Err(StoreError::NotFound { key: key.to_string() });
        }
        Ok(self.root.join(key))
    }
}

fn unavailable<'a>(operation: &'static str, key: &'a str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Unavailable { operation, key: key.to_string(), source }
}

fn join_error(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(e.to_string())
}

fn put_blocking(root: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = root.join(TMP_DIR).join(uuid::Uuid::new_v4().to_string());
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let parent = path.parent().expect("object keys have a parent");
        fs::create_dir_all(parent)?;
        fs::hard_link(&tmp, path)?;
        File::open(parent)?.sync_all()
    })();
    let _ = fs::remove_file(&tmp);
    result
}

fn read_range_blocking(path: &Path, range: Range<u64>) -> io::Result<Result<Vec<u8>, u64>> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    if range.start > range.end || range.end > size {
        return Ok(Err(size));
    }
    f.seek(SeekFrom::Start(range.start))?;
    let mut buf = vec![0u8; (range.end - range.start) as usize];
    f.read_exact(&mut buf)?;
    Ok(Ok(buf))
}

fn list_blocking(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
        if rel == TMP_DIR {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_dir() {
            // Descend only where the prefix can still match.
            let dir_prefix = format!("{rel}/");
            if prefix.starts_with(&dir_prefix) || dir_prefix.starts_with(prefix) {
                list_blocking(root, &path, prefix, out)?;
            }
        } else if rel.starts_with(prefix) {
            let modified = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
            out.push(ObjectMeta { key: rel, size_bytes: meta.len(), last_modified_ms: modified });
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        let result = tokio::task::spawn_blocking(move || put_blocking(&root, &path, &bytes))
            .await
            .map_err(join_error)
            .and_then(|r| r);
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::AlreadyExists { key: key.to_string() })
            }
            Err(e) => Err(unavailable("put", key)(e)),
        }
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        let r = range.clone();
        let result = tokio::task::spawn_blocking(move || read_range_blocking(&path, r))
            .await
            .map_err(join_error)
            .and_then(|r| r);
        match result {
            Ok(Ok(buf)) => Ok(Bytes::from(buf)),
            Ok(Err(size_bytes)) => {
                Err(StoreError::BadRange { key: key.to_string(), start: range.start, end: range.end, size_bytes })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound { key: key.to_string() }),
            Err(e) => Err(unavailable("get", key)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let root = self.root.clone();
        let p = prefix.to_string();
        let mut out = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            list_blocking(&root, &root, &p, &mut out).map(|_| out)
        })
        .await
        .map_err(join_error)
        .and_then(|r| r)
        .map_err(unavailable("list", prefix))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let result =
            tokio::task::spawn_blocking(move || fs::remove_file(&path)).await.map_err(join_error).and_then(|r| r);
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable("delete", key)(e)),
        }
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("objects")).unwrap();
        crate::object_store::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("objects")).unwrap();
        for key in ["../x", "/etc/passwd", "a//b", ".tmp/x", ""] {
            assert!(store.put_new(key, Bytes::from_static(b"x")).await.is_err(), "{key}");
        }
    }
}
