//! Lab 2's labelled 2-D samplers: label counts and geometry.

use engine::Device;
use models::{symmetric_mixture, Checkerboard, Circles, LabeledSampler, Moons};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

fn counts(labels: &[u32], k: usize) -> Vec<usize> {
    (0..k as u32)
        .map(|c| labels.iter().filter(|&&y| y == c).count())
        .collect()
}

#[test]
fn circles_have_radius_scale_and_factor_times_scale_by_label() {
    let dev = device();
    dev.manual_seed(1);
    let c = Circles::default();
    let (x, y) = c.sample_labeled(&dev, 1001);
    assert_eq!(counts(&y, 2), vec![500, 501]);
    for (p, &l) in x.to_vec().chunks(2).zip(&y) {
        let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
        let want = if l == 0 { 5.0 } else { 2.5 };
        // noise 0.05 * scale 5 = 0.25 per coordinate: 6 standard deviations.
        assert!((r - want).abs() < 1.5, "label {l}: radius {r}");
    }
}

#[test]
fn moons_lie_on_their_unit_half_circles() {
    let dev = device();
    dev.manual_seed(2);
    let m = Moons::default();
    let (x, y) = m.sample_labeled(&dev, 600);
    assert_eq!(counts(&y, 2), vec![300, 300]);
    for (p, &l) in x.to_vec().chunks(2).zip(&y) {
        let (u, v) = (p[0] / 3.5, p[1] / 3.5);
        // outer: centre (0, 0), upper half; inner: centre (1, 1/2), lower half.
        let (cx, cy, side) = if l == 0 {
            (0.0, 0.0, 1.0)
        } else {
            (1.0, 0.5, -1.0)
        };
        let r = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
        assert!(
            (r - 1.0).abs() < 0.3,
            "label {l}: distance {r} from its centre"
        );
        assert!(
            side * (v - cy) > -0.3,
            "label {l}: point ({u}, {v}) on the wrong half"
        );
    }
}

#[test]
fn checkerboard_points_fall_in_the_filled_cell_of_their_label() {
    let dev = device();
    dev.manual_seed(3);
    let cb = Checkerboard::default();
    let cells = cb.cells();
    assert_eq!(cells.len(), 8);
    let (x, y) = cb.sample_labeled(&dev, 4000);
    let side = cb.cell_side();
    for (p, &l) in x.to_vec().chunks(2).zip(&y) {
        let (i, j) = (
            ((p[0] + 5.0) / side).floor() as usize,
            ((p[1] + 5.0) / side).floor() as usize,
        );
        assert_eq!((i, j), cells[l as usize], "point {p:?} of label {l}");
        assert_eq!(i % 2, j % 2);
    }
    for c in counts(&y, 8) {
        assert!(
            (c as f64 - 500.0).abs() < 5.0 * (500.0f64 * 7.0 / 8.0).sqrt(),
            "cell count {c}"
        );
    }
}

#[test]
fn symmetric_mixture_labels_are_the_nearest_mode() {
    let dev = device();
    dev.manual_seed(4);
    let gm = symmetric_mixture();
    assert_eq!(gm.num_classes(), 5);
    let (x, y) = gm.sample_labeled(&dev, 2000);
    let nearest = gm.mode_of(&x);
    // Modes 10 * 2 sin(pi/5) = 11.8 apart with std 1: essentially every point is nearest its own.
    let agree = nearest
        .iter()
        .zip(&y)
        .filter(|(a, b)| **a as u32 == **b)
        .count();
    assert!(
        agree >= 1995,
        "{agree} of 2000 points nearest their own component"
    );
    for c in counts(&y, 5) {
        assert!(
            (c as f64 - 400.0).abs() < 5.0 * (400.0f64 * 0.8).sqrt(),
            "component count {c}"
        );
    }
}
