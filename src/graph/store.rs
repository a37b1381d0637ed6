//! The parameter store: named tensors that outlive a single graph run. Weights,
//! optimiser state, loss accumulators and resident datasets live here; a train graph,
//! an eval graph and an encode graph built over the same store share them. Backends
//! keep their own copy (on the GPU: resident buffers) and sync it on request.

use crate::graph::Shape;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Trained by the optimiser and saved with the model.
    Parameter,
    /// Optimiser moments, accumulators: saved in checkpoints, not in models.
    State,
    /// A resident dataset that batches are gathered from.
    Data,
}

/// The host copy of an entry's contents.
#[derive(Clone, Debug)]
pub enum EntryData {
    F32(Vec<f32>),
    /// Bytes `k` standing for `k / 255`, four to a 32-bit word on the device: MNIST
    /// pixels take a quarter of the memory and batches are expanded on the fly.
    U8(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub shape: Shape,
    pub kind: EntryKind,
    pub data: EntryData,
    pub packed_u8: bool,
}

impl Entry {
    /// Bytes the entry takes on a device (u8 data rounded up to whole words).
    pub fn device_bytes(&self) -> u64 {
        match &self.data {
            EntryData::F32(v) => 4 * v.len() as u64,
            EntryData::U8(b) => 4 * b.len().div_ceil(4) as u64,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    entries: Vec<Entry>,
}

impl ParamStore {
    pub fn new() -> Self {
        ParamStore::default()
    }

    pub fn add(&mut self, name: &str, shape: Shape, kind: EntryKind, values: Vec<f32>) -> EntryId {
        assert_eq!(
            values.len(),
            shape.len(),
            "entry {name}: {} values for shape {shape}",
            values.len()
        );
        self.entries.push(Entry {
            name: name.to_string(),
            shape,
            kind,
            data: EntryData::F32(values),
            packed_u8: false,
        });
        EntryId(self.entries.len() as u32 - 1)
    }

    pub fn zeros(&mut self, name: &str, shape: Shape, kind: EntryKind) -> EntryId {
        self.add(name, shape, kind, vec![0.0; shape.len()])
    }

    /// A dataset stored as bytes (value = byte / 255).
    pub fn add_bytes(&mut self, name: &str, shape: Shape, bytes: Vec<u8>) -> EntryId {
        assert_eq!(
            bytes.len(),
            shape.len(),
            "entry {name}: {} bytes for shape {shape}",
            bytes.len()
        );
        self.entries.push(Entry {
            name: name.to_string(),
            shape,
            kind: EntryKind::Data,
            data: EntryData::U8(bytes),
            packed_u8: true,
        });
        EntryId(self.entries.len() as u32 - 1)
    }

    pub fn get(&self, id: EntryId) -> &Entry {
        &self.entries[id.0 as usize]
    }

    pub fn get_mut(&mut self, id: EntryId) -> &mut Entry {
        &mut self.entries[id.0 as usize]
    }

    pub fn find(&self, name: &str) -> Option<EntryId> {
        self.entries
            .iter()
            .position(|e| e.name == name)
            .map(|i| EntryId(i as u32))
    }

    pub fn ids(&self) -> impl Iterator<Item = EntryId> + '_ {
        (0..self.entries.len() as u32).map(EntryId)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The f32 values of an entry (panics on byte data, which is never read back).
    pub fn values(&self, id: EntryId) -> &[f32] {
        match &self.get(id).data {
            EntryData::F32(v) => v,
            EntryData::U8(_) => panic!("entry {} holds bytes, not f32 values", self.get(id).name),
        }
    }

    /// Replaces an entry's shape and contents (e.g. a new training set); plans built
    /// before keep the old shape and must be rebuilt.
    pub fn replace(&mut self, id: EntryId, shape: Shape, data: EntryData) {
        let e = self.get_mut(id);
        e.packed_u8 = matches!(data, EntryData::U8(_));
        e.shape = shape;
        e.data = data;
    }

    /// The entry called `name` with these contents: replaced when the store has it
    /// (a second training run on the same model), added otherwise.
    pub fn put(&mut self, name: &str, shape: Shape, kind: EntryKind, data: EntryData) -> EntryId {
        match self.find(name) {
            Some(id) => {
                self.replace(id, shape, data);
                id
            }
            None => match data {
                EntryData::U8(bytes) => self.add_bytes(name, shape, bytes),
                EntryData::F32(values) => self.add(name, shape, kind, values),
            },
        }
    }

    /// The entry called `name`, all zeros (see [`Self::put`]).
    pub fn put_zeros(&mut self, name: &str, shape: Shape, kind: EntryKind) -> EntryId {
        self.put(name, shape, kind, EntryData::F32(vec![0.0; shape.len()]))
    }

    pub fn set_values(&mut self, id: EntryId, values: Vec<f32>) {
        let e = self.get_mut(id);
        assert_eq!(values.len(), e.shape.len());
        e.data = EntryData::F32(values);
    }
}
