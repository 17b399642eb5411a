//! Shape arithmetic: element counts, contiguous strides, NumPy broadcasting.

/// Most axes a kernel's uniform parameters can describe.
pub const MAX_DIMS: usize = 8;

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides in elements: [2,3,4] -> [12,4,1].
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The NumPy broadcast of two shapes, or None if they do not broadcast.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides that read a tensor of shape `from` as if it had the (broadcast) shape `to`:
/// 0 along axes that are broadcast. `to` must have at least as many axes as `from`.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let s = strides(from);
    let pad = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < pad || from[i - pad] == 1 && to[i] != 1 {
                0
            } else {
                s[i - pad]
            }
        })
        .collect()
}

/// Resolves a possibly negative axis; panics naming the op when out of range.
pub fn axis(op: &str, axis: isize, rank: usize) -> usize {
    let a = if axis < 0 { axis + rank as isize } else { axis };
    if a < 0 || a as usize >= rank {
        panic!("{op}: axis {axis} out of range for a tensor of rank {rank}");
    }
    a as usize
}

/// Packs up to 8 values into the `array<vec4<u32>, 2>` layout kernels read.
pub fn pack8(op: &str, v: &[usize]) -> [u32; 8] {
    assert!(
        v.len() <= MAX_DIMS,
        "{op}: at most {MAX_DIMS} axes are supported, got {}",
        v.len()
    );
    let mut out = [0u32; 8];
    for (o, x) in out.iter_mut().zip(v) {
        *o = u32::try_from(*x).unwrap_or_else(|_| panic!("{op}: size {x} does not fit in 32 bits"));
    }
    out
}

/// Workgroup grid for a 1-D kernel of `n` invocations, `wg` per group. Wraps into a second
/// dimension past 65535 groups; kernels recover the index as `gid.x + gid.y * nwg.x * wg`.
pub fn grid_1d(n: usize, wg: usize) -> [u32; 3] {
    let groups = n.div_ceil(wg);
    if groups <= 65535 {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(65535);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}
