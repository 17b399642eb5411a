mod common;
use common::*;
use engine::Tensor;

#[test]
fn add_and_unary_roundtrip() {
    let dev = device();
    eprintln!("{}", dev.describe());
    let a = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = Tensor::from_slice(&dev, &[10.0, 20.0, 30.0], &[3]);
    assert_eq!(a.add(&b).to_vec(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    assert_eq!(a.mul(&a).to_vec(), vec![1.0, 4.0, 9.0, 16.0, 25.0, 36.0]);
    let x = Tensor::from_slice(&dev, &[0.5, -1.0], &[2]).set_requires_grad(true);
    let y = x.exp().mul(&x);
    y.backward_with(Tensor::ones(&dev, &[2]));
    let g = x.grad().unwrap().to_vec();
    // d(x e^x)/dx = e^x (1 + x)
    assert!((g[0] - 0.5f32.exp() * 1.5).abs() < 1e-5, "{g:?}");
    assert!((g[1] - 0.0).abs() < 1e-6, "{g:?}");
    assert_eq!(
        Tensor::arange(&dev, 0.0, 5.0, 1.0).to_vec(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn check_op_harness_accepts_a_correct_rule() {
    let x = uniform(300, -2.0, 2.0, 1);
    check_op(
        "silu",
        &[(&[3, 100], x)],
        |t| t[0].silu(),
        |x| x[0].iter().map(|v| v / (1.0 + (-v).exp())).collect(),
        1e-3,
    );
}

#[test]
#[should_panic(expected = "gradient of input 0")]
fn check_op_harness_rejects_a_wrong_rule() {
    let x = uniform(10, 0.5, 2.0, 1);
    // Same forward values as x*x, but detaching one operand halves the gradient (x, not 2x).
    check_op(
        "detached mul",
        &[(&[10], x)],
        |t| t[0].mul(&t[0].detach()),
        |x| x[0].iter().map(|v| v * v).collect(),
        1e-3,
    );
}
