//! Which auth shard owns a subject's counters: rendezvous (highest random weight)
//! hashing of the subject id over the configured shard list.
//!
//! Every router with the same list picks the same owner without coordination, and
//! adding or removing a shard moves only the subjects that hash to it. The hash is
//! FNV-1a (64-bit), fixed here so that routers of different builds agree.

/// FNV-1a over `parts`, with a separator byte between them.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // Finalize (splitmix64) so that similar inputs spread over the whole range.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The index in `shards` of the shard owning `subject`; `None` if there are none.
pub fn owner(shards: &[String], subject: &str) -> Option<usize> {
    shards
        .iter()
        .enumerate()
        .max_by_key(|(_, shard)| fnv1a(&[shard.as_bytes(), subject.as_bytes()]))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("http://auth-{i}.auth:50052"))
            .collect()
    }

    #[test]
    fn spreads_subjects_evenly() {
        let list = shards(4);
        let mut counts = [0u32; 4];
        for i in 0..10_000 {
            counts[owner(&list, &format!("key:{i:012}")).unwrap()] += 1;
        }
        for c in counts {
            assert!((2_000..3_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_shard_moves_only_what_it_takes() {
        let (three, four) = (shards(3), shards(4));
        for i in 0..2_000 {
            let subject = format!("tenant:t{i}");
            let before = owner(&three, &subject).unwrap();
            let after = owner(&four, &subject).unwrap();
            assert!(
                after == before || after == 3,
                "{subject} moved {before} → {after}"
            );
        }
    }

    #[test]
    fn no_shards_no_owner() {
        assert_eq!(owner(&[], "key:x"), None);
    }
}
