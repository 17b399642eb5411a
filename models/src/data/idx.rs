//! MNIST and Fashion-MNIST in the IDX format, gzip-compressed (`.gz`) or raw.
//!
//! An IDX file is a big-endian header then a flat `u8` array (last dimension fastest):
//! - images: magic `00 00 08 03` (0x803: unsigned bytes, 3 dims), then n, rows, cols as u32 BE
//!   (16 header bytes), then n * rows * cols pixels, image after image, row by row;
//! - labels: magic `00 00 08 01` (0x801: unsigned bytes, 1 dim), then n as u32 BE (8 header
//!   bytes), then n labels in 0..=9.
//!
//! Legend: N = images, R = rows (28), C = columns (28), S = output side (28 or 32).
//!
//! Every check the format allows is made (magic, exact length, matching counts, labels <= 9),
//! and each failure is a [`DataError`] naming the file and what is wrong.

use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use engine::{Device, Tensor};
use flate2::read::MultiGzDecoder;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Which half of the dataset: 60,000 training or 10,000 test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// File-name prefix: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
    /// `train-images-idx3-ubyte` / `t10k-images-idx3-ubyte` (without `.gz`).
    pub fn images_file(self) -> String {
        format!("{}-images-idx3-ubyte", self.prefix())
    }
    /// `train-labels-idx1-ubyte` / `t10k-labels-idx1-ubyte` (without `.gz`).
    pub fn labels_file(self) -> String {
        format!("{}-labels-idx1-ubyte", self.prefix())
    }
}

/// The two datasets sharing the IDX layout and file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

impl Dataset {
    /// Folder name under `shared/data/`: `mnist` or `fashion-mnist`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }
    /// Environment variable naming the folder: `MNIST_DIR` or `FASHION_MNIST_DIR`.
    pub fn env_var(self) -> &'static str {
        match self {
            Dataset::Mnist => "MNIST_DIR",
            Dataset::FashionMnist => "FASHION_MNIST_DIR",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Dataset::Mnist => "MNIST",
            Dataset::FashionMnist => "Fashion-MNIST",
        }
    }
    /// How to get the files, for error messages.
    fn how_to_get(self) -> String {
        let where_ = match self {
            Dataset::Mnist => "download them from MNIST's public distribution (http://yann.lecun.com/exdb/mnist/, or \
                               the mirror https://ossci-datasets.s3.amazonaws.com/mnist/)"
                .to_string(),
            Dataset::FashionMnist => "install Debian's package (`apt-get install dataset-fashion-mnist`, which puts them \
                                      in /usr/share/datasets/fashion-mnist) or download them from \
                                      https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)"
                .to_string(),
        };
        format!(
            "{} needs the four files {} (gzip-compressed or raw) in one folder: {where_}, then pass `--data DIR` or set {}=DIR",
            self.title(),
            ALL_FILES.join(", "),
            self.env_var()
        )
    }
}

