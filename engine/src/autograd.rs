//! Reverse-mode automatic differentiation.
//!
//! Each op that produces a tensor from inputs that need gradients attaches a `Node`: its
//! inputs and a closure mapping the output's gradient to the inputs' gradients. The closures
//! are written beside their forward pass in `ops/`. `backward` orders the nodes reachable
//! from the loss (a topological sort: the tape), runs the closures from the loss back to the
//! leaves, accumulates into the leaves' `.grad()`, and then frees the graph.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use crate::tensor::Tensor;

pub(crate) type BackwardFn = Box<dyn Fn(&Tensor) -> Vec<Option<Tensor>>>;

pub(crate) struct Node {
    pub op: &'static str,
    pub inputs: Vec<Tensor>,
    pub backward: BackwardFn,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` without recording a graph (sampling, evaluation, optimizer updates).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    let r = f();
    GRAD_ENABLED.with(|g| g.set(prev));
    r
}

/// Runs `f` with recording on, even inside `no_grad` (e.g. a score computed by autodiff
/// while sampling).
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let prev = GRAD_ENABLED.with(|g| g.replace(true));
    let r = f();
    GRAD_ENABLED.with(|g| g.set(prev));
    r
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

impl Tensor {
    /// Attaches the backward rule of the op that made `self` from `inputs`, when some input
    /// needs a gradient and recording is on. `backward` returns one entry per input.
    pub(crate) fn record(
        self,
        op: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor) -> Vec<Option<Tensor>> + 'static,
    ) -> Tensor {
        if is_grad_enabled() && inputs.iter().any(|t| t.requires_grad()) {
            self.0.requires_grad.set(true);
            *self.0.node.borrow_mut() = Some(Node {
                op,
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
                backward: Box::new(backward),
            });
        }
        self
    }

    /// The name of the op that made this tensor, if it is part of a recorded graph.
    pub fn grad_fn(&self) -> Option<&'static str> {
        self.0.node.borrow().as_ref().map(|n| n.op)
    }

    /// Fills `.grad()` of every leaf that requires a gradient with d(self)/d(leaf), adding
    /// to what is there. `self` must hold one element. The graph is freed afterwards.
    pub fn backward(&self) {
        assert!(
            self.numel() == 1,
            "backward: the loss must hold one element, got shape {:?} (reduce it with .sum() or .mean() first)",
            self.shape()
        );
        // A fill (one small dispatch), not an upload: an upload cannot reuse a buffer freed
        // in the open batch, so a loop would keep adding to the pool.
        let seed = Tensor::ones(self.device(), self.shape());
        self.backward_with(seed);
    }

    /// Backward with an explicit output gradient of the same shape as `self`.
    pub fn backward_with(&self, grad: Tensor) {
        assert_eq!(
            grad.shape(),
            self.shape(),
            "backward_with: gradient shape {:?} != tensor shape {:?}",
            grad.shape(),
            self.shape()
        );
        let order = self.topo_order();
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        no_grad(|| {
            if self.is_leaf() {
                if self.requires_grad() {
                    self.accumulate_grad(grad);
                }
                return;
            }
            grads.insert(self.id(), grad);
            for t in order.iter().rev() {
                let Some(g) = grads.remove(&t.id()) else {
                    continue;
                };
                let node = t.0.node.borrow();
                let node = node.as_ref().expect("non-leaf tensor without a node");
                let input_grads = (node.backward)(&g);
                assert_eq!(
                    input_grads.len(),
                    node.inputs.len(),
                    "{}: backward returned the wrong number of gradients",
                    node.op
                );
                for (input, ig) in node.inputs.iter().zip(input_grads) {
                    let Some(ig) = ig else { continue };
                    if !input.requires_grad() {
                        continue;
                    }
                    assert_eq!(
                        ig.shape(),
                        input.shape(),
                        "{}: backward produced a gradient of shape {:?} for an input of shape {:?}",
                        node.op,
                        ig.shape(),
                        input.shape()
                    );
                    if input.is_leaf() {
                        input.accumulate_grad(ig);
                    } else {
                        let acc = match grads.remove(&input.id()) {
                            Some(prev) => prev.add(&ig),
                            None => ig,
                        };
                        grads.insert(input.id(), acc);
                    }
                }
            }
        });
        // Free the graph: the closures hold the activations.
        for t in &order {
            *t.0.node.borrow_mut() = None;
        }
    }

    fn accumulate_grad(&self, g: Tensor) {
        let mut slot = self.0.grad.borrow_mut();
        *slot = Some(match slot.take() {
            Some(prev) => prev.add(&g),
            None => g,
        });
    }

    /// Non-leaf tensors reachable from `self`, each after all of its inputs.
    fn topo_order(&self) -> Vec<Tensor> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        // Iterative depth-first search: (tensor, inputs already pushed?)
        let mut stack = vec![(self.clone(), false)];
        while let Some((t, expanded)) = stack.pop() {
            if expanded {
                order.push(t);
                continue;
            }
            if t.is_leaf() || !seen.insert(t.id()) {
                continue;
            }
            stack.push((t.clone(), true));
            let node = t.0.node.borrow();
            for input in &node.as_ref().unwrap().inputs {
                if !input.is_leaf() && !seen.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
        order
    }
}
