//! End-to-end training on the engine: an MLP fits a known function, and memory stays flat.

use engine::optim::{Adam, Optimizer};
use engine::{no_grad, Device, Tensor};
use models::nn::{Activation, Mlp};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

fn params(mlp: &Mlp) -> Vec<Tensor> {
    mlp.params().into_iter().map(|(_, t)| t).collect()
}

/// f(x) = sin(2x) on [-2, 2]
fn target(x: &Tensor) -> Tensor {
    x.mul_scalar(2.0).sin()
}

#[test]
fn mlp_fits_sin_2x_below_1e_3_mse() {
    let dev = device();
    dev.manual_seed(7);
    let mlp = Mlp::new(&dev, &[1, 32, 32, 1], Activation::Silu);
    let mut opt = Adam::new(&params(&mlp), 1e-2);
    let x = Tensor::linspace(&dev, -2.0, 2.0, 128).reshape(&[128, 1]);
    let y = target(&x);
    let first = mlp.forward(&x).mse_loss(&y).item();
    for _ in 0..400 {
        let loss = mlp.forward(&x).mse_loss(&y);
        loss.backward();
        opt.step();
        opt.zero_grad();
    }
    // Held-out points between the training points.
    let xt = Tensor::linspace(&dev, -1.99, 1.99, 97).reshape(&[97, 1]);
    let test = no_grad(|| mlp.forward(&xt).mse_loss(&target(&xt)).item());
    assert!(
        first > 0.05,
        "the untrained MLP should be far off (loss {first})"
    );
    assert!(
        test < 1e-3,
        "test MSE {test} after 400 Adam steps (start {first})"
    );
}

#[test]
fn training_memory_stops_growing_after_the_first_steps() {
    let dev = device();
    dev.manual_seed(1);
    let mlp = Mlp::new(&dev, &[2, 64, 64, 2], Activation::Silu);
    let mut opt = Adam::new(&params(&mlp), 1e-3);
    let mut step = |_: usize| {
        let x = Tensor::randn(&dev, &[100, 2]);
        let loss = mlp.forward(&x).mse_loss(&x.mul_scalar(0.5));
        loss.backward();
        opt.step();
        opt.zero_grad();
    };
    for i in 0..10 {
        step(i);
    }
    dev.sync().unwrap();
    let after_warmup = dev.stats();
    for i in 10..300 {
        step(i);
    }
    dev.sync().unwrap();
    let end = dev.stats();
    // At least 10 dispatches a step (forward, loss, backward and Adam of three layers).
    assert!(
        end.dispatches > after_warmup.dispatches + 290 * 10,
        "the loop should have run: {end:?}"
    );
    assert_eq!(
        end.allocated_bytes, after_warmup.allocated_bytes,
        "pool grew between step 10 and 300: {after_warmup:?} -> {end:?}"
    );
    assert_eq!(end.buffers_created, after_warmup.buffers_created);
}
