//! Per-evaluation memo of shared `var` path prefixes.
//!
//! DCC rules read many fields of one entry (`payload.v.0.mp`,
//! `payload.v.0.dn`, …). Each map step is an ordered search in a
//! `serde_json` map, so walking the common prefix again for every `var`
//! dominates evaluation. After compiling, [`assign`] gives each prefix shared
//! by two or more top-level `var`s a slot; during one evaluation the first
//! `var` to need it resolves it and later ones start from there.
//!
//! Only `var`s read in the top-level context take part: inside a `reduce`
//! lambda the context changes with every element.

use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::Value;

use crate::compile::{MemoRef, Node, Var};

/// At most this many prefixes are memoised per expression (the memo lives on
/// the stack); further ones are simply walked each time.
pub(crate) const MEMO_SLOTS: usize = 16;

/// One memo slot during an evaluation.
#[derive(Clone, Copy)]
pub(crate) enum Slot<'a> {
    Unresolved,
    /// The prefix's value, `None` if it does not exist.
    Resolved(Option<&'a Value>),
}

pub(crate) type Memo<'a> = [Cell<Slot<'a>>];

/// Links shared prefixes of the top-level `var`s in `root` to memo slots;
/// returns the number of slots used.
pub(crate) fn assign(root: &mut Node) -> usize {
    // Number every distinct prefix (a trie keyed by parent prefix and
    // fragment, so long paths cost linear time) and count the `var`s using it.
    let mut prefixes = Prefixes::default();
    let mut uses: Vec<usize> = Vec::new();
    visit_top_level_vars(root, &mut |var| {
        for id in prefixes.ids(var) {
            if id >= uses.len() {
                uses.resize(id + 1, 0);
            }
            uses[id] += 1;
        }
    });
    // Each `var` uses its longest prefix that another `var` shares.
    let mut chosen: Vec<Option<(usize, usize)>> = Vec::new();
    visit_top_level_vars(root, &mut |var| {
        let ids = prefixes.ids(var);
        chosen.push(
            ids.iter()
                .rposition(|&id| uses[id] > 1)
                .map(|i| (ids[i], i + 1)),
        );
    });
    let mut slots: HashMap<usize, usize> = HashMap::new();
    let mut chosen = chosen.into_iter();
    visit_top_level_vars_mut(root, &mut |var| {
        let Some((id, len)) = chosen.next().flatten() else {
            return;
        };
        let next = slots.len();
        let slot = match slots.entry(id) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) if next < MEMO_SLOTS => *entry.insert(next),
            Entry::Vacant(_) => return,
        };
        var.memo = Some(MemoRef { slot, len });
    });
    slots.len()
}

/// Ids of path prefixes: `(parent prefix id, fragment)` → id; 0 is the
/// empty prefix.
#[derive(Default)]
struct Prefixes<'n> {
    ids: HashMap<(usize, &'n str), usize>,
}

impl<'n> Prefixes<'n> {
    /// The ids of `var`'s prefixes of length 1, 2, … (the last is the path).
    fn ids(&mut self, var: &'n Var) -> Vec<usize> {
        let mut parent = 0;
        var.path
            .iter()
            .map(|fragment| {
                let next = self.ids.len() + 1;
                parent = *self.ids.entry((parent, &fragment.key)).or_insert(next);
                parent
            })
            .collect()
    }
}

fn visit_top_level_vars<'n>(node: &'n Node, f: &mut impl FnMut(&'n Var)) {
    match node {
        Node::Var(var) => f(var),
        // The lambda runs in its own context; operand and initial do not.
        Node::Reduce(parts) => {
            visit_top_level_vars(&parts[0], f);
            visit_top_level_vars(&parts[2], f);
        }
        _ => node.for_each_child(|child| visit_top_level_vars(child, f)),
    }
}

fn visit_top_level_vars_mut(node: &mut Node, f: &mut impl FnMut(&mut Var)) {
    match node {
        Node::Var(var) => f(var),
        Node::Reduce(parts) => {
            let [operand, _lambda, initial] = &mut **parts;
            visit_top_level_vars_mut(operand, f);
            visit_top_level_vars_mut(initial, f);
        }
        _ => node.for_each_child_mut(|child| visit_top_level_vars_mut(child, f)),
    }
}
