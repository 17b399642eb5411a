//! models::nn::Conv2d: shapes, PyTorch's default initialisation range, parameter names, and
//! that the layer's forward is conv2d plus its bias.
use engine::{Device, Tensor};
use models::nn::Conv2d;

#[test]
fn conv2d_layer_shapes_init_and_params() {
    let dev = Device::new().expect("a wgpu adapter");
    let layer = Conv2d::new(&dev, 3, 5, 3, 2, 1);
    assert_eq!(layer.weight.shape(), [5, 3, 3, 3]);
    assert_eq!(layer.bias.shape(), [5]);
    // uniform in +-1/sqrt(Cin*k*k) = +-1/sqrt(27)
    let bound = 1.0 / 27f32.sqrt();
    let w = layer.weight.to_vec();
    assert!(
        w.iter().all(|v| v.abs() <= bound),
        "weight outside +-{bound}"
    );
    assert!(
        w.iter().any(|v| v.abs() > bound / 2.0),
        "weight not spread over its range"
    );
    let names: Vec<String> = layer.params("down.").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["down.weight", "down.bias"]);

    // x [2, 3, 7, 6] -> [2, 5, 4, 3] with stride 2, padding 1
    let x = Tensor::randn(&dev, &[2, 3, 7, 6]);
    let y = layer.forward(&x);
    assert_eq!(y.shape(), [2, 5, 4, 3]);
    let no_bias = x.conv2d(&layer.weight, None, 2, 1).to_vec();
    let b = layer.bias.to_vec();
    for (i, (got, base)) in y.to_vec().iter().zip(&no_bias).enumerate() {
        let want = base + b[(i / 12) % 5];
        assert!((got - want).abs() < 1e-5, "element {i}: {got} != {want}");
    }
}
