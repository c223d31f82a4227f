//! Train once: a trained classifier is kept on disk, keyed by the SHA-256
//! of everything its training reads (the featurised examples and their
//! classes, the number of features, the training settings) and of the
//! training code itself, so a restart with the same plugins and training
//! data loads the model instead of training it again. Training is
//! deterministic, so the model loaded is the one training would give.
//!
//! A file is the magic, the SHA-256 of its payload, then the payload; one
//! whose hash does not match (a torn or damaged file) is discarded and the
//! model trained again. Files are written to a temporary name, then renamed,
//! so engines sharing the folder never read half a file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::NluSettings;
use super::classifier::Classifier;
use super::features::Sparse;

const MAGIC: &[u8; 8] = b"SBNLU001";

/// The code that turns training data into a model: a change to it changes
/// every key, so no model trained by other code is ever loaded.
const TRAINING_CODE: [&str; 4] = [
    include_str!("classifier.rs"),
    include_str!("mlp.rs"),
    include_str!("adagrad.rs"),
    include_str!("simd.rs"),
];

/// Where trained models are kept (the folder of the compiled plugins).
#[derive(Debug, Clone)]
pub struct ModelCache {
    dir: PathBuf,
}

/// A key: the SHA-256 of a training's inputs.
pub(super) type Key = [u8; 32];