/// The four file names of either dataset (the `.gz` form; the raw form drops `.gz`).
const ALL_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// What went wrong finding or reading the data. Each variant names the file (or the places
/// searched) and says what is wrong.
#[derive(Debug)]
pub enum DataError {
    /// `find_data_dir` found no folder; `looked` lists each place and why it was rejected.
    NotFound {
        dataset: Dataset,
        looked: Vec<String>,
    },
    /// Neither `name.gz` nor `name` exists in `dir`.
    MissingFile { dir: PathBuf, name: String },
    /// The file exists but could not be read.
    Io { path: PathBuf, source: io::Error },
    /// A `.gz` file whose gzip stream fails to decompress.
    Gzip { path: PathBuf, source: io::Error },
    /// The first four bytes are not the expected magic number.
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// Fewer bytes than the header promises (`part` is "header" or "payload"); byte counts are
    /// of the decompressed file.
    Truncated {
        path: PathBuf,
        part: &'static str,
        expected: usize,
        actual: usize,
    },
    /// More bytes than the header promises.
    TrailingBytes {
        path: PathBuf,
        expected: usize,
        actual: usize,
    },
    /// The images file and the labels file disagree on the item count.
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    /// A label outside 0..=9.
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::NotFound { dataset, looked } => {
                writeln!(f, "{} data not found. Looked in:", dataset.title())?;
                for l in looked {
                    writeln!(f, "  - {l}")?;
                }
                write!(f, "{}", dataset.how_to_get())
            }
            DataError::MissingFile { dir, name } => write!(
                f,
                "{}: missing file: neither {name}.gz nor {name} is there. MNIST and Fashion-MNIST folders hold the \
                 four files {} (gzip-compressed or raw); for Fashion-MNIST `apt-get install dataset-fashion-mnist`, \
                 for MNIST download the files from its public distribution",
                dir.display(),
                ALL_FILES.join(", ")
            ),
            DataError::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            DataError::Gzip { path, source } => {
                write!(f, "{}: the gzip stream fails to decompress: {source}", path.display())
            }
            DataError::BadMagic { path, found, expected } => {
                write!(f, "{}: bad magic number 0x{found:08x}, expected 0x{expected:08x}", path.display())?;
                match *expected {
                    IMAGES_MAGIC => write!(f, " (an IDX images file: unsigned bytes, 3 dimensions)")?,
                    LABELS_MAGIC => write!(f, " (an IDX labels file: unsigned bytes, 1 dimension)")?,
                    _ => {}
                }
                if found >> 16 == 0x1f8b {
                    write!(f, "; the file looks gzip-compressed: name it with a .gz suffix")?;
                }
                Ok(())
            }
            DataError::Truncated { path, part, expected, actual } => write!(
                f,
                "{}: truncated {part}: expected {expected} bytes (decompressed), found {actual}",
                path.display()
            ),
            DataError::TrailingBytes { path, expected, actual } => write!(
                f,
                "{}: {} bytes after the data: the header promises {expected} bytes (decompressed), found {actual}",
                path.display(),
                actual - expected
            ),
            DataError::CountMismatch { images, n_images, labels, n_labels } => write!(
                f,
                "count mismatch: {} holds {n_images} images but {} holds {n_labels} labels",
                images.display(),
                labels.display()
            ),
            DataError::BadLabel { path, index, label } => {
                write!(f, "{}: label {label} at index {index} is not a class in 0..=9", path.display())
            }
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } | DataError::Gzip { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One split of MNIST or Fashion-MNIST, as stored: pixels 0 (background) ..= 255 (ink).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    /// [N, R, C] row-major.
    pub images: Vec<u8>,
    /// [N], each in 0..=9.
    pub labels: Vec<u8>,
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` from `dir`
/// (prefix `train` or `t10k`), preferring the `.gz` file when both exist, and checks them.
pub fn load(dir: &Path, split: Split) -> Result<Mnist, DataError> {
    let images_path = pick_file(dir, &split.images_file())?;
    let labels_path = pick_file(dir, &split.labels_file())?;
    let (dims, images) = read_idx(&images_path, IMAGES_MAGIC)?;
    let (ldims, labels) = read_idx(&labels_path, LABELS_MAGIC)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    if ldims[0] != n {
        return Err(DataError::CountMismatch {
            images: images_path,
            n_images: n,
            labels: labels_path,
            n_labels: ldims[0],
        });
    }
    if let Some(index) = labels.iter().position(|&l| l > 9) {
        return Err(DataError::BadLabel {
            path: labels_path,
            index,
            label: labels[index],
        });
    }
    Ok(Mnist {
        images,
        labels,
        n,
        rows,
        cols,
    })
}

/// Finds the folder of `dataset`. Places, in order:
/// 1. `explicit` (the `--data DIR` flag), when given;
/// 2. the environment variable `MNIST_DIR` / `FASHION_MNIST_DIR`, when set and non-empty;
/// 3. `../shared/data/<mnist|fashion-mnist>` relative to the current directory;
/// 4. `../shared/data/<mnist|fashion-mnist>` relative to the workspace root (where this crate
///    was built);
/// 5. for Fashion-MNIST, `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).
///
/// A place qualifies when it is a folder holding at least one of the dataset's files (`load`
/// then reports any missing one by name). A flag or a set variable is authoritative: if it
/// does not qualify, that is the error (no silent fall-back to other data). The error lists
/// every place looked at and how to get the files.
pub fn find_data_dir(explicit: Option<&Path>, dataset: Dataset) -> Result<PathBuf, DataError> {
    let mut looked = Vec::new();
    if let Some(dir) = explicit {
        return check_dir(dir, "--data", &mut looked)
            .ok_or(DataError::NotFound { dataset, looked });
    }
    let var = dataset.env_var();
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => {
            let dir = PathBuf::from(v);
            return check_dir(&dir, &format!("${var}"), &mut looked)
                .ok_or(DataError::NotFound { dataset, looked });
        }
        None => looked.push(format!("${var} (not set)")),
    }
    let rel = Path::new("..")
        .join("shared")
        .join("data")
        .join(dataset.dir_name());
    let mut places = vec![(rel.clone(), "relative to the current directory".to_string())];
    if let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        places.push((
            root.join(&rel),
            "relative to the workspace root".to_string(),
        ));
    }
    if dataset == Dataset::FashionMnist {
        places.push((
            PathBuf::from("/usr/share/datasets/fashion-mnist"),
            "Debian's dataset-fashion-mnist".to_string(),
        ));
    }
    for (dir, what) in places {
        if let Some(found) = check_dir(&dir, &what, &mut looked) {
            return Ok(found);
        }
    }
    Err(DataError::NotFound { dataset, looked })
}

