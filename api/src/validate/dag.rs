//! `dag` templates: tasks, their dependencies (`dependencies` or the
//! `depends` expression), cycles and targets.

use std::collections::HashMap;

use super::calls::{self, Call, Scope};
use super::names::{FieldKind, unique_names};
use super::{Checker, is_templated, not_found};
use crate::depends::{self, TaskResult};
use crate::path::FieldPath;
use crate::types::DAGTemplate;

/// Checks a DAG at `path` (`spec.templates[1].dag`).
pub(super) fn dag<'a>(
    check: &mut Checker<'a>,
    scope: &Scope<'a>,
    dag: &'a DAGTemplate,
    path: &FieldPath,
    depth: usize,
) {
    let tasks_path = path.key("tasks");
    if dag.tasks.is_empty() {
        check.error(tasks_path.clone(), "DAG has no tasks: add at least one");
    }
    unique_names(
        check,
        FieldKind::Task,
        dag.tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), tasks_path.index(i))),
        "within a DAG",
    );
    // The first task of each name (duplicates are reported above).
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, task) in dag.tasks.iter().enumerate() {
        index.entry(task.name.as_str()).or_insert(i);
    }
    let names = || dag.tasks.iter().map(|t| t.name.as_str());
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    let uses_depends = dag.tasks.iter().position(|t| !blank(&t.depends));
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); dag.tasks.len()];

    for (i, task) in dag.tasks.iter().enumerate() {
        let task_path = tasks_path.index(i);
        let call = Call::from(task);
        calls::call(check, scope, &call, &task_path, depth);

        let has_depends = !blank(&task.depends);
        if (uses_depends.is_some() || !task.dependencies.is_empty())
            && task.name.starts_with(|c: char| c.is_ascii_digit())
        {
            check.error(
                task_path.key("name"),
                format!(
                    "task name {:?} starts with a digit, which a DAG with dependencies cannot \
                     use: start it with a letter",
                    task.name
                ),
            );
        }
        if !task.dependencies.is_empty()
            && let Some(first) = uses_depends
        {
            let names = task.dependencies.join(" && ");
            let message = if has_depends {
                format!(
                    "task sets both depends and dependencies: merge these names into depends \
                     (e.g. depends: \"{names}\")"
                )
            } else {
                format!(
                    "this DAG uses depends ({}) and dependencies here; a DAG uses one or the \
                     other: write this as depends: \"{names}\"",
                    tasks_path.index(first)
                )
            };
            check.error(task_path.key("dependencies"), message);
        }
        if uses_depends.is_some() && task.continue_on.is_some() {
            check.error(
                task_path.key("continueOn"),
                "continueOn cannot be used in a DAG that uses depends: test the result in the \
                 dependent task instead (e.g. depends: \"A.Succeeded || A.Failed\")",
            );
        }
        for (j, dependency) in task.dependencies.iter().enumerate() {
            match index.get(dependency.as_str()) {
                Some(&target) => edges[i].push(target),
                None if is_templated(dependency) => {}
                None => {
                    let message = not_found(
                        format!("task {dependency:?} is not defined in this DAG"),
                        dependency,
                        names(),
                        "name one of its tasks",
                    );
                    check.error(task_path.key("dependencies").index(j), message);
                }
            }
        }
        if let Some(expression) = task.depends.as_deref().filter(|_| has_depends) {
            let depends_path = task_path.key("depends");
            match depends::parse(expression) {
                Err(e) => check.error(depends_path, format!("invalid depends expression: {e}")),
                Ok(expr) => {
                    for reference in expr.referenced_tasks() {
                        let Some(&target) = index.get(reference.task.as_str()) else {
                            let message = not_found(
                                format!(
                                    "depends names task {:?} (at byte {}), which is not defined \
                                     in this DAG",
                                    reference.task, reference.offset
                                ),
                                &reference.task,
                                names(),
                                "name one of its tasks",
                            );
                            check.error(depends_path.clone(), message);
                            continue;
                        };
                        if !edges[i].contains(&target) {
                            edges[i].push(target);
                        }
                        if let Some(result) = reference.result.filter(|r| r.needs_loop())
                            && !Call::from(&dag.tasks[target]).loops()
                        {
                            check.error(
                                depends_path.clone(),
                                format!(
                                    "depends tests {}.{result}, but task {:?} has no withItems, \
                                     withParam or withSequence: use {}.{}",
                                    reference.task,
                                    reference.task,
                                    reference.task,
                                    if result == TaskResult::AnySucceeded {
                                        TaskResult::Succeeded
                                    } else {
                                        TaskResult::Failed
                                    }
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    for cycle in cycles(&edges) {
        let Some(&first) = cycle.first() else {
            continue;
        };
        let printed: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|&i| dag.tasks[i].name.as_str())
            .collect();
        let field = if blank(&dag.tasks[first].depends) {
            "dependencies"
        } else {
            "depends"
        };
        check.error(
            tasks_path.index(first).key(field),
            format!(
                "dependency cycle {}: each task waits for the next, so none can start; remove \
                 one of these dependencies",
                printed.join(" -> ")
            ),
        );
    }

    if let Some(target) = dag.target.as_deref() {
        for name in target.split_whitespace() {
            if is_templated(name) || index.contains_key(name) {
                continue;
            }
            let message = not_found(
                format!("target {name:?} is not a task of this DAG"),
                name,
                names(),
                "name tasks of this DAG, separated by spaces",
            );
            check.error(path.key("target"), message);
        }
    }
}

/// The elementary cycles found by a depth-first search of `edges` (node `i`
/// depends on each of `edges[i]`), one per back edge, each starting at its
/// lowest node. Iterative, so a long chain cannot exhaust the stack.
pub(super) fn cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut found: Vec<Vec<usize>> = Vec::new();
    for root in 0..edges.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // (node, next edge to follow)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&target) = edges[node].get(*next) else {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            match marks.get(target).copied() {
                Some(Mark::New) => {
                    marks[target] = Mark::OnStack;
                    stack.push((target, 0));
                }
                Some(Mark::OnStack) => {
                    let start = stack.iter().position(|&(n, _)| n == target).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                    if let Some(lowest) = (0..cycle.len()).min_by_key(|&k| cycle[k]) {
                        cycle.rotate_left(lowest);
                    }
                    if !found.contains(&cycle) {
                        found.push(cycle);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::cycles;

    #[test]
    fn finds_cycles_from_their_lowest_node() {
        assert!(cycles(&[vec![1], vec![2], vec![]]).is_empty());
        assert_eq!(cycles(&[vec![1], vec![0]]), vec![vec![0, 1]]);
        assert_eq!(cycles(&[vec![0]]), vec![vec![0]]);
        assert_eq!(
            cycles(&[vec![], vec![2], vec![3], vec![1]]),
            vec![vec![1, 2, 3]]
        );
        // Two separate cycles.
        assert_eq!(
            cycles(&[vec![1], vec![0], vec![3], vec![2]]),
            vec![vec![0, 1], vec![2, 3]]
        );
    }

    #[test]
    fn long_chains_do_not_exhaust_the_stack() {
        let n = 200_000;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        edges[n - 1] = vec![0];
        let found = cycles(&edges);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n);
    }
}
