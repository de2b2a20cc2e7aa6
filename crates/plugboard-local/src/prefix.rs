//! Finished sequences kept for the next turn.
//!
//! A chat turn's prompt is the previous turn's prompt and reply plus a new message, so
//! the KV cache a reply leaves behind already holds most of the next prompt. Without it
//! every turn would run the whole conversation through the model again (seconds, for a
//! long one, before the first token). Finished sequences are kept, newest last, within a
//! memory budget; a new prompt continues the one sharing its longest prefix: taken over
//! when the prompt continues all of it (the same conversation), copied up to the shared
//! part otherwise (another conversation with the same system prompt), so one
//! conversation's cache is never spent on another's.

use std::sync::Mutex;

use crate::engine::{Sequence, Weights};

struct Entry {
    tokens: Vec<u32>,
    sequence: Sequence,
}

/// The kept sequences.
pub(crate) struct Prefixes {
    entries: Mutex<Vec<Entry>>,
    budget: usize,
}

impl std::fmt::Debug for Prefixes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefixes").field("budget", &self.budget).finish_non_exhaustive()
    }
}

fn shared(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(a, b)| a == b).count()
}

impl Prefixes {
    /// Keeps at most `budget` bytes of KV caches (0: none).
    pub(crate) fn new(budget: usize) -> Prefixes {
        Prefixes { entries: Mutex::new(Vec::new()), budget }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic elsewhere leaves the list itself intact.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A sequence to run `prompt` with: holding the longest prefix of it that a kept
    /// sequence has (never all of it: the last token must run to give logits), or empty.
    pub(crate) fn take(&self, weights: &Weights, prompt: &[u32]) -> Sequence {
        let usable = prompt.len().saturating_sub(1);
        let mut entries = self.entries();
        let best = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (index, shared(&entry.tokens, &prompt[..usable])))
            .max_by_key(|(index, length)| (*length, *index));
        match best {
            Some((index, length)) if length > 0 => {
                if length == entries[index].tokens.len() {
                    entries.remove(index).sequence
                } else {
                    entries[index].sequence.prefix(length)
                }
            }
            _ => weights.sequence(),
        }
    }

    /// Keeps `sequence`, whose cache holds `tokens`, dropping the oldest kept ones past
    /// the budget.
    pub(crate) fn put(&self, mut tokens: Vec<u32>, sequence: Sequence) {
        if self.budget == 0 || sequence.len() == 0 {
            return;
        }
        tokens.truncate(sequence.len());
        let mut entries = self.entries();
        entries.push(Entry { tokens, sequence });
        let mut total: usize = entries.iter().map(|entry| entry.sequence.cache_bytes()).sum();
        while total > self.budget {
            let oldest = entries.remove(0);
            total -= oldest.sequence.cache_bytes();
        }
    }
}
