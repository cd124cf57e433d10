//! A few counter handles kept by key, for label sets that are not known in advance but are
//! few per holder (a route's rejection reasons, its upstream's error kinds): the first `N` keys
//! counted keep their series' handle, so counting them again takes no family lock; a key past
//! those is looked up in the family each time.

use std::sync::OnceLock;

use super::shard::ShardedCounter;

pub struct Handles<K, const N: usize>([OnceLock<(K, ShardedCounter)>; N]);

impl<K: Copy + PartialEq, const N: usize> Handles<K, N> {
    pub const fn new() -> Self {
        Handles([const { OnceLock::new() }; N])
    }

    /// Counts one for `key`, whose series `lookup` takes from its family.
    pub fn inc(&self, key: K, lookup: impl Fn() -> ShardedCounter) {
        // A cell is claimed once; a thread that loses the race for one to another key moves
        // on, so a key is kept in at most one cell.
        for cell in &self.0 {
            let (kept, counter) = cell.get_or_init(|| (key, lookup()));
            if *kept == key {
                counter.inc();
                return;
            }
        }
        lookup().inc();
    }
}

impl<K, const N: usize> std::fmt::Debug for Handles<K, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handles")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_past_the_kept_ones_still_count_into_their_own_series() {
        let (a, b, c) = (
            ShardedCounter::new(1),
            ShardedCounter::new(1),
            ShardedCounter::new(1),
        );
        let handles = Handles::<&str, 2>::new();
        let lookup = |key: &str| match key {
            "a" => a.clone(),
            "b" => b.clone(),
            _ => c.clone(),
        };
        for key in ["a", "b", "c", "a", "c", "b", "a"] {
            handles.inc(key, || lookup(key));
        }
        assert_eq!(
            (a.get(), b.get(), c.get()),
            (3, 2, 2),
            "each key its own count"
        );
    }
}
