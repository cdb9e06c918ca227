//! The sorted sets' rank index against a model (a BTreeSet in the same order), edge cases
//! of Redis' order (infinities, -0.0, equal scores by member bytes) and big sets.

use std::collections::BTreeSet;

use ferricstore_engine::rank::{
    rank_span, LexBound, RankIndex, RankedSet, Score, ScoreBound, DEFAULT_MAX_CHUNK,
};
use proptest::prelude::*;

type Model = BTreeSet<(Score, Vec<u8>)>;

fn s(f: f64) -> Score {
    Score::new(f).expect("not NaN")
}

fn items<const M: usize>(set: &RankedSet<M>) -> Vec<(Score, Vec<u8>)> {
    set.iter_from(0).map(|(s, m)| (s, m.to_vec())).collect()
}

fn model_rank(model: &Model, score: Score, member: &[u8]) -> usize {
    model.range(..(score, member.to_vec())).count()
}

#[derive(Clone, Debug)]
enum Op {
    Insert(f64, Vec<u8>),
    Remove(f64, Vec<u8>),
    /// Removes the element at (index mod len) of the model, so removals hit.
    RemoveNth(usize),
}

fn score_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        // Few distinct scores: many ties ordered by member.
        3 => prop::sample::select(vec![
            f64::NEG_INFINITY,
            -1.5,
            -0.0,
            0.0,
            1.0,
            2.5,
            f64::INFINITY,
        ]),
        1 => any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
    ]
}

fn member_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(vec![0u8, b'a', b'b', 0x7f, 0xff]), 0..4),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (score_strategy(), member_strategy()).prop_map(|(s, m)| Op::Insert(s, m)),
        1 => (score_strategy(), member_strategy()).prop_map(|(s, m)| Op::Remove(s, m)),
        3 => any::<usize>().prop_map(Op::RemoveNth),
    ]
}

fn bound_strategy() -> impl Strategy<Value = ScoreBound> {
    (score_strategy(), any::<bool>()).prop_map(|(f, inclusive)| ScoreBound {
        score: s(f),
        inclusive,
    })
}

/// Everything the set answers, checked against the model.
fn check_all<const M: usize>(set: &RankedSet<M>, model: &Model) -> Result<(), TestCaseError> {
    set.validate().map_err(TestCaseError::fail)?;
    prop_assert_eq!(set.len(), model.len());
    let all: Vec<(Score, Vec<u8>)> = model.iter().cloned().collect();
    prop_assert_eq!(items(set), all.clone());
    for (i, (score, member)) in all.iter().enumerate() {
        prop_assert_eq!(set.rank(*score, member), Some(i));
        prop_assert!(set.contains(*score, member));
        prop_assert_eq!(set.get(i), Some((*score, &member[..])));
        prop_assert_eq!(set.count_before(*score, member, false), i);
        prop_assert_eq!(set.count_before(*score, member, true), i + 1);
        let rev: Vec<(Score, Vec<u8>)> =
            set.iter_rev_from(i).map(|(s, m)| (s, m.to_vec())).collect();
        let want: Vec<(Score, Vec<u8>)> = all[..=i].iter().rev().cloned().collect();
        prop_assert_eq!(rev, want);
    }
    prop_assert_eq!(set.get(all.len()), None);
    prop_assert_eq!(set.iter_from(all.len()).count(), 0);
    prop_assert_eq!(set.iter_rev_from(all.len()).count(), 0);
    prop_assert_eq!(set.first(), all.first().map(|(s, m)| (*s, &m[..])));
    prop_assert_eq!(set.last(), all.last().map(|(s, m)| (*s, &m[..])));
    Ok(())
}

fn lex_bound(kind: u8, m: &[u8]) -> LexBound<'_> {
    match kind {
        0 => LexBound::Min,
        1 => LexBound::Max,
        2 => LexBound::Inclusive(m),
        _ => LexBound::Exclusive(m),
    }
}

