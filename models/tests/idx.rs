//! The IDX reader: small files written here (raw and gzip) read back exactly, every malformed
//! case rejected with a message naming the file and the fault, and the real MNIST test split
//! when `shared/data/mnist` is present.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use models::data::{find_data_dir, load, resize_bilinear, Dataset, Mnist, Split};

/// A fresh, empty temp folder unique to this test process and `name`.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("models-idx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// IDX images bytes: magic 0x803, n, rows, cols, pixels.
fn images_idx(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend(d.to_be_bytes());
    }
    b.extend(pixels);
    b
}

/// IDX labels bytes: magic 0x801, n, labels.
fn labels_idx(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// 3 images 28x28 with pixel (i, r, c) = (i * 31 + r * 7 + c) % 256, labels 7, 0, 9.
fn sample() -> (Vec<u8>, Vec<u8>) {
    let px = (0..3 * 28 * 28).map(|k| {
        let (i, r, c) = (k / 784, k / 28 % 28, k % 28);
        ((i * 31 + r * 7 + c) % 256) as u8
    });
    (px.collect(), vec![7, 0, 9])
}

/// Writes the test split's two files into `dir`, gzipped or raw.
fn write_split(dir: &Path, images: &[u8], labels: &[u8], gz: bool) {
    let (ext, f): (&str, fn(&[u8]) -> Vec<u8>) = if gz {
        (".gz", gzip)
    } else {
        ("", |b| b.to_vec())
    };
    std::fs::write(dir.join(format!("t10k-images-idx3-ubyte{ext}")), f(images)).unwrap();
    std::fs::write(dir.join(format!("t10k-labels-idx1-ubyte{ext}")), f(labels)).unwrap();
}

fn load_err(dir: &Path) -> String {
    load(dir, Split::Test)
        .expect_err("malformed data must be rejected")
        .to_string()
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

#[test]
fn raw_files_read_back_exactly() {
    let dir = temp_dir("raw");
    let (px, lb) = sample();
    write_split(&dir, &images_idx(3, 28, 28, &px), &labels_idx(&lb), false);
    let m = load(&dir, Split::Test).unwrap();
    assert_eq!(
        m,
        Mnist {
            images: px.clone(),
            labels: lb,
            n: 3,
            rows: 28,
            cols: 28
        }
    );
    assert_eq!(m.image(2), &px[2 * 784..]);
}

#[test]
fn gzip_files_read_back_exactly_and_win_over_raw() {
    let dir = temp_dir("gz");
    let (px, lb) = sample();
    write_split(&dir, &images_idx(3, 28, 28, &px), &labels_idx(&lb), true);
    // Raw files of different content beside them: the .gz ones must be the ones read.
    write_split(
        &dir,
        &images_idx(1, 28, 28, &[0; 784]),
        &labels_idx(&[1]),
        false,
    );
    let m = load(&dir, Split::Test).unwrap();
    assert_eq!((m.n, m.rows, m.cols), (3, 28, 28));
    assert_eq!(m.images, px);
    assert_eq!(m.labels, vec![7, 0, 9]);
    assert_eq!(m.class_counts(), [1, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
}

#[test]
fn missing_labels_file_names_it_and_how_to_get_it() {
    let dir = temp_dir("missing");
    let (px, _) = sample();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        images_idx(3, 28, 28, &px),
    )
    .unwrap();
    let msg = load_err(&dir);
    assert_has(
        &msg,
        &[
            "missing file",
            "t10k-labels-idx1-ubyte.gz",
            "apt-get install dataset-fashion-mnist",
            "download",
        ],
    );
    assert_has(&msg, &[&dir.display().to_string()]);
}

#[test]
fn labels_file_given_as_images_reports_bad_magic_found_and_expected() {
    let dir = temp_dir("magic");
    write_split(
        &dir,
        &labels_idx(&[1, 2, 3]),
        &labels_idx(&[1, 2, 3]),
        false,
    );
    let msg = load_err(&dir);
    assert_has(
        &msg,
        &[
            "t10k-images-idx3-ubyte",
            "bad magic number 0x00000801, expected 0x00000803",
        ],
    );
}

#[test]
fn gzip_data_without_gz_suffix_says_so() {
    let dir = temp_dir("gzsuffix");
    let (px, lb) = sample();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        gzip(&images_idx(3, 28, 28, &px)),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels_idx(&lb)).unwrap();
    assert_has(
        &load_err(&dir),
        &[
            "t10k-images-idx3-ubyte",
            "bad magic number 0x1f8b",
            "gzip-compressed",
        ],
    );
}

#[test]
fn truncated_images_payload_reports_expected_and_actual_bytes() {
    let dir = temp_dir("trunc");
    let (px, lb) = sample();
    // Header promises 3 images (16 + 2352 = 2368 bytes); only 2000 pixel bytes follow.
    write_split(
        &dir,
        &images_idx(3, 28, 28, &px[..2000]),
        &labels_idx(&lb),
        true,
    );
    let msg = load_err(&dir);
    assert_has(
        &msg,
        &[
            "t10k-images-idx3-ubyte.gz",
            "truncated payload",
            "expected 2368 bytes",
            "found 2016",
        ],
    );
}

#[test]
fn truncated_header_is_reported() {
    let dir = temp_dir("trunchead");
    let (px, _) = sample();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        images_idx(3, 28, 28, &px),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0]).unwrap();
    assert_has(
        &load_err(&dir),
        &[
            "t10k-labels-idx1-ubyte",
            "truncated header",
            "expected 8 bytes",
            "found 6",
        ],
    );
}

