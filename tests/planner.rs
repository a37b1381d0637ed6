//! The planner on a real training graph: side effects last, no launch reads the
//! buffer it writes, no value is overwritten before its last reader, and buffer reuse
//! keeps the peak well below one buffer per value.

use std::collections::HashMap;

use aegpu::graph::{grad, DType, Graph, Location, Plan, Shape, ValueId};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::{Loss, Op, Optimizer};

fn training_plan(tied: bool) -> (Graph, Plan) {
    let mut config = DenseConfig::new(&[784, 256, 64]);
    config.tied = tied;
    let model = DenseAutoencoder::new(config, 0).unwrap();
    let mut g = Graph::new();
    let x = g.input("x", Shape::new(32, 784), DType::F32);
    let hyper = g.input("hyper", Shape::new(1, 4), DType::F32);
    let code = model.encode(&mut g, x).unwrap();
    let recon = model.decode(&mut g, code).unwrap();
    let loss = g.push(Op::Loss(Loss::Mse), &[recon, x]).unwrap();
    let params: Vec<ValueId> = model
        .parameters()
        .iter()
        .map(|&p| g.entry(&model.store, p))
        .collect();
    let grads = grad(&mut g, loss, &params).unwrap();
    let mut store = model.store.clone();
    for (&p, d) in params.iter().zip(grads) {
        let shape = g.shape(p);
        let m = store.zeros(&format!("m{}", p.0), shape, aegpu::graph::EntryKind::State);
        let v = store.zeros(&format!("v{}", p.0), shape, aegpu::graph::EntryKind::State);
        let (m, v) = (g.entry(&store, m), g.entry(&store, v));
        g.push(Op::Update(Optimizer::adam()), &[p, d, hyper, m, v])
            .unwrap();
    }
    g.mark_output(loss);
    let plan = Plan::new(&g, &store).unwrap();
    (g, plan)
}

#[test]
fn side_effects_run_after_every_pure_launch() {
    let (_, plan) = training_plan(false);
    let first_effect = plan.launches.iter().position(|l| l.op.is_effect()).unwrap();
    assert!(plan.launches[first_effect..]
        .iter()
        .all(|l| l.op.is_effect()));
    assert_eq!(
        plan.launches.len() - first_effect,
        8,
        "one update per weight and bias"
    );
}

#[test]
fn no_value_is_overwritten_before_its_last_reader() {
    for tied in [false, true] {
        let (g, plan) = training_plan(tied);
        // The value each scratch slot holds at this point of the run.
        let mut last_written: HashMap<usize, ValueId> = HashMap::new();
        for l in &plan.launches {
            let operands = &g.node(l.node).inputs;
            for (&value, loc) in operands.iter().zip(&l.inputs) {
                if let Location::Slot(s) = *loc {
                    assert_eq!(
                        last_written.get(&s),
                        Some(&value),
                        "{} ({}) reads {value:?} from slot {s}, which holds something else",
                        l.op.name(),
                        l.label
                    );
                    assert_ne!(
                        Some(*loc),
                        l.output,
                        "{} reads and writes slot {s}",
                        l.op.name()
                    );
                }
            }
            if let Some(Location::Slot(s)) = l.output {
                last_written.insert(s, l.node);
            }
        }
    }
}

#[test]
fn buffer_reuse_keeps_the_peak_low() {
    let (_, plan) = training_plan(false);
    let pure = plan.launches.iter().filter(|l| l.output.is_some()).count();
    assert!(
        plan.slot_bytes.len() * 2 < pure,
        "{} buffers for {pure} values",
        plan.slot_bytes.len()
    );
    assert!(
        plan.peak_bytes < plan.unpooled_bytes,
        "peak {} vs unpooled {}",
        plan.peak_bytes,
        plan.unpooled_bytes
    );
    eprintln!("{}", plan.describe());
}

/// Two models' stores on one CPU backend: a plan of the second reading an entry the
/// first uploaded under the same id gets an error, not a panic.
#[test]
fn a_plan_reading_another_stores_entry_is_an_error() {
    use aegpu::backend::cpu::CpuBackend;
    use aegpu::backend::Backend;
    use aegpu::graph::{EntryKind, ParamStore, Plan};
    let mut small = ParamStore::new();
    small.add("w", Shape::new(1, 2), EntryKind::Parameter, vec![1.0, 2.0]);
    let mut large = ParamStore::new();
    let w = large.add("w", Shape::new(4, 4), EntryKind::Parameter, vec![0.5; 16]);
    let mut cpu = CpuBackend::<f32>::new();
    cpu.upload_store(&small).unwrap();
    let mut g = Graph::new();
    let v = g.entry(&large, w);
    let y = g.push(Op::Scale(2.0), &[v]).unwrap();
    g.mark_output(y);
    let plan = cpu.prepare(&Plan::new(&g, &large).unwrap()).unwrap();
    let err = cpu.run(plan, &[]).unwrap_err().to_string();
    assert!(err.contains("uploaded to this backend"), "{err}");
}
