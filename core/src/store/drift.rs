//! How a store's schema differs from the one apppass makes. A trigger,
//! rule or policy runs inside every change apppass makes and can undo it
//! (clear a revocation the moment it is written) while apppass reports
//! success; a table defined otherwise can drop a write without an error.
//! Restore refuses such a backup; `apppass doctor` reports a live store.

use crate::escape::for_message as esc;
use std::fmt;

/// What is different about one object of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// There, and apppass does not make it.
    Added,
    /// Made by apppass, but defined otherwise.
    Altered,
    /// Made by apppass, and not there.
    Missing,
}

/// One object of a store's schema that is not as apppass makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDrift {
    pub change: Change,
    /// As the backend calls it: "trigger", "view", "table", "index",
    /// "rule", "policy", "function".
    pub kind: String,
    pub name: String,
}

impl SchemaDrift {
    /// Whether it can change what apppass's own statements do: code that
    /// runs on a change (triggers, rules, policies, functions) or a table
    /// or index not as apppass defines it. An added table, view or index
    /// only takes space.
    pub fn acts_on_changes(&self) -> bool {
        self.change != Change::Added || !matches!(self.kind.as_str(), "table" | "view" | "index")
    }

    /// Most telling first: added code, then altered, then missing objects.
    pub fn sort(list: &mut [SchemaDrift]) {
        list.sort_by(|a, b| {
            (!a.acts_on_changes(), a.change, &a.kind, &a.name).cmp(&(
                !b.acts_on_changes(),
                b.change,
                &b.kind,
                &b.name,
            ))
        });
    }
}

/// Reads after "holds": "holds a trigger 'x' that apppass does not make".
impl fmt::Display for SchemaDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = (&self.kind, esc(&self.name));
        match self.change {
            Change::Added => {
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                write!(f, "{article} {kind} '{name}' that apppass does not make")
            }
            Change::Altered => write!(
                f,
                "the {kind} '{name}' defined otherwise than apppass defines it"
            ),
            Change::Missing => write!(f, "no {kind} '{name}', which apppass makes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(change: Change, kind: &str, name: &str) -> SchemaDrift {
        SchemaDrift {
            change,
            kind: kind.into(),
            name: name.into(),
        }
    }

    #[test]
    fn sentences_name_the_object_and_escape_its_name() {
        assert_eq!(
            d(Change::Added, "trigger", "keep\nalive").to_string(),
            "a trigger 'keep\\x0aalive' that apppass does not make"
        );
        assert_eq!(
            d(Change::Added, "index", "i").to_string(),
            "an index 'i' that apppass does not make"
        );
        assert_eq!(
            d(Change::Missing, "table", "meta").to_string(),
            "no table 'meta', which apppass makes"
        );
    }

    #[test]
    fn code_that_runs_on_changes_comes_first() {
        let mut l = vec![
            d(Change::Added, "view", "v"),
            d(Change::Missing, "table", "meta"),
            d(Change::Added, "trigger", "t"),
        ];
        SchemaDrift::sort(&mut l);
        let names: Vec<_> = l.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["t", "meta", "v"]);
    }
}