#[test]
fn extra_bytes_after_the_payload_are_reported() {
    let dir = temp_dir("trailing");
    let (px, lb) = sample();
    let mut labels = labels_idx(&lb);
    labels.extend([0, 0]);
    write_split(&dir, &images_idx(3, 28, 28, &px), &labels, false);
    assert_has(
        &load_err(&dir),
        &[
            "t10k-labels-idx1-ubyte",
            "2 bytes after the data",
            "promises 11 bytes",
            "found 13",
        ],
    );
}

#[test]
fn images_and_labels_count_mismatch_names_both_files() {
    let dir = temp_dir("count");
    let (px, _) = sample();
    write_split(
        &dir,
        &images_idx(3, 28, 28, &px),
        &labels_idx(&[1, 2]),
        false,
    );
    let msg = load_err(&dir);
    assert_has(
        &msg,
        &[
            "count mismatch",
            "t10k-images-idx3-ubyte",
            "3 images",
            "t10k-labels-idx1-ubyte",
            "2 labels",
        ],
    );
}

#[test]
fn label_above_nine_is_rejected_with_its_index() {
    let dir = temp_dir("label");
    let (px, _) = sample();
    write_split(
        &dir,
        &images_idx(3, 28, 28, &px),
        &labels_idx(&[1, 12, 3]),
        false,
    );
    assert_has(
        &load_err(&dir),
        &["t10k-labels-idx1-ubyte", "label 12 at index 1", "0..=9"],
    );
}

#[test]
fn corrupt_gzip_stream_is_reported() {
    let dir = temp_dir("badgz");
    let (px, lb) = sample();
    write_split(&dir, &images_idx(3, 28, 28, &px), &labels_idx(&lb), true);
    // Keep the gzip header, cut the deflate stream short.
    let p = dir.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    assert_has(
        &load_err(&dir),
        &[
            "t10k-images-idx3-ubyte.gz",
            "gzip stream fails to decompress",
        ],
    );
    // Not gzip at all behind a .gz name.
    std::fs::write(&p, images_idx(3, 28, 28, &px)).unwrap();
    assert_has(
        &load_err(&dir),
        &[
            "t10k-images-idx3-ubyte.gz",
            "gzip stream fails to decompress",
        ],
    );
}

#[test]
fn find_data_dir_takes_an_explicit_folder_holding_the_files() {
    let dir = temp_dir("find");
    let (px, lb) = sample();
    write_split(&dir, &images_idx(3, 28, 28, &px), &labels_idx(&lb), true);
    assert_eq!(find_data_dir(Some(&dir), Dataset::Mnist).unwrap(), dir);
}

