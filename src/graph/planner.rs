//! The planner turns a graph into a [`Plan`]: the ordered list of kernel launches
//! with the buffer each value lives in. Built once, replayed every step.
//!
//! - Order: the graph's own (it is topological), minus nodes nothing needs, with the
//!   side effects (optimiser updates, accumulators) moved after every pure node so an
//!   update never runs before the last read of the old weights.
//! - Liveness: a value's buffer returns to the pool after its last reader has run.
//! - Reuse: a new value takes the smallest free buffer that is big enough, else grows
//!   the largest free one, else a new buffer. Graph outputs keep their own buffers.

use std::fmt::Write;

use crate::graph::{DType, EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::ops::Op;

/// Where a value lives during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// A pooled scratch buffer of the plan.
    Slot(usize),
    /// A parameter-store entry (resident across runs and plans).
    Entry(EntryId),
    /// A host input, by position in [`Plan::inputs`].
    Input(usize),
}

#[derive(Clone, Debug)]
pub struct Launch {
    pub node: ValueId,
    pub op: Op,
    pub inputs: Vec<Location>,
    pub input_shapes: Vec<Shape>,
    pub input_dtypes: Vec<DType>,
    /// None for side effects.
    pub output: Option<Location>,
    pub shape: Shape,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub launches: Vec<Launch>,
    /// Size of each pooled buffer.
    pub slot_bytes: Vec<u64>,
    /// Host inputs: name, shape, type.
    pub inputs: Vec<(String, Shape, DType)>,
    /// Graph outputs and where to read them after a run.
    pub outputs: Vec<(ValueId, Location, Shape)>,
    /// Store entries the plan reads or writes.
    pub entries: Vec<EntryId>,
    /// Scratch + inputs + entries, the most device memory the plan holds at once.
    pub peak_bytes: u64,
    /// What the scratch would take without reuse, for comparison.
    pub unpooled_bytes: u64,
}

impl Plan {
    pub fn new(g: &Graph, store: &ParamStore) -> Result<Plan, GraphError> {
        let n = g.nodes.len();
        // Keep what the outputs and side effects need.
        let mut live = vec![false; n];
        for &o in &g.outputs {
            live[o.index()] = true;
        }
        for (i, node) in g.nodes.iter().enumerate() {
            if node.op.is_effect() {
                live[i] = true;
            }
        }
        for i in (0..n).rev() {
            if live[i] {
                for x in &g.nodes[i].inputs {
                    live[x.index()] = true;
                }
            }
        }
        let pure = (0..n).filter(|&i| live[i] && !g.nodes[i].op.is_effect());
        let effects = (0..n).filter(|&i| live[i] && g.nodes[i].op.is_effect());
        let order: Vec<usize> = pure.chain(effects).collect();

        // Inputs and entries are not launches; everything else is.
        let mut inputs: Vec<(String, Shape, DType)> = vec![];
        let mut location: Vec<Option<Location>> = vec![None; n];
        let mut entries: Vec<EntryId> = vec![];
        for &i in &order {
            match &g.nodes[i].op {
                Op::Input { name, shape, dtype } => {
                    if inputs.iter().any(|(n, _, _)| n == name) {
                        return Err(GraphError::Invalid(format!(
                            "input `{name}` is declared twice"
                        )));
                    }
                    location[i] = Some(Location::Input(inputs.len()));
                    inputs.push((name.clone(), *shape, *dtype));
                }
                Op::Entry { id, .. } => {
                    location[i] = Some(Location::Entry(*id));
                    if !entries.contains(id) {
                        entries.push(*id);
                    }
                }
                _ => {}
            }
        }
        let launch_order: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| !matches!(g.nodes[i].op, Op::Input { .. } | Op::Entry { .. }))
            .collect();

        // The position of each value's last reader; None for a value nobody reads.
        let mut last_use: Vec<Option<usize>> = vec![None; n];
        for (pos, &i) in launch_order.iter().enumerate() {
            for x in &g.nodes[i].inputs {
                last_use[x.index()] = Some(pos);
            }
        }
        let is_output = |i: usize| g.outputs.iter().any(|o| o.index() == i);

