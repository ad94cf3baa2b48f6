//! Texts numbered in order of arrival, for sums keyed by numbers: a month of costs has some
//! 10,000 accounts, a few dozen services and a handful of record types and currencies.

use std::collections::HashMap;

use foldhash::fast::FixedState;

/// The distinct values of one column, each with a number; the previous lookup is remembered,
/// since sources repeat a value over many consecutive rows.
#[derive(Default)]
pub(crate) struct Values {
    ids: HashMap<Box<str>, u32, FixedState>,
    values: Vec<Box<str>>,
    last: Option<u32>,
}

impl Values {
    pub(crate) fn id(&mut self, value: &str) -> u32 {
        if let Some(last) = self.last
            && *self.values[last as usize] == *value
        {
            return last;
        }
        let id = match self.ids.get(value) {
            Some(id) => *id,
            None => {
                let id = self.values.len() as u32;
                self.values.push(value.into());
                self.ids.insert(value.into(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    pub(crate) fn get(&self, id: u32) -> &str {
        &self.values[id as usize]
    }

    /// The ids here of each of `other`'s values (added when new).
    pub(crate) fn numbers_of(&mut self, other: &Values) -> Vec<u32> {
        other.values.iter().map(|v| self.id(v)).collect()
    }

    /// Each id's position in the values' sorted order.
    pub(crate) fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|a, b| self.get(*a).cmp(self.get(*b)));
        let mut ranks = vec![0; order.len()];
        for (rank, id) in order.into_iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}