#[test]
fn find_data_dir_rejects_a_bad_explicit_folder_and_says_how_to_get_the_data() {
    let empty = temp_dir("find-empty");
    let msg = find_data_dir(Some(&empty), Dataset::FashionMnist)
        .unwrap_err()
        .to_string();
    assert_has(
        &msg,
        &[
            "Fashion-MNIST data not found",
            &empty.display().to_string(),
            "holds none of the four files",
        ],
    );
    assert_has(
        &msg,
        &[
            "apt-get install dataset-fashion-mnist",
            "t10k-labels-idx1-ubyte.gz",
            "FASHION_MNIST_DIR",
            "--data",
        ],
    );
    let nowhere = empty.join("nope");
    let msg = find_data_dir(Some(&nowhere), Dataset::Mnist)
        .unwrap_err()
        .to_string();
    assert_has(
        &msg,
        &[
            "MNIST data not found",
            "nope (--data): not a folder",
            "MNIST_DIR",
            "download",
        ],
    );
}

#[test]
fn bilinear_resize_matches_half_pixel_reference() {
    // [[0, 1], [2, 3]] -> 4x4: source coordinates clamp(-0.25, 0.25, 0.75, 1.25) = 0, .25, .75, 1
    // on both axes, and the image is linear (2 y + x), so out = 2 sy + sx (PyTorch, align_corners=False).
    let out = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 2, 4, 4);
    let s = [0.0, 0.25, 0.75, 1.0];
    for (k, v) in out.iter().enumerate() {
        let want = 2.0 * s[k / 4] + s[k % 4];
        assert!((v - want).abs() < 1e-6, "pixel {k}: {v} vs {want}");
    }
    let img: Vec<f32> = (0..28 * 28).map(|k| (k % 97) as f32).collect();
    assert_eq!(
        resize_bilinear(&img, 28, 28, 28, 28),
        img,
        "same size must be the identity"
    );
}

#[test]
fn to_f32_scales_to_minus_one_one_and_resizes_to_32() {
    let (mut px, lb) = sample();
    px[784..2 * 784].fill(255); // image 1 all ink
    px[2 * 784..].fill(0); // image 2 all background
    let m = Mnist {
        images: px.clone(),
        labels: lb,
        n: 3,
        rows: 28,
        cols: 28,
    };
    let same = m.to_f32(0..3, 28);
    assert_eq!(same.len(), 3 * 784);
    for (v, &p) in same.iter().zip(&px) {
        assert!((v - (p as f32 / 127.5 - 1.0)).abs() < 1e-6);
    }
    let big = m.to_f32(1..3, 32); // [2, 1, 32, 32]
    assert_eq!(big.len(), 2 * 1024);
    assert!(
        big[..1024].iter().all(|&v| (v - 1.0).abs() < 1e-6),
        "constant ink stays 1"
    );
    assert!(
        big[1024..].iter().all(|&v| (v + 1.0).abs() < 1e-6),
        "constant background stays -1"
    );
}

#[test]
fn to_tensor_uploads_n_1_s_s() {
    let dev =
        engine::Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers");
    let (px, lb) = sample();
    let m = Mnist {
        images: px,
        labels: lb,
        n: 3,
        rows: 28,
        cols: 28,
    };
    let t = m.to_tensor(&dev, 1..3, 32);
    assert_eq!(t.shape(), &[2, 1, 32, 32]);
    assert_eq!(t.to_vec(), m.to_f32(1..3, 32));
}

/// The real MNIST: `../../shared/data/mnist` from this crate (the main checkout's layout), or
/// wherever `find_data_dir` finds it (e.g. MNIST_DIR).
fn real_mnist_dir() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist");
    if beside.is_dir() {
        return Some(beside);
    }
    find_data_dir(None, Dataset::Mnist).ok()
}

#[test]
fn real_mnist_test_split_has_10000_images_and_the_published_class_counts() {
    let Some(dir) = real_mnist_dir() else {
        eprintln!("skipped: MNIST not found (../../shared/data/mnist from the models crate, or MNIST_DIR)");
        return;
    };
    let m = load(&dir, Split::Test).unwrap();
    assert_eq!((m.n, m.rows, m.cols), (10_000, 28, 28));
    assert_eq!(m.images.len(), 10_000 * 784);
    assert_eq!(
        m.class_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn real_mnist_train_split_has_60000_images_and_the_published_class_counts() {
    let Some(dir) = real_mnist_dir() else {
        eprintln!("skipped: MNIST not found (../../shared/data/mnist from the models crate, or MNIST_DIR)");
        return;
    };
    let m = load(&dir, Split::Train).unwrap();
    assert_eq!((m.n, m.rows, m.cols), (60_000, 28, 28));
    assert_eq!(
        m.class_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
}
