//! Dependency resolution: which plugins can load, in what order, and why the others
//! cannot. A pure function of manifests, so every case is a data-driven test.

use std::collections::{BTreeMap, BTreeSet};

use plugboard_manifest::{Manifest, PluginId};
use semver::{Version, VersionReq};

/// Why a plugin cannot load because of its dependencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// The plugin is part of a dependency cycle.
    #[error(
        "plugin `{plugin}` is part of a dependency cycle: {}{}; remove one of these dependencies",
        cycle_text(.cycle),
        also_text(.cycle, .involved)
    )]
    Cycle {
        /// The plugin refused.
        plugin: PluginId,
        /// A cycle through it, starting and ending with the same plugin.
        cycle: Vec<PluginId>,
        /// Every plugin caught in cycles with it (those not on `cycle` are named too).
        involved: Vec<PluginId>,
    },
    /// A dependency is not installed.
    #[error(
        "plugin `{plugin}` needs `{dependency}` {requirement}, which is not installed; install it or remove the dependency from plugin.toml"
    )]
    Missing {
        /// The plugin refused.
        plugin: PluginId,
        /// What it needs.
        dependency: PluginId,
        /// The versions it accepts.
        requirement: VersionReq,
    },
    /// A dependency is installed at a version outside the accepted range.
    #[error(
        "plugin `{plugin}` needs `{dependency}` {requirement}, but version {found} is installed; install a matching version of `{dependency}` or change the range in plugin.toml"
    )]
    Unsatisfied {
        /// The plugin refused.
        plugin: PluginId,
        /// What it needs.
        dependency: PluginId,
        /// The versions it accepts.
        requirement: VersionReq,
        /// The version there is.
        found: Version,
    },
    /// A dependency could not load itself.
    #[error("plugin `{plugin}` needs `{dependency}`, which cannot load: {reason}")]
    DependencyFailed {
        /// The plugin refused.
        plugin: PluginId,
        /// What it needs.
        dependency: PluginId,
        /// Why the dependency cannot load.
        reason: String,
    },
}

fn cycle_text(cycle: &[PluginId]) -> String {
    cycle.iter().map(PluginId::to_string).collect::<Vec<_>>().join(" → ")
}

fn also_text(cycle: &[PluginId], involved: &[PluginId]) -> String {
    let others: Vec<String> = involved.iter().filter(|id| !cycle.contains(id)).map(|id| format!("`{id}`")).collect();
    if others.is_empty() { String::new() } else { format!(", which also involves {}", others.join(", ")) }
}

/// The outcome of resolving a set of plugins.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The plugins that can load, each after everything it depends on.
    pub order: Vec<PluginId>,
    /// The plugins that cannot, and why.
    pub refused: BTreeMap<PluginId, DependencyError>,
}

/// Resolves `candidates` (plugins about to load) against each other and against
/// `loaded` (plugins already running, with their versions). Deterministic: ties are
/// broken by id.
pub fn resolve(candidates: &BTreeMap<PluginId, &Manifest>, loaded: &BTreeMap<PluginId, Version>) -> Resolution {
    let mut resolution = Resolution::default();
    for (member, cycle, involved) in find_cycles(candidates) {
        let error = DependencyError::Cycle { plugin: member.clone(), cycle, involved };
        resolution.refused.insert(member, error);
    }
    let mut visited = BTreeSet::new();
    for id in candidates.keys() {
        visit(id, candidates, loaded, &mut visited, &mut resolution);
    }
    resolution
}

/// Depth-first: dependencies are decided (and ordered) before their dependents.
fn visit(
    id: &PluginId,
    candidates: &BTreeMap<PluginId, &Manifest>,
    loaded: &BTreeMap<PluginId, Version>,
    visited: &mut BTreeSet<PluginId>,
    resolution: &mut Resolution,
) {
    if !visited.insert(id.clone()) || resolution.refused.contains_key(id) {
        return;
    }
    let Some(manifest) = candidates.get(id) else { return };
    for (dependency, requirement) in &manifest.dependencies {
        let problem = if let Some(candidate) = candidates.get(dependency) {
            visit(dependency, candidates, loaded, visited, resolution);
            if let Some(reason) = resolution.refused.get(dependency) {
                Some(DependencyError::DependencyFailed {
                    plugin: id.clone(),
                    dependency: dependency.clone(),
                    reason: reason.to_string(),
                })
            } else {
                check_version(id, dependency, requirement, &candidate.version)
            }
        } else if let Some(version) = loaded.get(dependency) {
            check_version(id, dependency, requirement, version)
        } else {
            Some(DependencyError::Missing {
                plugin: id.clone(),
                dependency: dependency.clone(),
                requirement: requirement.clone(),
            })
        };
        if let Some(problem) = problem {
            resolution.refused.insert(id.clone(), problem);
            return;
        }
    }
    resolution.order.push(id.clone());
}

