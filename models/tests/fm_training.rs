//! Short training runs on a 2-mode 2-D mixture: flow matching brings the learned field close
//! to the exact marginal field, denoising score matching the learned score close to the exact
//! marginal score (relative L2 at t = 0.5 on points drawn from p_t).

use engine::{no_grad, Device, Tensor};
use models::{
    flow_matching_loss, full_time, relative_l2_error, score_matching_loss, train, Gaussian,
    GaussianMixture, GaussianPath, MixtureMarginal, MlpVectorField, Sampleable, ScoreWeighting,
};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

fn data() -> GaussianMixture {
    GaussianMixture::new(
        vec![
            Gaussian::spherical(vec![-2.0, 0.0], 0.5),
            Gaussian::spherical(vec![2.0, 0.0], 0.5),
        ],
        vec![1.0, 1.0],
    )
}

#[test]
fn flow_matching_lowers_the_loss_and_learns_the_marginal_field_within_25_percent() {
    let dev = device();
    dev.manual_seed(11);
    let (data, path) = (data(), GaussianPath::cond_ot());
    let field = MlpVectorField::new(&dev, 2, &[64, 64]);
    let mut seen = 0;
    let report = train(
        &field.param_tensors(),
        3e-3,
        800,
        |_| flow_matching_loss(&field, &path, &data.sample(&dev, 512)),
        |p| seen = p.step,
    );
    assert_eq!(seen, 800);
    let (first, last) = (report.mean_first(20), report.mean_last(50));
    assert!(last < 0.85 * first, "flow-matching loss {first} -> {last}");
    let marginal = MixtureMarginal::new(data, path);
    let t = 0.5;
    let x = marginal.at(t).sample(&dev, 1000);
    let learned = no_grad(|| field.forward(&x, &full_time(&dev, 1000, t)));
    let err = relative_l2_error(&learned, &marginal.vector_field(&x, t));
    eprintln!(
        "flow matching: loss {first} -> {last}, relative L2 {err} at t = {t}, {:.0} steps/s",
        report.steps_per_sec
    );
    assert!(err < 0.25, "relative L2 error of the learned field at t = {t}: {err} (loss {first} -> {last}, {:.0} steps/s)", report.steps_per_sec);
}

#[test]
fn denoising_score_matching_learns_the_marginal_score_within_25_percent() {
    let dev = device();
    dev.manual_seed(12);
    let (data, path) = (data(), GaussianPath::sqrt_beta());
    let score = MlpVectorField::new(&dev, 2, &[64, 64]);
    let report = train(
        &score.param_tensors(),
        3e-3,
        400,
        |_| {
            score_matching_loss(
                &score,
                &path,
                &data.sample(&dev, 256),
                ScoreWeighting::BetaSquared,
            )
        },
        |_| {},
    );
    let (first, last) = (report.mean_first(20), report.mean_last(50));
    assert!(last < 0.7 * first, "score-matching loss {first} -> {last}");
    let marginal = MixtureMarginal::new(data, path);
    let t = 0.5;
    let x: Tensor = marginal.at(t).sample(&dev, 1000);
    let learned = no_grad(|| score.forward(&x, &full_time(&dev, 1000, t)));
    let err = relative_l2_error(&learned, &marginal.score(&x, t));
    eprintln!(
        "score matching: loss {first} -> {last}, relative L2 {err} at t = {t}, {:.0} steps/s",
        report.steps_per_sec
    );
    assert!(
        err < 0.25,
        "relative L2 error of the learned score at t = {t}: {err} (loss {first} -> {last})"
    );
}
