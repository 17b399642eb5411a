//! The tape: accumulation, no_grad, detach, freeing the graph.
mod common;
use common::*;
use engine::{no_grad, Tensor};

#[test]
fn a_tensor_used_twice_accumulates_both_paths() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &[1.5, -2.0, 0.25], &[3]).set_requires_grad(true);
    // y = x*x + exp(x)  =>  dy/dx = 2x + e^x
    let y = x.mul(&x).add(&x.exp());
    y.backward_with(Tensor::ones(&dev, &[3]));
    let want: Vec<f64> = [1.5f64, -2.0, 0.25]
        .iter()
        .map(|v| 2.0 * v + v.exp())
        .collect();
    assert_close("dy/dx", &x.grad().unwrap().to_vec(), &want, 1e-5, 1e-5);
}

#[test]
fn gradients_accumulate_across_backward_calls_until_zeroed() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &[2.0], &[1]).set_requires_grad(true);
    for _ in 0..3 {
        x.mul_scalar(3.0).backward_with(Tensor::ones(&dev, &[1]));
    }
    assert_eq!(x.grad().unwrap().to_vec(), vec![9.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn diamond_graph_sums_gradients_at_the_shared_node() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &[0.5], &[1]).set_requires_grad(true);
    // h = e^x used by two branches: y = sin(h) + h*h  => dy/dx = (cos(h) + 2h) e^x
    let h = x.exp();
    let y = h.sin().add(&h.mul(&h));
    y.backward_with(Tensor::ones(&dev, &[1]));
    let hv = 0.5f64.exp();
    assert_close(
        "dy/dx",
        &x.grad().unwrap().to_vec(),
        &[(hv.cos() + 2.0 * hv) * hv],
        1e-5,
        1e-5,
    );
}

#[test]
fn no_grad_records_nothing() {
    let dev = device();
    let x = Tensor::ones(&dev, &[4]).set_requires_grad(true);
    let y = no_grad(|| x.exp().mul(&x));
    assert!(y.is_leaf() && !y.requires_grad() && y.grad_fn().is_none());
    assert!(
        engine::is_grad_enabled(),
        "no_grad must restore recording afterwards"
    );
    let z = x.exp();
    assert_eq!(z.grad_fn(), Some("exp"));
}

#[test]
fn detach_cuts_the_graph_but_shares_the_data() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &[3.0], &[1]).set_requires_grad(true);
    let d = x.mul(&x).detach();
    assert!(d.is_leaf() && !d.requires_grad());
    // y = x * detach(x*x): dy/dx = x^2 only (the detached factor is a constant)
    let y = x.mul(&d);
    y.backward_with(Tensor::ones(&dev, &[1]));
    assert_eq!(x.grad().unwrap().to_vec(), vec![9.0]);
    assert_eq!(d.to_vec(), vec![9.0]);
}

#[test]
fn backward_frees_the_graph() {
    let dev = device();
    let x = Tensor::ones(&dev, &[8]).set_requires_grad(true);
    let h = x.exp();
    let y = h.mul(&h).sin();
    assert_eq!(y.grad_fn(), Some("sin"));
    y.backward_with(Tensor::ones(&dev, &[8]));
    // The nodes (and the activations their closures hold) are gone.
    assert!(y.grad_fn().is_none() && h.grad_fn().is_none());
}

#[test]
fn inputs_that_do_not_require_grad_get_none() {
    let dev = device();
    let x = Tensor::ones(&dev, &[2]).set_requires_grad(true);
    let c = Tensor::full(&dev, &[2], 5.0);
    x.mul(&c).backward_with(Tensor::ones(&dev, &[2]));
    assert_eq!(x.grad().unwrap().to_vec(), vec![5.0, 5.0]);
    assert!(c.grad().is_none());
}

#[test]
#[should_panic(expected = "backward: the loss must hold one element, got shape [2]")]
fn backward_on_a_non_scalar_says_how_to_fix_it() {
    let dev = device();
    let x = Tensor::ones(&dev, &[2]).set_requires_grad(true);
    x.exp().backward();
}

#[test]
fn enable_grad_records_inside_no_grad() {
    let dev = device();
    no_grad(|| {
        let x = Tensor::from_slice(&dev, &[2.0], &[1]).set_requires_grad(true);
        let y = engine::enable_grad(|| x.mul(&x));
        assert_eq!(y.grad_fn(), Some("mul"));
        y.backward_with(Tensor::ones(&dev, &[1]));
        assert_eq!(x.grad().unwrap().to_vec(), vec![4.0]);
        assert!(!engine::is_grad_enabled());
    });
}