fn check_version(
    plugin: &PluginId,
    dependency: &PluginId,
    requirement: &VersionReq,
    found: &Version,
) -> Option<DependencyError> {
    (!requirement.matches(found)).then(|| DependencyError::Unsatisfied {
        plugin: plugin.clone(),
        dependency: dependency.clone(),
        requirement: requirement.clone(),
        found: found.clone(),
    })
}

/// Every plugin caught in a dependency cycle, with a shortest cycle through it and all
/// the plugins of its knot (its strongly connected component).
fn find_cycles(candidates: &BTreeMap<PluginId, &Manifest>) -> Vec<(PluginId, Vec<PluginId>, Vec<PluginId>)> {
    let edges = |id: &PluginId| -> Vec<PluginId> {
        candidates
            .get(id)
            .map(|manifest| manifest.dependencies.keys().filter(|dep| candidates.contains_key(*dep)).cloned().collect())
            .unwrap_or_default()
    };
    let mut cycles = Vec::new();
    for component in strongly_connected(candidates.keys().cloned().collect(), &edges) {
        let self_loop = component.len() == 1 && edges(&component[0]).contains(&component[0]);
        if component.len() > 1 || self_loop {
            let members: BTreeSet<PluginId> = component.iter().cloned().collect();
            for member in &component {
                cycles.push((member.clone(), cycle_through(member, &members, &edges), component.clone()));
            }
        }
    }
    cycles
}

/// A shortest closed path from `start` back to it inside a strongly connected set
/// (breadth-first over dependencies, smallest id first).
fn cycle_through(
    start: &PluginId,
    members: &BTreeSet<PluginId>,
    edges: &dyn Fn(&PluginId) -> Vec<PluginId>,
) -> Vec<PluginId> {
    let start = start.clone();
    let mut parent: BTreeMap<PluginId, PluginId> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    while let Some(current) = queue.pop_front() {
        for next in edges(&current).into_iter().filter(|id| members.contains(id)) {
            if next == start {
                let mut path = vec![start.clone(), current.clone()];
                let mut walk = current.clone();
                while let Some(previous) = parent.get(&walk) {
                    path.push(previous.clone());
                    walk = previous.clone();
                }
                path.reverse();
                return path;
            }
            if next != start && !parent.contains_key(&next) {
                parent.insert(next.clone(), current.clone());
                queue.push_back(next);
            }
        }
    }
    vec![start.clone(), start]
}

/// Tarjan's algorithm over ids in order.
fn strongly_connected(nodes: Vec<PluginId>, edges: &dyn Fn(&PluginId) -> Vec<PluginId>) -> Vec<Vec<PluginId>> {
    struct Tarjan {
        index: BTreeMap<PluginId, usize>,
        low: BTreeMap<PluginId, usize>,
        on_stack: BTreeSet<PluginId>,
        stack: Vec<PluginId>,
        next: usize,
        components: Vec<Vec<PluginId>>,
    }
    fn connect(node: &PluginId, state: &mut Tarjan, edges: &dyn Fn(&PluginId) -> Vec<PluginId>) {
        state.index.insert(node.clone(), state.next);
        state.low.insert(node.clone(), state.next);
        state.next += 1;
        state.stack.push(node.clone());
        state.on_stack.insert(node.clone());
        for next in edges(node) {
            if !state.index.contains_key(&next) {
                connect(&next, state, edges);
                let low = state.low[node].min(state.low[&next]);
                state.low.insert(node.clone(), low);
            } else if state.on_stack.contains(&next) {
                let low = state.low[node].min(state.index[&next]);
                state.low.insert(node.clone(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(&member);
                let done = &member == node;
                component.push(member);
                if done {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = Tarjan {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(&node) {
            connect(&node, &mut state, edges);
        }
    }
    state.components
}