fn run_ops<const M: usize>(ops: &[Op]) -> Result<(RankedSet<M>, Model), TestCaseError> {
    let mut set = RankedSet::<M>::new();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Insert(f, m) => {
                let sc = s(*f);
                prop_assert_eq!(set.insert(sc, m), model.insert((sc, m.clone())));
            }
            Op::Remove(f, m) => {
                let sc = s(*f);
                prop_assert_eq!(set.remove(sc, m), model.remove(&(sc, m.clone())));
            }
            Op::RemoveNth(i) => {
                if !model.is_empty() {
                    let (sc, m) = model
                        .iter()
                        .nth(i % model.len())
                        .cloned()
                        .expect("in range");
                    prop_assert!(set.remove(sc, &m));
                    model.remove(&(sc, m.clone()));
                    prop_assert!(!set.remove(sc, &m));
                }
            }
        }
        set.validate().map_err(TestCaseError::fail)?;
        prop_assert_eq!(set.len(), model.len());
    }
    Ok((set, model))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Tiny chunks (4 and 8) so that splits, merges and the tree are exercised by short
    /// sequences.
    #[test]
    fn random_ops_match_the_model(ops in prop::collection::vec(op_strategy(), 0..400)) {
        let (set, model) = run_ops::<8>(&ops)?;
        check_all(&set, &model)?;
        let (set4, model4) = run_ops::<4>(&ops)?;
        check_all(&set4, &model4)?;
    }

    #[test]
    fn probes_and_spans_match_the_model(
        ops in prop::collection::vec(op_strategy(), 0..300),
        probes in prop::collection::vec((score_strategy(), member_strategy(), any::<bool>()), 1..20),
        bounds in prop::collection::vec((bound_strategy(), bound_strategy()), 1..10),
    ) {
        let (set, model) = run_ops::<8>(&ops)?;
        for (f, m, incl) in &probes {
            let sc = s(*f);
            let below = model_rank(&model, sc, m);
            let has = model.contains(&(sc, m.clone()));
            prop_assert_eq!(set.count_before(sc, m, false), below);
            prop_assert_eq!(set.count_before(sc, m, true), below + usize::from(has));
            prop_assert_eq!(set.rank(sc, m), has.then_some(below));
            let by_score = model.iter().filter(|(x, _)| if *incl { *x <= sc } else { *x < sc }).count();
            prop_assert_eq!(set.count_score_below(sc, *incl), by_score);
        }
        for (min, max) in &bounds {
            let (lo, hi) = set.score_span(*min, *max);
            let want: Vec<usize> = model
                .iter()
                .enumerate()
                .filter(|(_, (x, _))| {
                    (if min.inclusive { *x >= min.score } else { *x > min.score })
                        && (if max.inclusive { *x <= max.score } else { *x < max.score })
                })
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(hi - lo, want.len());
            if let Some(first) = want.first() {
                prop_assert_eq!(lo, *first);
            }
        }
    }

    #[test]
    fn lex_spans_of_equal_scores(
        members in prop::collection::btree_set(member_strategy(), 0..60),
        min in member_strategy(),
        max in member_strategy(),
        kinds in (0u8..4, 0u8..4),
    ) {
        let mut set = RankedSet::<8>::new();
        for m in &members {
            set.insert(s(0.0), m);
        }
        let (lo_b, hi_b) = (lex_bound(kinds.0, &min), lex_bound(kinds.1, &max));
        let above = |m: &Vec<u8>| match lo_b {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(x) => &m[..] >= x,
            LexBound::Exclusive(x) => &m[..] > x,
        };
        let below = |m: &Vec<u8>| match hi_b {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(x) => &m[..] <= x,
            LexBound::Exclusive(x) => &m[..] < x,
        };
        let want: Vec<&Vec<u8>> = members.iter().filter(|m| above(m) && below(m)).collect();
        let (lo, hi) = set.lex_span(lo_b, hi_b).expect("equal scores");
        let got: Vec<Vec<u8>> = set.iter_from(lo).take(hi - lo).map(|(_, m)| m.to_vec()).collect();
        prop_assert_eq!(got.iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn rank_span_is_redis_zrange(len in 0usize..50, start in -60i64..60, stop in -60i64..60) {
        // Redis' zrangeGenericCommand, written out.
        let l = len as i64;
        let mut a = if start < 0 { l + start } else { start };
        let mut b = if stop < 0 { l + stop } else { stop };
        if a < 0 { a = 0; }
        let want = if a > b || a >= l {
            None
        } else {
            if b >= l { b = l - 1; }
            Some((a as usize, b as usize))
        };
        prop_assert_eq!(rank_span(len, start, stop), want);
    }
}

#[test]
fn scores_order_as_redis() {
    assert!(Score::new(f64::NAN).is_none());
    assert_eq!(s(-0.0), s(0.0));
    assert_eq!(s(-0.0).get().to_bits(), 0.0f64.to_bits());
    assert!(Score::NEG_INF < s(-f64::MAX) && s(f64::MAX) < Score::INF);
    assert!(s(-1.0) < s(0.0) && s(0.0) < s(f64::MIN_POSITIVE));

    let mut set = RankedSet::<4>::new();
    for (f, m) in [
        (f64::INFINITY, &b"top"[..]),
        (0.0, b"b"),
        (-0.0, b"a"),
        (0.0, b"a\0"),
        (0.0, b""),
        (f64::NEG_INFINITY, b"bottom"),
        (0.0, b"\xff"),
        (0.0, b"\x7f"),
        (1.0, b"one"),
    ] {
        assert!(set.insert(s(f), m));
    }
    // -0.0 and 0.0 are the same score: the same member again is not new.
    assert!(!set.insert(s(0.0), b"a"));
    assert!(!set.insert(s(-0.0), b"b"));
    let order: Vec<&[u8]> = set.iter_from(0).map(|(_, m)| m).collect();
    assert_eq!(
        order,
        vec![
            &b"bottom"[..],
            b"",
            b"a",
            b"a\0",
            b"b",
            b"\x7f",
            b"\xff",
            b"one",
            b"top"
        ]
    );
    assert_eq!(set.rank(s(-0.0), b"a\0"), Some(3));
    assert_eq!(set.rank(Score::INF, b"top"), Some(8));
    assert_eq!(set.rank(Score::INF, b"nope"), None);
    assert_eq!(set.count_score_below(s(0.0), false), 1);
    assert_eq!(set.count_score_below(s(0.0), true), 7);
    assert_eq!(set.count_score_below(Score::INF, false), 8);
    assert_eq!(set.count_score_below(Score::INF, true), 9);
    assert_eq!(set.count_score_below(Score::NEG_INF, false), 0);
    // Mixed scores: lex ranges are not defined.
    assert_eq!(set.lex_span(LexBound::Min, LexBound::Max), None);
    set.validate().unwrap();
}

#[test]
fn empty_set() {
    let mut set = RankedSet::<DEFAULT_MAX_CHUNK>::new();
    assert!(set.is_empty());
    assert_eq!(set.rank(s(1.0), b"a"), None);
    assert_eq!(set.get(0), None);
    assert_eq!(set.first(), None);
    assert_eq!(set.count_before(s(1.0), b"a", true), 0);
    assert_eq!(set.count_score_below(Score::INF, true), 0);
    assert_eq!(set.iter_from(0).count(), 0);
    assert_eq!(set.iter_rev_from(0).count(), 0);
    assert_eq!(set.lex_span(LexBound::Min, LexBound::Max), Some((0, 0)));
    let all = ScoreBound {
        score: Score::NEG_INF,
        inclusive: true,
    };
    assert_eq!(set.score_span(all, all), (0, 0));
    assert!(!set.remove(s(1.0), b"a"));
    assert!(set.insert(s(1.0), b"a"));
    assert!(set.remove(s(1.0), b"a"));
    assert!(set.is_empty());
    assert_eq!(set.chunk_count(), 0);
    set.validate().unwrap();
}

/// A deterministic generator (xorshift), so the big tests need no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn big_set_in_random_order() {
    let n = 200_000usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut set = RankedSet::<DEFAULT_MAX_CHUNK>::new();
    let mut model: Vec<(Score, Vec<u8>)> = Vec::with_capacity(n);
    for i in 0..n {
        // Scores with ties (1000 distinct values), members unique.
        let score = s((rng.next() % 1000) as f64 - 500.0);
        let member = format!("m{i}").into_bytes();
        assert!(set.insert(score, &member));
        model.push((score, member));
    }
    model.sort();
    set.validate().unwrap();
    assert_eq!(set.len(), n);
    for k in [0, 1, n / 2, n - 2, n - 1]
        .into_iter()
        .chain((0..2000).map(|_| (rng.next() as usize) % n))
    {
        let (score, member) = &model[k];
        assert_eq!(set.rank(*score, member), Some(k));
        assert_eq!(set.get(k), Some((*score, &member[..])));
        let want: Vec<&[u8]> = model[k..(k + 10).min(n)]
            .iter()
            .map(|(_, m)| &m[..])
            .collect();
        let got: Vec<&[u8]> = set.iter_from(k).take(10).map(|(_, m)| m).collect();
        assert_eq!(got, want);
    }
    // Chunks stay between a quarter full and full.
    assert!(set.chunk_count() <= n / (DEFAULT_MAX_CHUNK / 4));

    // Remove every other element, then check again.
    for (score, member) in model.iter().step_by(2) {
        assert!(set.remove(*score, member));
    }
    let model: Vec<(Score, Vec<u8>)> = model.into_iter().skip(1).step_by(2).collect();
    set.validate().unwrap();
    assert_eq!(set.len(), model.len());
    for k in (0..model.len()).step_by(997) {
        let (score, member) = &model[k];
        assert_eq!(set.rank(*score, member), Some(k));
    }
    for (score, member) in &model {
        assert!(set.remove(*score, member));
    }
    assert!(set.is_empty());
    assert_eq!(set.chunk_count(), 0);
}

