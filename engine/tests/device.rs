//! Device acquisition, batching and the buffer pool, and the errors a user can hit.
mod common;
use common::*;
use engine::{wgpu, Device, DeviceOptions, Tensor};

#[test]
fn missing_adapter_gives_an_error_that_says_what_to_install() {
    // No backend enabled simulates a machine without any GPU driver.
    let opts = DeviceOptions {
        backends: Some(wgpu::Backends::empty()),
        ..Default::default()
    };
    let err = Device::with_options(opts)
        .err()
        .expect("no backends must mean no adapter");
    let msg = err.to_string();
    assert!(msg.contains("no GPU adapter"), "{msg}");
    assert!(msg.contains("mesa-vulkan-drivers"), "{msg}");
}

#[test]
fn unknown_adapter_name_lists_the_adapters_found() {
    let opts = DeviceOptions {
        adapter_name: Some("no-such-gpu-9000".into()),
        ..Default::default()
    };
    let msg = Device::with_options(opts)
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        msg.contains("no adapter name contains \"no-such-gpu-9000\"; found ["),
        "{msg}"
    );
}

#[test]
fn describe_names_the_adapter_and_limits_are_the_adapters_own() {
    let dev = device();
    let d = dev.describe();
    assert!(d.contains(&dev.info().name), "{d}");
    // We request the adapter's limits, not wgpu's 128 MiB default binding size.
    assert!(
        dev.limits().max_storage_buffer_binding_size
            >= wgpu::Limits::default().max_storage_buffer_binding_size
    );
}

#[test]
fn tensor_over_the_device_buffer_limit_is_a_clear_panic() {
    let dev = device();
    let max = dev
        .limits()
        .max_storage_buffer_binding_size
        .min(dev.limits().max_buffer_size) as usize;
    let n = max / 4 + 1;
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Tensor::zeros(&dev, &[n])))
        .expect_err("allocation over the limit must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains(&format!("full: output of shape [{n}]"))
            && msg.contains("over this device's largest storage buffer"),
        "{msg}"
    );
}

#[test]
fn from_slice_with_wrong_length_names_both_sizes() {
    let dev = device();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::from_slice(&dev, &[1.0; 5], &[2, 3])
    }));
    let msg = r.err().unwrap().downcast_ref::<String>().cloned().unwrap();
    assert_eq!(
        msg,
        "from_slice: 5 values do not fill shape [2, 3] (6 elements)"
    );
}

#[test]
fn work_is_batched_into_few_submits() {
    let opts = DeviceOptions {
        max_dispatches_per_submit: 64,
        ..Default::default()
    };
    let dev = Device::with_options(opts).unwrap();
    let mut x = Tensor::ones(&dev, &[1000]);
    let before = dev.stats();
    for _ in 0..200 {
        x = x.add_scalar(1.0);
    }
    assert_eq!(x.to_vec()[999], 201.0);
    let after = dev.stats();
    assert_eq!(after.dispatches - before.dispatches, 200);
    // 200 dispatches at 64 per batch: 3 full batches, then the readback submits the rest.
    assert_eq!(after.submits - before.submits, 4);
}

#[test]
fn freed_buffers_are_reused_not_reallocated() {
    let dev = device();
    let x = Tensor::ones(&dev, &[4096]);
    let mut y = x.add_scalar(1.0);
    dev.sync().unwrap();
    let created = dev.stats().buffers_created;
    for _ in 0..100 {
        y = y.mul_scalar(1.0001).add_scalar(-0.0001);
        dev.sync().unwrap();
    }
    y.to_vec();
    // Each step frees the tensors of the previous one; after the first steps no new buffer.
    assert!(
        dev.stats().buffers_created <= created + 3,
        "{:?}",
        dev.stats()
    );
}

#[test]
fn sync_reports_ok_on_a_healthy_device() {
    let dev = device();
    let _ = Tensor::ones(&dev, &[10]).exp();
    dev.sync().expect("a healthy device syncs");
}