        let mut slot_bytes: Vec<u64> = vec![];
        let mut free: Vec<usize> = vec![];
        let mut launches = vec![];
        let mut unpooled = 0u64;
        for (pos, &i) in launch_order.iter().enumerate() {
            let node = &g.nodes[i];
            let output = if node.op.is_effect() {
                None
            } else {
                let bytes = 4 * node.shape.len().max(1) as u64;
                unpooled += bytes;
                let slot = if is_output(i) {
                    slot_bytes.push(bytes);
                    slot_bytes.len() - 1
                } else {
                    take_slot(&mut free, &mut slot_bytes, bytes)
                };
                location[i] = Some(Location::Slot(slot));
                Some(Location::Slot(slot))
            };
            let input_locations = node
                .inputs
                .iter()
                .map(|x| location[x.index()].expect("operands are placed before their readers"))
                .collect();
            launches.push(Launch {
                node: ValueId(i as u32),
                op: node.op.clone(),
                inputs: input_locations,
                input_shapes: node.inputs.iter().map(|&x| g.shape(x)).collect(),
                input_dtypes: node.inputs.iter().map(|&x| g.node(x).dtype).collect(),
                output,
                shape: node.shape,
                label: node.label.clone(),
            });
            // Operands read for the last time give their buffer back (after the output
            // was placed, so a launch never reads and writes the same buffer).
            let mut released: Vec<usize> = vec![];
            for x in &node.inputs {
                let xi = x.index();
                if last_use[xi] == Some(pos) && !is_output(xi) {
                    if let Some(Location::Slot(s)) = location[xi] {
                        if !released.contains(&s) {
                            released.push(s);
                        }
                    }
                }
            }
            free.extend(released);
            // A value nobody reads (a dead-end output of a live node) frees at once.
            if let Some(Location::Slot(s)) = location[i] {
                if last_use[i].is_none() && !is_output(i) {
                    free.push(s);
                }
            }
        }

        let outputs = g
            .outputs
            .iter()
            .map(|&o| {
                let loc = location[o.index()]
                    .ok_or_else(|| GraphError::Invalid(format!("output {o:?} is not computed")))?;
                Ok((o, loc, g.shape(o)))
            })
            .collect::<Result<Vec<_>, GraphError>>()?;
        let input_bytes: u64 = inputs.iter().map(|(_, s, _)| 4 * s.len() as u64).sum();
        let entry_bytes: u64 = entries.iter().map(|&e| store.get(e).device_bytes()).sum();
        let peak_bytes = slot_bytes.iter().sum::<u64>() + input_bytes + entry_bytes;
        // Checked before any backend allocates the plan: a model under the parameter cap
        // can still need more than the machine has for a large batch or wide layers.
        crate::io::limits::MEMORY_BYTES
            .check(peak_bytes, &memory_context(&inputs, peak_bytes))
            .map_err(GraphError::Invalid)?;
        Ok(Plan {
            launches,
            slot_bytes,
            inputs,
            outputs,
            entries,
            peak_bytes,
            unpooled_bytes: unpooled + input_bytes + entry_bytes,
        })
    }

    /// Where output `v` can be read after a run.
    pub fn output_location(&self, v: ValueId) -> Option<(Location, Shape)> {
        self.outputs
            .iter()
            .find(|(o, _, _)| *o == v)
            .map(|&(_, l, s)| (l, s))
    }

    /// A readable listing: one line per launch with its buffers.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.launches.iter().enumerate() {
            let _ = writeln!(
                s,
                "{i:3} {:<28} {:>12} <- {:?} {:?}   ({})",
                l.op.name(),
                format!("{}", l.shape),
                l.inputs,
                l.output,
                l.label
            );
        }
        let _ = writeln!(
            s,
            "{} launches, {} scratch buffers, peak {:.2} MB (without reuse {:.2} MB)",
            self.launches.len(),
            self.slot_bytes.len(),
            self.peak_bytes as f64 / 1e6,
            self.unpooled_bytes as f64 / 1e6
        );
        s
    }
}

fn take_slot(free: &mut Vec<usize>, slot_bytes: &mut Vec<u64>, bytes: u64) -> usize {
    let best_fit = free
        .iter()
        .enumerate()
        .filter(|(_, &s)| slot_bytes[s] >= bytes)
        .min_by_key(|(_, &s)| slot_bytes[s])
        .map(|(k, _)| k);
    let pick = best_fit.or_else(|| {
        free.iter()
            .enumerate()
            .max_by_key(|(_, &s)| slot_bytes[s])
            .map(|(k, _)| k)
    });
    match pick {
        Some(k) => {
            let s = free.swap_remove(k);
            slot_bytes[s] = slot_bytes[s].max(bytes);
            s
        }
        None => {
            slot_bytes.push(bytes);
            slot_bytes.len() - 1
        }
    }
}

/// What a plan over `inputs` that holds `bytes` at once is, for the memory refusal.
fn memory_context(inputs: &[(String, Shape, DType)], bytes: u64) -> String {
    let batch = match inputs.iter().map(|(_, s, _)| s.rows).max() {
        Some(rows) => format!(" on batches of {rows} rows"),
        None => String::new(),
    };
    format!(
        "a plan{batch} needs {:.2} GiB at once (weights, optimiser state and activations; \
         a smaller --batch or narrower layers need less)",
        bytes as f64 / (1u64 << 30) as f64
    )
}
