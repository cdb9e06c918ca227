//! Order-statistic index of sorted sets: ranks in O(log N).
//!
//! The store keeps sorted-set members in ETS (see `docs/collections.md`), where an
//! `ordered_set` answers "next member after X" in O(log N) but "how many members come
//! before X" only by counting them. Redis answers ZRANK, ZRANGE by rank, ZCOUNT and
//! ZLEXCOUNT in O(log N) with the span counts of its skiplist; this module is the same
//! thing for FerricStore: per key, the members in Redis' order with the rank of any
//! member, the member at any rank and ranges from any rank.
//!
//! # Order
//!
//! By score, then by member bytes (`memcmp`, shorter first on a common prefix), exactly
//! as Redis orders a sorted set. Scores are [`Score`]s: never NaN, `-0.0` stored as
//! `0.0`, `±inf` allowed.
//!
//! # Layout
//!
//! A [`RankedSet`] is a list of sorted chunks of at most `MAX` elements (512 by default)
//! whose concatenation is the set in order, plus a Fenwick tree over the chunk lengths:
//!
//! - finding a member: binary search over the chunks' last elements, then within the
//!   chunk: O(log N);
//! - the rank of a position: Fenwick prefix sum of the chunk lengths before it:
//!   O(log(N / MAX));
//! - the element at a rank: Fenwick descent to its chunk: O(log(N / MAX));
//! - insert / remove: O(log N) plus moving at most `MAX` elements within one chunk. A
//!   full chunk is split (or, when the new element goes past the end of the set, a new
//!   chunk is started, so ascending inserts leave full chunks); a chunk under a quarter
//!   full is merged with a neighbour. Either rebuilds the tree, O(N / MAX), once every
//!   ~MAX/4 updates of that chunk at most.
//!
//! A set of one chunk (up to `MAX` members: most sets) has no tree and allocates only
//! its elements, so small sets cost little more than their members.
//!
//! [`RankIndex`] maps keys to their sets (one index per shard).

use std::cmp::Ordering;
use std::collections::HashMap;

/// Elements per chunk of the sets in a [`RankIndex`].
pub const DEFAULT_MAX_CHUNK: usize = 512;

/// A sorted-set score: any `f64` but NaN, with `-0.0` normalised to `0.0` (Redis orders
/// them as equal). Ordered numerically, `-inf` first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(f64);

impl Score {
    /// `+inf`.
    pub const INF: Score = Score(f64::INFINITY);
    /// `-inf`.
    pub const NEG_INF: Score = Score(f64::NEG_INFINITY);

    /// The score `f`, or None for NaN (which Redis never stores either).
    pub fn new(f: f64) -> Option<Score> {
        if f.is_nan() {
            None
        } else if f == 0.0 {
            Some(Score(0.0))
        } else {
            Some(Score(f))
        }
    }

    /// The score as an `f64` (never NaN, never `-0.0`).
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        // Without NaN and -0.0, total_cmp is the numeric order.
        self.0.total_cmp(&other.0)
    }
}

/// One end of a score range (ZCOUNT, ZRANGE BYSCORE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreBound {
    /// The bound's score.
    pub score: Score,
    /// Whether a member with exactly this score is in the range (`(` makes it exclusive).
    pub inclusive: bool,
}

/// One end of a lex range (ZLEXCOUNT, ZRANGE BYLEX), as Redis writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member`.
    Inclusive(&'a [u8]),
    /// `(member`.
    Exclusive(&'a [u8]),
}

/// The positions `[start, stop]` (inclusive, 0-based) that Redis' rank arguments
/// `start`/`stop` (negative ones count from the end) select in a set of `len` members,
/// or None when they select nothing. Same rules as Redis' ZRANGE.
pub fn rank_span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        start.saturating_add(len_i).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop.saturating_add(len_i)
    } else {
        stop.min(len_i - 1)
    };
    if start > stop || start >= len_i {
        None
    } else {
        // Both are in 0..len here.
        Some((start as usize, stop as usize))
    }
}

#[derive(Clone, Debug)]
struct Entry {
    score: Score,
    member: Box<[u8]>,
}

impl Entry {
    fn new(score: Score, member: &[u8]) -> Self {
        Entry {
            score,
            member: member.into(),
        }
    }

