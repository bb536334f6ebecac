//! Splitting a matrix over CI jobs: `harness matrix --format github` plans the jobs and
//! `harness run --shard K/N` runs one of them.
//!
//! **Groups.** Cells that start their runtime from the same root filesystem go together, so a
//! job provisions each Debian suite it needs once and no other job provisions it again. A
//! cell's [`Root`] is:
//! - [`Root::Host`] for `version: host` (and `provider: host`): the runner's own binaries;
//! - [`Root::Suite`] for a cell naming `provider: debian` and its `suite`, or for a versioned
//!   cell: the first Debian suite whose package index carries the version, decided by
//!   [`sources::choose`] as if no runtime were installed (the host's binary is left out, so
//!   the plan is the same on every machine that reads the same indexes, whatever it has
//!   installed; a job whose host happens to match runs the host binary and its provisioned
//!   suite goes unused);
//! - [`Root::Provider`] for any other provider a cell names (one group per provider);
//! - [`Root::Unresolved`] for a version no suite carries (such a cell is a `skip` outside CI
//!   and an `error` under CI, wherever it runs).
//!
//! Groups are ordered by their first cell in matrix order.
//!
//! **Shards.** With N shards, group number i (0-based, in that order) goes to shard
//! `i mod N + 1`: the groups are dealt round-robin, so a group is never split and every cell is
//! in exactly one shard. A shard's cells keep matrix order. `N` larger than the number of
//! groups leaves the last shards empty. The plan's `N` is the number of groups, capped by
//! `--max-jobs`; shard K of the plan is what `harness run --shard K/N` runs, as long as both
//! see the same matrix, the same `--cell` filters (a shard is taken after filtering) and the
//! same package indexes (the workflow hands the plan job's index cache to the matrix jobs).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::config::Cell;
use crate::runtime::provider::HOST_VERSION;
use crate::runtime::provider::debian::{self, SUITE_OPTION};
use crate::runtime::sources::{self, Resolver, Source};

/// Where a cell's runtime is started from, as far as provisioning goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Root {
    /// The machine's installed binaries.
    Host,
    /// The cached root filesystem of this Debian suite.
    Suite(String),
    /// A provider other than `host` and `debian`, by name.
    Provider(String),
    /// No source carries the cell's version.
    Unresolved,
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Root::Host => f.write_str("host"),
            Root::Suite(s) => f.write_str(s),
            Root::Provider(p) => write!(f, "provider-{p}"),
            Root::Unresolved => f.write_str("unresolved"),
        }
    }
}

/// One shard of N, 1-based: `K/N` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1 to `count`.
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not K/N with 1 <= K <= N (1-based: 1/2 and 2/2)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Cells sharing a [`Root`], as indexes into the cells they were grouped from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub root: Root,
    pub cells: Vec<usize>,
}

/// The groups of `cells` (whose roots are `roots`, one per cell), ordered by first cell.
pub fn groups(roots: &[Root]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        match out.iter_mut().find(|g| &g.root == root) {
            Some(g) => g.cells.push(i),
            None => out.push(Group {
                root: root.clone(),
                cells: vec![i],
            }),
        }
    }
    out
}

/// The shard (0-based) of each cell when its groups are dealt round-robin over `count` shards.
pub fn assign(roots: &[Root], count: usize) -> Vec<usize> {
    let count = count.max(1);
    let mut shard_of = vec![0; roots.len()];
    for (i, group) in groups(roots).iter().enumerate() {
        for &cell in &group.cells {
            shard_of[cell] = i % count;
        }
    }
    shard_of
}

/// The indexes (into `roots`) of the cells in `shard`, in order.
pub fn select(roots: &[Root], shard: Shard) -> Vec<usize> {
    assign(roots, shard.count)
        .into_iter()
        .enumerate()
        .filter(|&(_, s)| s + 1 == shard.index)
        .map(|(i, _)| i)
        .collect()
}

/// One CI job of the plan: an entry of the GitHub matrix's `include`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// `1-host`, `2-trixie`, `3-bullseye+sid`: the shard number and its groups' roots.
    pub name: String,
    /// `K/N`, for `harness run --shard`.
    pub shard: String,
    /// The job's cell ids, comma-separated (what `--cell` takes too).
    pub cells: String,
    /// The Debian suites to provision (`harness provision --shard` builds the same ones).
    pub suites: Vec<String>,
}

