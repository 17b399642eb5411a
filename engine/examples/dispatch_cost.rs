//! The fixed cost of one small dispatch: 2000 chained `add_scalar`s on a 4-element tensor.
//!
//!     cargo run --release -p engine --example dispatch_cost

use std::time::Instant;

use engine::{Device, Tensor};

fn main() {
    let dev = Device::new().unwrap();
    println!("adapter: {}", dev.describe());
    let mut x = Tensor::ones(&dev, &[4]);
    let mut samples = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..2000 {
            x = x.add_scalar(1.0);
        }
        dev.sync().unwrap();
        samples.push(t.elapsed().as_secs_f64() / 2000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let s = dev.stats();
    println!(
        "{:.1} us per dispatch (median of 7 x 2000; {} dispatches in {} submits)",
        samples[3] * 1e6,
        s.dispatches,
        s.submits
    );
}