    fn cmp_to(&self, score: Score, member: &[u8]) -> Ordering {
        self.score
            .cmp(&score)
            .then_with(|| (*self.member).cmp(member))
    }

    fn view(&self) -> (Score, &[u8]) {
        (self.score, &self.member)
    }
}

/// The members of one sorted set in Redis' order, with ranks (see the module docs).
/// `MAX` is the most elements per chunk (at least 4).
#[derive(Clone, Debug, Default)]
pub struct RankedSet<const MAX: usize = DEFAULT_MAX_CHUNK> {
    /// Non-empty sorted chunks; their concatenation is sorted without duplicates.
    chunks: Vec<Vec<Entry>>,
    /// Fenwick tree over the chunk lengths (`tree[i - 1]` covers chunks `i - lowbit(i)
    /// .. i`), empty while there is at most one chunk.
    tree: Vec<usize>,
    len: usize,
    /// Total length of the members' bytes (for memory accounting).
    member_bytes: usize,
}

impl<const MAX: usize> RankedSet<MAX> {
    const MIN: usize = MAX / 4;

    /// An empty set (allocates nothing).
    pub fn new() -> Self {
        RankedSet {
            chunks: Vec::new(),
            tree: Vec::new(),
            len: 0,
            member_bytes: 0,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes held: the entries and their members' bytes, the chunk
    /// headers and the Fenwick tree (allocator slack and spare capacity not counted).
    pub fn heap_bytes(&self) -> usize {
        self.len * std::mem::size_of::<Entry>()
            + self.member_bytes
            + self.chunks.len() * std::mem::size_of::<Vec<Entry>>()
            + self.tree.len() * std::mem::size_of::<usize>()
    }

    /// Adds `(score, member)`; false (and no change) if it is already there. A member
    /// changing its score is a `remove` of the old pair and an `insert` of the new one.
    pub fn insert(&mut self, score: Score, member: &[u8]) -> bool {
        let Some(last) = self.chunks.len().checked_sub(1) else {
            self.chunks.push(vec![Entry::new(score, member)]);
            self.len = 1;
            self.member_bytes = member.len();
            return true;
        };
        let ci = self.chunk_for(score, member);
        let pos = match self.chunks[ci].binary_search_by(|e| e.cmp_to(score, member)) {
            Ok(_) => return false,
            Err(pos) => pos,
        };
        let entry = Entry::new(score, member);
        self.len += 1;
        self.member_bytes += member.len();
        let chunk_len = self.chunks[ci].len();
        if chunk_len < MAX {
            self.chunks[ci].insert(pos, entry);
            self.tree_add(ci);
        } else if ci == last && pos == chunk_len {
            // Past the end of the set (ascending inserts: timestamps, counters): a new
            // chunk, so the full one stays full instead of being split in halves.
            self.chunks.push(vec![entry]);
            self.rebuild_tree();
        } else if ci == 0 && pos == 0 {
            self.chunks.insert(0, vec![entry]);
            self.rebuild_tree();
        } else {
            let half = MAX / 2;
            let mut tail = self.chunks[ci].split_off(half);
            if pos <= half {
                self.chunks[ci].insert(pos, entry);
            } else {
                tail.insert(pos - half, entry);
            }
            self.chunks.insert(ci + 1, tail);
            self.rebuild_tree();
        }
        true
    }

    /// Removes `(score, member)`; false if it is not there.
    pub fn remove(&mut self, score: Score, member: &[u8]) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &mut self.chunks[ci];
        let Ok(pos) = chunk.binary_search_by(|e| e.cmp_to(score, member)) else {
            return false;
        };
        chunk.remove(pos);
        self.len -= 1;
        self.member_bytes -= member.len();
        // Give memory back when a chunk shrank well below what it holds.
        if chunk.capacity() > 4 * chunk.len().max(4) {
            let keep = 2 * chunk.len();
            chunk.shrink_to(keep);
        }
        if chunk.is_empty() {
            self.chunks.remove(ci);
            self.rebuild_tree();
        } else if chunk.len() < Self::MIN && self.chunks.len() > 1 {
            self.merge(ci);
        } else {
            self.tree_sub(ci);
        }
        true
    }

    /// Whether `(score, member)` is in the set.
    pub fn contains(&self, score: Score, member: &[u8]) -> bool {
        self.position(score, member).is_some()
    }

    /// The 0-based rank of `(score, member)` (how many members come before it), or None
    /// if it is not in the set.
    pub fn rank(&self, score: Score, member: &[u8]) -> Option<usize> {
        self.position(score, member)
            .map(|(ci, pos)| self.prefix(ci) + pos)
    }

    /// How many members come before `(score, member)` (which need not be in the set);
    /// with `inclusive`, also counts the pair itself if it is there.
    pub fn count_before(&self, score: Score, member: &[u8], inclusive: bool) -> usize {
        if inclusive {
            self.count_while(|e| e.cmp_to(score, member) != Ordering::Greater)
        } else {
            self.count_while(|e| e.cmp_to(score, member) == Ordering::Less)
        }
    }

    /// How many members have a score below `score` (`inclusive`: at most `score`).
    pub fn count_score_below(&self, score: Score, inclusive: bool) -> usize {
        if inclusive {
            self.count_while(|e| e.score <= score)
        } else {
            self.count_while(|e| e.score < score)
        }
    }

    /// The positions `[lo, hi)` of the members whose score is within `min`..`max`.
    pub fn score_span(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        let lo = self.count_score_below(min.score, !min.inclusive);
        let hi = self.count_score_below(max.score, max.inclusive);
        (lo, hi.max(lo))
    }

    /// The positions `[lo, hi)` of the members within the lex range `min`..`max`, or
    /// None when the members do not all have the same score: Redis defines lex ranges
    /// only for that case (its answer otherwise depends on its skiplist's shape).
    pub fn lex_span(&self, min: LexBound<'_>, max: LexBound<'_>) -> Option<(usize, usize)> {
        let (Some(first), Some(last)) = (self.first(), self.last()) else {
            return Some((0, 0));
        };
        if first.0 != last.0 {
            return None;
        }
        let score = first.0;
        let count = |bound: LexBound<'_>, upper: bool| match bound {
            LexBound::Min => 0,
            LexBound::Max => self.len,
            // Members before the lower bound / up to the upper bound.
            LexBound::Inclusive(m) => self.count_before(score, m, upper),
            LexBound::Exclusive(m) => self.count_before(score, m, !upper),
        };
        let lo = count(min, false);
        let hi = count(max, true);
        Some((lo, hi.max(lo)))
    }