#[test]
fn ascending_and_descending_inserts_fill_chunks() {
    let n = 100_000usize;
    let mut up = RankedSet::<DEFAULT_MAX_CHUNK>::new();
    let mut down = RankedSet::<DEFAULT_MAX_CHUNK>::new();
    for i in 0..n {
        assert!(up.insert(s(i as f64), b"m"));
        assert!(down.insert(s((n - i) as f64), b"m"));
    }
    up.validate().unwrap();
    down.validate().unwrap();
    // Appends start a new chunk instead of splitting the last full one.
    assert_eq!(up.chunk_count(), n.div_ceil(DEFAULT_MAX_CHUNK));
    assert!(down.chunk_count() <= n.div_ceil(DEFAULT_MAX_CHUNK) + 1);
    assert_eq!(up.rank(s(12_345.0), b"m"), Some(12_345));
    assert_eq!(down.rank(s(12_345.0), b"m"), Some(12_344));
    let top: Vec<f64> = up
        .iter_rev_from(n - 1)
        .take(3)
        .map(|(s, _)| s.get())
        .collect();
    assert_eq!(top, vec![99_999.0, 99_998.0, 99_997.0]);
}

#[test]
fn index_of_many_keys() {
    let mut index = RankIndex::new();
    for k in 0..1000u32 {
        let key = k.to_be_bytes();
        for m in 0..(k % 7) {
            assert!(index.insert(&key, s(f64::from(m)), format!("{m}").as_bytes()));
        }
    }
    assert_eq!(index.key_count(), 1000 - 1000usize.div_ceil(7));
    let key = 13u32.to_be_bytes();
    let set = index.get(&key).unwrap();
    assert_eq!(set.len(), 6);
    assert_eq!(set.rank(s(4.0), b"4"), Some(4));
    assert!(!index.insert(&key, s(4.0), b"4"));
    assert!(index.remove(&key, s(4.0), b"4"));
    assert!(!index.remove(&key, s(4.0), b"4"));
    assert!(!index.remove(b"missing", s(4.0), b"4"));
    index.validate_bytes().unwrap();
    let total = index.member_count();
    let removed = index.remove_key(&key).unwrap();
    assert_eq!(removed.len(), 5);
    assert_eq!(index.member_count(), total - 5);
    assert!(index.get(&key).is_none());
    assert!(index.remove_key(&key).is_none());

    // A key whose last member goes is not kept.
    let one = 1u32.to_be_bytes();
    assert!(index.remove(&one, s(0.0), b"0"));
    assert!(index.get(&one).is_none());

    let old = index.take();
    assert_eq!(index.key_count(), 0);
    assert_eq!(index.member_count(), 0);
    assert_eq!(index.heap_bytes(), 0);
    assert_eq!(old.member_count(), total - 6);
}

#[test]
fn heap_bytes_follows_members() {
    let mut index = RankIndex::new();
    let member = [b'm'; 100];
    for i in 0..10_000u32 {
        let mut m = member.to_vec();
        m.extend_from_slice(&i.to_be_bytes());
        index.insert(b"z", s(f64::from(i)), &m);
    }
    // Each member: its 104 bytes plus the (score, boxed slice) entry.
    let bytes = index.heap_bytes();
    assert!(bytes >= 10_000 * (104 + 24), "{bytes}");
    assert!(bytes < 10_000 * (104 + 24) * 11 / 10, "{bytes}");
    let set = index.get(b"z").unwrap();
    set.validate().unwrap();
    index.validate_bytes().unwrap();
    for i in 0..5_000u32 {
        let mut m = member.to_vec();
        m.extend_from_slice(&i.to_be_bytes());
        assert!(index.remove(b"z", s(f64::from(i)), &m));
    }
    index.get(b"z").unwrap().validate().unwrap();
    index.validate_bytes().unwrap();
    assert!(
        index.heap_bytes() < bytes / 2 + 10_000,
        "{}",
        index.heap_bytes()
    );
    index.remove_key(b"z");
    assert_eq!(index.heap_bytes(), 0);
}
