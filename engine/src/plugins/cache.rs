//! Compile once: compiled components are cached on disk, keyed by the
//! SHA-256 of the `.wasm` and the engine's compatibility hash (which covers
//! the wasmtime version and the settings that shape machine code), so a
//! restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled artifacts live.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Whether a component came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from disk.
    Hit,
    /// Compiled now (and stored, if the folder was writable).
    Compiled,
}

fn engine_hash(engine: &Engine) -> u64 {
    // DefaultHasher::new() has fixed keys, so this is stable across runs of
    // the same binary, which is what the cache needs.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

impl CompileCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(wasm));
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", engine_hash(engine)))
    }

    /// Loads the compiled form of `wasm`, compiling and storing it on a miss.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let path = self.path_for(engine, wasm);
        if path.is_file() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash, into a folder owned
            // by this engine's operator; wasmtime still checks its header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unusable compiled plugin");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot cache compiled plugin");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> Result<(), Box<dyn std::error::Error>> {
        // Compiled code is run without further checks: only its owner may
        // write the folder.
        crate::cache_file::private_dir(&self.dir)?;
        crate::cache_file::write_atomically(path, &component.serialize()?)?;
        Ok(())
    }
}