    /// The member at 0-based `rank` in ascending order.
    pub fn get(&self, rank: usize) -> Option<(Score, &[u8])> {
        if rank >= self.len {
            return None;
        }
        let (ci, off) = self.find(rank);
        self.chunks.get(ci)?.get(off).map(Entry::view)
    }

    /// The lowest member.
    pub fn first(&self) -> Option<(Score, &[u8])> {
        self.chunks.first()?.first().map(Entry::view)
    }

    /// The highest member.
    pub fn last(&self) -> Option<(Score, &[u8])> {
        self.chunks.last()?.last().map(Entry::view)
    }

    /// Members in ascending order from 0-based `rank` on.
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (Score, &[u8])> + '_ {
        let (head, rest): (&[Entry], &[Vec<Entry>]) = if rank < self.len {
            let (ci, off) = self.find(rank);
            (
                self.chunks.get(ci).map_or(&[][..], |c| &c[off..]),
                self.chunks.get(ci + 1..).unwrap_or(&[]),
            )
        } else {
            (&[], &[])
        };
        head.iter().chain(rest.iter().flatten()).map(Entry::view)
    }

    /// Members in descending order from 0-based (ascending) `rank` down to rank 0.
    pub fn iter_rev_from(&self, rank: usize) -> impl Iterator<Item = (Score, &[u8])> + '_ {
        let (head, rest): (&[Entry], &[Vec<Entry>]) = if rank < self.len {
            let (ci, off) = self.find(rank);
            (
                self.chunks.get(ci).map_or(&[][..], |c| &c[..=off]),
                self.chunks.get(..ci).unwrap_or(&[]),
            )
        } else {
            (&[], &[])
        };
        head.iter()
            .rev()
            .chain(rest.iter().rev().flat_map(|c| c.iter().rev()))
            .map(Entry::view)
    }

    /// Checks the structure's invariants (for tests): sorted without duplicates, chunk
    /// sizes, the tree and the length.
    pub fn validate(&self) -> Result<(), String> {
        let mut prev: Option<&Entry> = None;
        let mut n = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.is_empty() || c.len() > MAX {
                return Err(format!("chunk {i} has {} elements", c.len()));
            }
            for e in c {
                if e.score.get().is_nan() || e.score.get().to_bits() == (-0.0f64).to_bits() {
                    return Err(format!("bad score {:?}", e.score));
                }
                if let Some(p) = prev {
                    if p.cmp_to(e.score, &e.member) != Ordering::Less {
                        return Err(format!("out of order at chunk {i}"));
                    }
                }
                prev = Some(e);
            }
            n += c.len();
        }
        if n != self.len {
            return Err(format!("len {} but {n} elements", self.len));
        }
        let bytes: usize = self.chunks.iter().flatten().map(|e| e.member.len()).sum();
        if bytes != self.member_bytes {
            return Err(format!("member_bytes {} but {bytes}", self.member_bytes));
        }
        if self.chunks.len() <= 1 && !self.tree.is_empty() {
            return Err("tree for a single chunk".into());
        }
        let mut sum = 0;
        for i in 0..self.chunks.len() {
            if self.prefix(i) != sum {
                return Err(format!("prefix({i}) = {} != {sum}", self.prefix(i)));
            }
            sum += self.chunks[i].len();
        }
        Ok(())
    }

    /// Number of chunks (for tests and memory estimates).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    // -- helpers -----------------------------------------------------------------------

    /// The chunk that holds `(score, member)` or where it would go: the first chunk
    /// whose last element is not below it, or the last chunk. `chunks` is non-empty.
    fn chunk_for(&self, score: Score, member: &[u8]) -> usize {
        let i = self.chunks.partition_point(|c| {
            c.last()
                .is_some_and(|e| e.cmp_to(score, member) == Ordering::Less)
        });
        i.min(self.chunks.len().saturating_sub(1))
    }

    fn position(&self, score: Score, member: &[u8]) -> Option<(usize, usize)> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_for(score, member);
        let pos = self.chunks[ci]
            .binary_search_by(|e| e.cmp_to(score, member))
            .ok()?;
        Some((ci, pos))
    }

    /// How many members satisfy `pred`, which must hold for a prefix of the set only.
    fn count_while(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| c.last().is_some_and(&pred));
        match self.chunks.get(ci) {
            None => self.len,
            Some(c) => self.prefix(ci) + c.partition_point(&pred),
        }
    }

    /// Merges the under-full chunk `ci` with a neighbour (splitting the result again if
    /// it is over `MAX`). There are at least two chunks.
    fn merge(&mut self, ci: usize) {
        let (a, b) = if ci + 1 < self.chunks.len() {
            (ci, ci + 1)
        } else {
            (ci - 1, ci)
        };
        let right = self.chunks.remove(b);
        self.chunks[a].extend(right);
        let n = self.chunks[a].len();
        if n > MAX {
            let tail = self.chunks[a].split_off(n / 2);
            self.chunks.insert(a + 1, tail);
        }
        self.rebuild_tree();
    }

    /// Sum of the lengths of chunks `0..i`.
    fn prefix(&self, i: usize) -> usize {
        if self.tree.is_empty() {
            return 0;
        }
        let mut i = i.min(self.tree.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// The chunk holding ascending position `rank` (< len) and the offset in it.
    fn find(&self, rank: usize) -> (usize, usize) {
        let n = self.tree.len();
        if n == 0 {
            return (0, rank);
        }
        // The largest chunk index p with prefix(p) <= rank; chunks are non-empty, so
        // chunk p holds the position.
        let mut pos = 0;
        let mut rem = rank;
        let mut step = 1usize << (usize::BITS - 1 - n.leading_zeros());
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next - 1] <= rem {
                pos = next;
                rem -= self.tree[next - 1];
            }
            step >>= 1;
        }
        (pos, rem)
    }

    fn tree_add(&mut self, chunk: usize) {
        let n = self.tree.len();
        let mut i = chunk + 1;
        while i <= n {
            self.tree[i - 1] += 1;
            i += i & i.wrapping_neg();
        }
    }

    fn tree_sub(&mut self, chunk: usize) {
        let n = self.tree.len();
        let mut i = chunk + 1;
        while i <= n {
            self.tree[i - 1] -= 1;
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild_tree(&mut self) {
        let n = self.chunks.len();
        self.tree.clear();
        if n <= 1 {
            self.tree.shrink_to_fit();
            return;
        }
        self.tree.extend(self.chunks.iter().map(Vec::len));
        for i in 1..=n {
            let j = i + (i & i.wrapping_neg());
            if j <= n {
                self.tree[j - 1] += self.tree[i - 1];
            }
        }
        if self.chunks.capacity() > 4 * n {
            self.chunks.shrink_to(2 * n);
        }
        self.tree.shrink_to(2 * n);
    }
}

/// The rank index of one shard: a [`RankedSet`] per sorted-set key. Keys without members
/// are not kept.
#[derive(Debug, Default)]
pub struct RankIndex {
    sets: HashMap<Box<[u8]>, RankedSet>,
    members: usize,
    /// Running total of [`RankIndex::heap_bytes`].
    bytes: usize,
}

/// Per-key overhead counted by [`RankIndex::heap_bytes`]: the map slot (boxed key and
/// set header) besides the key's bytes.
const KEY_OVERHEAD: usize = std::mem::size_of::<(Box<[u8]>, RankedSet)>() + 8;

impl RankIndex {
    /// An empty index.
    pub fn new() -> Self {
        RankIndex::default()
    }

    /// Adds `(score, member)` to `key`; false if it was already there.
    pub fn insert(&mut self, key: &[u8], score: Score, member: &[u8]) -> bool {
        let added = match self.sets.get_mut(key) {
            Some(set) => {
                let before = set.heap_bytes();
                let added = set.insert(score, member);
                self.bytes = self.bytes + set.heap_bytes() - before;
                added
            }
            None => {
                let mut set = RankedSet::new();
                set.insert(score, member);
                self.bytes += KEY_OVERHEAD + key.len() + set.heap_bytes();
                self.sets.insert(key.into(), set);
                true
            }
        };
        self.members += usize::from(added);
        added
    }

    /// Removes `(score, member)` from `key`; false if it was not there.
    pub fn remove(&mut self, key: &[u8], score: Score, member: &[u8]) -> bool {
        let Some(set) = self.sets.get_mut(key) else {
            return false;
        };
        let before = set.heap_bytes();
        let removed = set.remove(score, member);
        self.bytes = self.bytes + set.heap_bytes() - before;
        if set.is_empty() {
            self.bytes -= KEY_OVERHEAD + key.len() + set.heap_bytes();
            self.sets.remove(key);
        }
        self.members -= usize::from(removed);
        removed
    }

    /// The set of `key`, if it has members.
    pub fn get(&self, key: &[u8]) -> Option<&RankedSet> {
        self.sets.get(key)
    }

    /// Removes `key` and returns its set, so that the caller chooses where the (O(N))
    /// freeing of a big one happens.
    pub fn remove_key(&mut self, key: &[u8]) -> Option<RankedSet> {
        let set = self.sets.remove(key)?;
        self.members -= set.len();
        self.bytes -= KEY_OVERHEAD + key.len() + set.heap_bytes();
        if self.sets.capacity() > 4 * self.sets.len() + 64 {
            self.sets.shrink_to(2 * self.sets.len());
        }
        Some(set)
    }

    /// Empties the index and returns what it held (see `remove_key`).
    pub fn take(&mut self) -> RankIndex {
        std::mem::take(self)
    }

    /// Number of keys.
    pub fn key_count(&self) -> usize {
        self.sets.len()
    }

    /// Number of members of all keys.
    pub fn member_count(&self) -> usize {
        self.members
    }

    /// Approximate heap bytes of the whole index (see [`RankedSet::heap_bytes`]), kept
    /// as a running total: O(1).
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    /// Checks the running total against a full recount (for tests); O(keys).
    pub fn validate_bytes(&self) -> Result<(), String> {
        let recount: usize = self
            .sets
            .iter()
            .map(|(key, set)| KEY_OVERHEAD + key.len() + set.heap_bytes())
            .sum();
        if recount == self.bytes {
            Ok(())
        } else {
            Err(format!(
                "heap_bytes {} but a recount gives {recount}",
                self.bytes
            ))
        }
    }
}