/// `dir` if it holds one of the dataset files; else records why not in `looked`.
fn check_dir(dir: &Path, what: &str, looked: &mut Vec<String>) -> Option<PathBuf> {
    let why = if !dir.is_dir() {
        "not a folder"
    } else if ALL_FILES
        .iter()
        .any(|gz| dir.join(gz).is_file() || dir.join(&gz[..gz.len() - 3]).is_file())
    {
        return Some(dir.to_path_buf());
    } else {
        "holds none of the four files"
    };
    looked.push(format!("{} ({what}): {why}", dir.display()));
    None
}

/// `dir/name.gz` if it exists, else `dir/name`, else a MissingFile error.
fn pick_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        name: name.to_string(),
    })
}

/// The whole file, decompressed when its name ends in `.gz`.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes: its dimensions and its payload (exactly their product).
fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = read_bytes(path)?;
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    let truncated = |part, expected| DataError::Truncated {
        path: path.to_path_buf(),
        part,
        expected,
        actual: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(truncated("header", header));
    }
    if be(0) != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: be(0),
            expected: magic,
        });
    }
    if bytes.len() < header {
        return Err(truncated("header", header));
    }
    let dims: Vec<usize> = (0..ndim).map(|d| be(4 + 4 * d) as usize).collect();
    // u32 dims multiplied in u128 cannot overflow; a header promising more than memory holds
    // is reported as truncated.
    let payload = dims.iter().map(|&d| d as u128).product::<u128>();
    let expected = usize::try_from(payload + header as u128).unwrap_or(usize::MAX);
    if bytes.len() < expected {
        return Err(truncated("payload", expected));
    }
    if bytes.len() > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            actual: bytes.len(),
        });
    }
    let mut bytes = bytes;
    bytes.drain(..header);
    Ok((dims, bytes))
}

impl Mnist {
    /// Image `i` [R, C].
    pub fn image(&self, i: usize) -> &[u8] {
        let px = self.rows * self.cols;
        &self.images[i * px..(i + 1) * px]
    }

    /// Images `range` as f32 [len, 1, S, S] (row-major) scaled to [-1, 1] (x / 255 * 2 - 1, as
    /// lab 3's `ToTensor` then `Normalize(0.5, 0.5)`), resized from R x C to S x S by
    /// [`resize_bilinear`] (identity when S x S = R x C; lab 3 uses S = 32).
    pub fn to_f32(&self, range: Range<usize>, size: usize) -> Vec<f32> {
        assert!(
            range.start <= range.end && range.end <= self.n,
            "Mnist::to_f32: range {range:?} outside the {} images",
            self.n
        );
        assert!(size > 0, "Mnist::to_f32: output size 0");
        let mut out = Vec::with_capacity(range.len() * size * size);
        for i in range {
            let img: Vec<f32> = self
                .image(i)
                .iter()
                .map(|&p| p as f32 / 255.0 * 2.0 - 1.0)
                .collect();
            out.extend(resize_bilinear(&img, self.rows, self.cols, size, size));
        }
        out
    }

    /// [`Mnist::to_f32`] uploaded: a tensor [len, 1, S, S] in [-1, 1].
    pub fn to_tensor(&self, dev: &Device, range: Range<usize>, size: usize) -> Tensor {
        let n = range.len();
        Tensor::from_vec(dev, self.to_f32(range, size), &[n, 1, size, size])
    }

    /// Number of images of each class 0..=9.
    pub fn class_counts(&self) -> [usize; 10] {
        let mut c = [0; 10];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// Bilinear resize of one image [h, w] to [oh, ow] on the CPU, with half-pixel centres
/// (PyTorch's `interpolate(mode="bilinear", align_corners=False)`, and PIL's bilinear when
/// enlarging): output pixel y samples the source at (y + 0.5) * h / oh - 0.5, clamped to
/// [0, h - 1], and likewise along x. Same size in and out is the identity.
pub fn resize_bilinear(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    assert!(
        src.len() == h * w && h > 0 && w > 0,
        "resize_bilinear: {} values for a [{h}, {w}] image",
        src.len()
    );
    // (lower index, upper index, weight of the upper) for each output coordinate.
    let taps = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        (0..n_out)
            .map(|o| {
                let s = ((o as f32 + 0.5) * n_in as f32 / n_out as f32 - 0.5)
                    .clamp(0.0, (n_in - 1) as f32);
                let lo = s.floor() as usize;
                (lo, (lo + 1).min(n_in - 1), s - lo as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, oh), taps(w, ow));
    let mut out = Vec::with_capacity(oh * ow); // out is [oh, ow]
    for &(y0, y1, wy) in &ty {
        for &(x0, x1, wx) in &tx {
            let top = src[y0 * w + x0] * (1.0 - wx) + src[y0 * w + x1] * wx;
            let bottom = src[y1 * w + x0] * (1.0 - wx) + src[y1 * w + x1] * wx;
            out.push(top * (1.0 - wy) + bottom * wy);
        }
    }
    out
}