/// The plan: one job per group, or `max_jobs` jobs with groups dealt round-robin.
pub fn jobs(cells: &[Cell], roots: &[Root], max_jobs: Option<usize>) -> Vec<Job> {
    let groups = groups(roots);
    let count = match max_jobs {
        Some(m) => groups.len().min(m.max(1)),
        None => groups.len(),
    };
    (0..count)
        .map(|k| {
            let mine: Vec<&Group> = groups.iter().skip(k).step_by(count).collect();
            let mut ids: Vec<usize> = mine.iter().flat_map(|g| g.cells.iter().copied()).collect();
            ids.sort_unstable();
            let suites = mine
                .iter()
                .filter_map(|g| match &g.root {
                    Root::Suite(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            let label: Vec<String> = mine.iter().map(|g| g.root.to_string()).collect();
            Job {
                name: format!("{}-{}", k + 1, label.join("+")),
                shard: Shard {
                    index: k + 1,
                    count,
                }
                .to_string(),
                cells: ids
                    .iter()
                    .map(|&i| cells[i].id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                suites,
            }
        })
        .collect()
}

/// The GitHub Actions form of a plan: `{"include": [job, ...]}`, for
/// `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`, on one line (a step output).
pub fn github_matrix(jobs: &[Job]) -> String {
    serde_json::json!({ "include": jobs }).to_string()
}

/// A cell's root when its own keys decide it (`version: host`, a named provider), else `None`.
fn root_from_cell(cell: &Cell) -> Option<Root> {
    match cell.extra.get("provider").map(String::as_str) {
        Some("host") => Some(Root::Host),
        Some(debian::NAME) => Some(match cell.extra.get(SUITE_OPTION) {
            Some(suite) => Root::Suite(suite.clone()),
            None => Root::Provider(debian::NAME.into()),
        }),
        // A container cell whose image is built from a suite's tree starts from that tree.
        Some(crate::runtime::provider::container::NAME)
            if !cell
                .extra
                .contains_key(crate::runtime::provider::container::IMAGE_OPTION)
                && cell.extra.contains_key(SUITE_OPTION) =>
        {
            Some(Root::Suite(cell.extra[SUITE_OPTION].clone()))
        }
        Some(other) => Some(Root::Provider(other.into())),
        None if cell.version == HOST_VERSION => Some(Root::Host),
        None => None,
    }
}

/// The root of each of `cells` (not yet resolved by `resolve_cell_sources`): from the cell's
/// own keys, else from the Debian package indexes (cached for a day; read only when a cell
/// needs them), leaving the host's binaries out.
pub fn roots(cells: &[Cell]) -> Vec<Root> {
    roots_with(cells, &Resolver::from_env())
}

/// [`roots`] with a given resolver.
pub fn roots_with(cells: &[Cell], resolver: &Resolver) -> Vec<Root> {
    let own: Vec<Option<Root>> = cells.iter().map(root_from_cell).collect();
    let indexes = if own.iter().any(Option::is_none) {
        resolver.indexes()
    } else {
        Vec::new()
    };
    cells
        .iter()
        .zip(own)
        .map(|(cell, own)| {
            own.unwrap_or_else(|| {
                match sources::choose(cell.runtime, &cell.version, None, &indexes) {
                    Ok(Source::Debian { suite, .. }) => Root::Suite(suite),
                    Ok(Source::Host { .. }) => Root::Host,
                    Err(_) => Root::Unresolved,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn s(x: &str) -> Root {
        Root::Suite(x.into())
    }

    /// host, trixie, host, sid, trixie, bullseye, unresolved: four groups plus one.
    fn sample() -> Vec<Root> {
        vec![
            Root::Host,
            s("trixie"),
            Root::Host,
            s("sid"),
            s("trixie"),
            s("bullseye"),
            Root::Unresolved,
        ]
    }

    fn cells(n: usize) -> Vec<Cell> {
        (0..n)
            .map(|i| Cell {
                id: format!("c{i}"),
                runtime: crate::runtime::RuntimeKind::Docker,
                version: "host".into(),
                store: "vfs".into(),
                builder: None,
                api: None,
                extra: Default::default(),
            })
            .collect()
    }

    #[test]
    fn shards_parse_one_based() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "/2", "1/"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_keep_first_use_order_and_cells_in_matrix_order() {
        let g = groups(&sample());
        let got: Vec<(String, Vec<usize>)> = g
            .iter()
            .map(|g| (g.root.to_string(), g.cells.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("host".to_string(), vec![0, 2]),
                ("trixie".into(), vec![1, 4]),
                ("sid".into(), vec![3]),
                ("bullseye".into(), vec![5]),
                ("unresolved".into(), vec![6]),
            ]
        );
    }

    #[test]
    fn one_job_per_group_without_a_cap() {
        let j = jobs(&cells(7), &sample(), None);
        let got: Vec<(&str, &str, &str)> = j
            .iter()
            .map(|j| (j.name.as_str(), j.shard.as_str(), j.cells.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("1-host", "1/5", "c0,c2"),
                ("2-trixie", "2/5", "c1,c4"),
                ("3-sid", "3/5", "c3"),
                ("4-bullseye", "4/5", "c5"),
                ("5-unresolved", "5/5", "c6"),
            ]
        );
        assert!(j[0].suites.is_empty());
        assert_eq!(j[1].suites, ["trixie"]);
    }

    #[test]
    fn max_jobs_deals_groups_round_robin() {
        let j = jobs(&cells(7), &sample(), Some(2));
        let got: Vec<(&str, &str, &str, Vec<String>)> = j
            .iter()
            .map(|j| {
                (
                    j.name.as_str(),
                    j.shard.as_str(),
                    j.cells.as_str(),
                    j.suites.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "1-host+sid+unresolved",
                    "1/2",
                    "c0,c2,c3,c6",
                    vec!["sid".to_string()]
                ),
                (
                    "2-trixie+bullseye",
                    "2/2",
                    "c1,c4,c5",
                    vec!["trixie".to_string(), "bullseye".to_string()]
                ),
            ]
        );
        // A cap above the number of groups changes nothing; 0 is taken as 1.
        assert_eq!(jobs(&cells(7), &sample(), Some(50)).len(), 5);
        assert_eq!(jobs(&cells(7), &sample(), Some(0)).len(), 1);
    }

    /// Over every N, the shards are disjoint, their union is every cell, a group is never
    /// split, and shard K of N is the plan's job K when N is the plan's job count.
    #[test]
    fn shards_partition_the_cells_and_match_the_plan() {
        let roots = sample();
        let all: BTreeSet<usize> = (0..roots.len()).collect();
        for n in 1..=9 {
            let mut seen = BTreeSet::new();
            for k in 1..=n {
                let mine = select(&roots, Shard { index: k, count: n });
                for i in &mine {
                    assert!(seen.insert(*i), "cell {i} in two shards of {n}");
                }
                let mine_roots: BTreeSet<String> =
                    mine.iter().map(|&i| roots[i].to_string()).collect();
                for r in &mine_roots {
                    let whole: Vec<usize> = (0..roots.len())
                        .filter(|&i| &roots[i].to_string() == r)
                        .collect();
                    assert!(whole.iter().all(|i| mine.contains(i)), "{r} split at N={n}");
                }
            }
            assert_eq!(seen, all, "N={n}");
            let plan = jobs(&cells(roots.len()), &roots, Some(n));
            for (k, job) in plan.iter().enumerate() {
                let shard: Shard = job.shard.parse().unwrap();
                assert_eq!(shard.index, k + 1);
                let ids: Vec<String> = select(&roots, shard)
                    .iter()
                    .map(|i| format!("c{i}"))
                    .collect();
                assert_eq!(job.cells, ids.join(","), "N={n} K={}", k + 1);
            }
        }
    }

    #[test]
    fn a_cells_own_keys_decide_its_root_without_an_index() {
        let mut c = cells(4);
        c[1].version = "26.1".into();
        c[1].extra.insert("provider".into(), "debian".into());
        c[1].extra.insert("suite".into(), "trixie".into());
        c[2].version = "5.4".into();
        c[2].extra.insert("provider".into(), "container".into());
        c[3].version = "26.1".into();
        c[3].extra.insert("provider".into(), "host".into());
        let got: Vec<Option<Root>> = c.iter().map(root_from_cell).collect();
        assert_eq!(
            got,
            [
                Some(Root::Host),
                Some(s("trixie")),
                Some(Root::Provider("container".into())),
                Some(Root::Host)
            ]
        );
        c[2].extra.insert("suite".into(), "bullseye".into());
        assert_eq!(root_from_cell(&c[2]), Some(s("bullseye")));
        c[2].extra
            .insert("image".into(), "docker:25.0.0-dind".into());
        assert_eq!(
            root_from_cell(&c[2]),
            Some(Root::Provider("container".into()))
        );
        c[0].version = "28.5".into();
        assert_eq!(root_from_cell(&c[0]), None);
    }
}