impl ModelCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of training on `data` (features, class) with `classes`
    /// classes over `dims` features and the training settings of
    /// `settings`.
    pub(super) fn key(
        data: &[(Sparse, usize)],
        classes: usize,
        dims: usize,
        settings: &NluSettings,
    ) -> Key {
        let mut hash = Sha256::new();
        for code in TRAINING_CODE {
            hash.update((code.len() as u64).to_le_bytes());
            hash.update(code.as_bytes());
        }
        // Only the settings training reads (the feature settings show in
        // `data`; refusal and entity factors apply at prediction). Debug
        // prints every field, and each float in its shortest form that
        // reads back exactly.
        let settings = format!("{:?} {:?}", settings.train, settings.network);
        hash.update((settings.len() as u64).to_le_bytes());
        hash.update(settings.as_bytes());
        hash.update((classes as u64).to_le_bytes());
        hash.update((dims as u64).to_le_bytes());
        hash.update((data.len() as u64).to_le_bytes());
        for (x, class) in data {
            hash.update((*class as u64).to_le_bytes());
            hash.update((x.len() as u64).to_le_bytes());
            for &(i, v) in x {
                hash.update(i.to_le_bytes());
                hash.update(v.to_bits().to_le_bytes());
            }
        }
        hash.finalize().into()
    }

    fn path_for(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.nlu", hex::encode(key)))
    }

    /// The model stored under `key`, if there is an intact one.
    pub(super) fn load(&self, key: &Key) -> Option<Classifier> {
        let path = self.path_for(key);
        let bytes = std::fs::read(&path).ok()?;
        let model = (|| {
            let rest = bytes.strip_prefix(MAGIC.as_slice())?;
            let (digest, payload) = rest.split_at_checked(32)?;
            if Sha256::digest(payload).as_slice() != digest {
                return None;
            }
            let mut reader = Reader(payload);
            let model = Classifier::read(&mut reader)?;
            reader.0.is_empty().then_some(model)
        })();
        if model.is_none() {
            tracing::warn!(path = %path.display(), "discarding a damaged cached NLU model");
            let _ = std::fs::remove_file(&path);
        }
        model
    }

    /// Stores `model` under `key`.
    pub(super) fn store(&self, key: &Key, model: &Classifier) -> std::io::Result<()> {
        // A model is loaded as it is found: only its owner may write the
        // folder (the compiled plugins' folder, which is private too).
        crate::cache_file::private_dir(&self.dir)?;
        let mut payload = Vec::new();
        model.write(&mut payload);
        let mut bytes = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        crate::cache_file::write_atomically(&self.path_for(key), &bytes)?;
        self.prune(KEEP);
        Ok(())
    }

    /// Removes all but the `keep` most recently written models: each
    /// change of plugins or training data leaves a model behind, and one
    /// takes tens of megabytes.
    fn prune(&self, keep: usize) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut models: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "nlu"))
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        models.sort_by_key(|(written, _)| std::cmp::Reverse(*written));
        for (_, old) in models.into_iter().skip(keep) {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// Models kept in the folder.
const KEEP: usize = 4;

/// Appends `n` as a little-endian u64.
pub(super) fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

/// Appends `values`: their count, then each as little-endian bits.
pub(super) fn put_floats(out: &mut Vec<u8>, values: &[f32]) {
    put_len(out, values.len());
    for v in values {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Reads what `put_len` and `put_floats` wrote; `None` past the end.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    /// A length.
    pub(super) fn len(&mut self) -> Option<usize> {
        let bytes = self.take(8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(bytes)).ok()
    }

    /// A run of floats.
    pub(super) fn floats(&mut self) -> Option<Vec<f32>> {
        let n = self.len()?;
        let bytes = self.take(n.checked_mul(4)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::classifier::TrainSettings;
    use super::super::mlp::MlpSettings;
    use super::*;

    fn data() -> Vec<(Sparse, usize)> {
        (0..30u32)
            .map(|k| {
                let class = (k % 3) as usize;
                (vec![(class as u32, 1.0), (3 + k % 4, 0.5)], class)
            })
            .collect()
    }

    fn trained(data: &[(Sparse, usize)]) -> Classifier {
        let network = MlpSettings {
            hidden: 8,
            epochs: 3,
            networks: 2,
            ..MlpSettings::default()
        };
        Classifier::train(data, 3, 7, TrainSettings::default(), network)
    }

    fn only_file(dir: &Path) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    #[test]
    fn a_stored_model_loads_back_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path().join("models"));
        let data = data();
        let key = ModelCache::key(&data, 3, 7, &NluSettings::default());
        assert!(cache.load(&key).is_none(), "nothing stored yet");
        let model = trained(&data);
        cache.store(&key, &model).unwrap();
        let loaded = cache.load(&key).expect("stored");
        assert!(loaded == model, "the same weights");
        assert_eq!(loaded.predict(&data[0].0), model.predict(&data[0].0));
        assert_eq!(only_file(cache.dir()).extension().unwrap(), "nlu");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "the folder is private to its owner");
        }
    }

    #[test]
    fn the_key_covers_the_data_the_sizes_and_the_settings() {
        let data = data();
        let settings = NluSettings::default();
        let key = ModelCache::key(&data, 3, 7, &settings);
        assert_eq!(key, ModelCache::key(&data, 3, 7, &settings), "stable");
        let mut nudged = data.clone();
        nudged[5].0[1].1 = 0.500_001;
        let mut relabelled = data.clone();
        relabelled[5].1 = 0;
        let mut other = settings;
        other.network.networks = 2;
        let mut epochs = settings;
        epochs.train.epochs += 1;
        // Settings read only at prediction leave the model as it is.
        let mut refusal = settings;
        refusal.none_below = 0.9;
        refusal.missing_entity_factor = 0.1;
        refusal.unused_identifier_factor = 0.9;
        assert_eq!(
            key,
            ModelCache::key(&data, 3, 7, &refusal),
            "prediction settings"
        );
        for (what, changed) in [
            ("the training epochs", ModelCache::key(&data, 3, 7, &epochs)),
            ("a value", ModelCache::key(&nudged, 3, 7, &settings)),
            ("a class", ModelCache::key(&relabelled, 3, 7, &settings)),
            ("the features", ModelCache::key(&data, 3, 8, &settings)),
            ("the classes", ModelCache::key(&data, 4, 7, &settings)),
            ("a setting", ModelCache::key(&data, 3, 7, &other)),
            ("the examples", ModelCache::key(&data[1..], 3, 7, &settings)),
        ] {
            assert_ne!(key, changed, "{what}");
        }
    }

    #[test]
    fn only_the_newest_models_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let model = trained(&data());
        std::fs::write(dir.path().join("plugin.cwasm"), b"not a model").unwrap();
        for n in 0..(KEEP + 2) as u8 {
            cache.store(&[n; 32], &model).unwrap();
            // Distinct modification times, however coarse the clock.
            let written = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000_000 + u64::from(n));
            let file = std::fs::File::options()
                .write(true)
                .open(cache.path_for(&[n; 32]))
                .unwrap();
            file.set_modified(written).unwrap();
        }
        cache.prune(KEEP);
        for n in 0..(KEEP + 2) as u8 {
            let kept = n >= 2;
            assert_eq!(cache.path_for(&[n; 32]).exists(), kept, "model {n}");
        }
        assert!(dir.path().join("plugin.cwasm").exists(), "other files stay");
    }

    /// A damaged, truncated or foreign file is never loaded: it is
    /// removed, and the caller trains again.
    #[test]
    fn a_damaged_file_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let data = data();
        let key = ModelCache::key(&data, 3, 7, &NluSettings::default());
        let model = trained(&data);
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage); 4] = [
            ("a flipped bit", |b| {
                let last = b.len() - 1;
                b[last] ^= 1;
            }),
            ("truncated", |b| b.truncate(b.len() - 4)),
            ("another format", |b| b[..8].copy_from_slice(b"SBNLU999")),
            ("empty", |b| b.clear()),
        ];
        for (what, damage) in damages {
            cache.store(&key, &model).unwrap();
            let path = only_file(cache.dir());
            let mut bytes = std::fs::read(&path).unwrap();
            damage(&mut bytes);
            std::fs::write(&path, bytes).unwrap();
            assert!(cache.load(&key).is_none(), "{what}");
            assert!(!path.exists(), "{what}: the file is removed");
        }
    }

    /// A payload whose hash matches but whose shapes do not agree (written
    /// by a faulty writer) is refused rather than trusted.
    #[test]
    fn inconsistent_shapes_are_refused() {
        let mut payload = Vec::new();
        put_floats(&mut payload, &[0.0; 7]);
        put_floats(&mut payload, &[0.0; 3]);
        put_len(&mut payload, 0);
        assert!(
            Classifier::read(&mut Reader(&payload)).is_none(),
            "7 weights for 3 classes"
        );
        let mut payload = Vec::new();
        put_floats(&mut payload, &[0.0; 6]);
        put_floats(&mut payload, &[0.0; 3]);
        put_len(&mut payload, u64::MAX as usize);
        assert!(
            Classifier::read(&mut Reader(&payload)).is_none(),
            "networks that are not there"
        );
    }
}
