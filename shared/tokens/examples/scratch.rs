#![allow(missing_docs, clippy::unwrap_used)]
use std::collections::HashSet;
use std::time::Instant;
fn main() {
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let empty = HashSet::new();
    let para = "Switchyard routes every request to a model and counts tokens exactly, while streams flow through the gateway. ";
    for reps in [0usize, 1, 10, 50, 500, 5000] {
        let text = if reps == 0 { "hello".to_string() } else { para.repeat(reps) };
        let iters = (20_000 / reps.max(1)).max(3);
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..iters { n = std::hint::black_box(bpe.encode(&text, &empty).unwrap()).0.len(); }
        let per = t.elapsed() / iters as u32;
        println!("{n} tokens: {:?}/count ({:?}/1k tokens)", per, per * 1000 / n as u32);
    }
}
