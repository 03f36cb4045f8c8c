//! What one `make bench` run measured, in the order it was measured, and
//! the targets: ratios of figures from that same run, or a time itself
//! where the target is one (a revoke's reach). Printed as it goes; written
//! at the end as `report.json`, `report.md` and `chart.svg`.

use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

pub const SQLITE: &str = "SQLite";
pub const POSTGRES: &str = "PostgreSQL";
/// A figure that does not depend on the store (pam_unix, the peers).
pub const SYSTEM: &str = "system";

pub struct Figure {
    pub section: &'static str,
    pub case: String,
    pub store: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

pub struct Target {
    pub name: String,
    /// How the ratio is made, in words.
    pub formula: String,
    /// The ratio, or the figure itself when `unit` is set.
    pub ratio: Option<f64>,
    pub limit: f64,
    /// Set for a target on a figure itself (seconds), not a ratio.
    pub unit: Option<&'static str>,
    /// The ratio must be at least the limit (else at most).
    pub at_least: bool,
}

impl Target {
    pub fn met(&self) -> Option<bool> {
        self.ratio.map(|r| {
            if self.at_least {
                r >= self.limit
            } else {
                r <= self.limit
            }
        })
    }
}

#[derive(Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    pub targets: Vec<Target>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    /// Records (and prints) one figure; returns it.
    pub fn add(
        &mut self,
        section: &'static str,
        case: &str,
        store: &'static str,
        value: f64,
        unit: &'static str,
    ) -> f64 {
        if self.figures.last().map(|f| f.section) != Some(section) {
            println!("\n== {section}");
        }
        println!("{case:<44} {store:<10} {value:>10.3} {unit}");
        self.figures.push(Figure {
            section,
            case: case.to_string(),
            store,
            value,
            unit,
        });
        value
    }

    pub fn get(&self, section: &str, case: &str, store: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.section == section && f.case == case && f.store == store)
            .map(|f| f.value)
    }

    /// A part that could not run here, said loudly.
    pub fn skip(&mut self, what: &str) {
        println!("*** SKIPPED {what}");
        self.skipped.push(what.to_string());
    }

    pub fn note(&mut self, what: String) {
        println!("note: {what}");
        self.notes.push(what);
    }

    /// Target `name`: `num / den` at most (or at least) `limit`.
    pub fn target(
        &mut self,
        name: &str,
        formula: &str,
        num: Option<f64>,
        den: Option<f64>,
        limit: f64,
        at_least: bool,
    ) {
        let ratio = num.zip(den).map(|(n, d)| n / d);
        self.push_target(Target {
            name: name.to_string(),
            formula: formula.to_string(),
            ratio,
            limit,
            at_least,
            unit: None,
        });
    }

    /// Target `name` on a figure itself: `value` (in `unit`) at most `limit`.
    pub fn limit(
        &mut self,
        name: &str,
        formula: &str,
        value: Option<f64>,
        limit: f64,
        unit: &'static str,
    ) {
        self.push_target(Target {
            name: name.to_string(),
            formula: formula.to_string(),
            ratio: value,
            limit,
            at_least: false,
            unit: Some(unit),
        });
    }

    fn push_target(&mut self, t: Target) {
        let verdict = match t.met() {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        let op = if t.at_least { ">=" } else { "<=" };
        let (name, limit) = (&t.name, t.limit);
        match (t.ratio, t.unit) {
            (Some(r), None) => println!("target: {name}: {r:.2}x ({op} {limit}x) {verdict}"),
            (Some(v), Some(u)) => {
                println!("target: {name}: {v:.3} {u} ({op} {limit} {u}) {verdict}")
            }
            (None, _) => println!("target: {name}: {verdict}"),
        }
        self.targets.push(t);
    }

    pub fn write(&self, dir: &Path, context: &[(String, String)]) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), self.json(context))?;
        std::fs::write(dir.join("report.md"), self.markdown(context))?;
        std::fs::write(dir.join("chart.svg"), crate::chart::svg(self))?;
        Ok(())
    }

    fn json(&self, context: &[(String, String)]) -> String {
        let figures: Vec<_> = self
            .figures
            .iter()
            .map(|f| {
                json!({"section": f.section, "case": f.case, "store": f.store,
                       "value": f.value, "unit": f.unit})
            })
            .collect();
        let targets: Vec<_> = self
            .targets
            .iter()
            .map(|t| match t.unit {
                None => json!({"name": t.name, "formula": t.formula, "ratio": t.ratio,
                               "limit": t.limit, "at_least": t.at_least, "met": t.met()}),
                Some(unit) => json!({"name": t.name, "formula": t.formula, "value": t.ratio,
                                     "unit": unit, "limit": t.limit, "at_least": t.at_least,
                                     "met": t.met()}),
            })
            .collect();
        let context: serde_json::Map<_, _> =
            context.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let doc = json!({"context": context, "figures": figures, "targets": targets,
                         "skipped": self.skipped, "notes": self.notes});
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    fn markdown(&self, context: &[(String, String)]) -> String {
        let mut md = String::from("# apppass `make bench`\n\n");
        for (k, v) in context {
            let _ = writeln!(md, "- {k}: {v}");
        }
        md.push_str("\n## Targets (ratios of figures from this run, or a time itself)\n\n");
        md.push_str("| target | how | measured | limit | |\n|---|---|---|---|---|\n");
        for t in &self.targets {
            let op = if t.at_least { "≥" } else { "≤" };
            let unit = t.unit.map_or("×".to_string(), |u| format!(" {u}"));
            let ratio = t.ratio.map_or("—".into(), |r| match t.unit {
                None => format!("{r:.2}×"),
                Some(u) => format!("{r:.3} {u}"),
            });
            let verdict = match t.met() {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "not measured",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {ratio} | {op} {}{unit} | {verdict} |",
                t.name, t.formula, t.limit
            );
        }
        let mut sections: Vec<&str> = Vec::new();
        for f in &self.figures {
            if !sections.contains(&f.section) {
                sections.push(f.section);
            }
        }
        for section in sections {
            let rows: Vec<&Figure> = self
                .figures
                .iter()
                .filter(|f| f.section == section)
                .collect();
            let mut stores: Vec<&str> = Vec::new();
            let mut cases: Vec<&str> = Vec::new();
            for f in &rows {
                if !stores.contains(&f.store) {
                    stores.push(f.store);
                }
                if !cases.contains(&f.case.as_str()) {
                    cases.push(&f.case);
                }
            }
            let unit = rows[0].unit;
            let mixed = rows.iter().any(|f| f.unit != unit);
            if mixed {
                let _ = write!(md, "\n## {section}\n\n| |");
            } else {
                let _ = write!(md, "\n## {section} ({unit})\n\n| |");
            }
            for s in &stores {
                let _ = write!(md, " {s} |");
            }
            md.push_str("\n|---|");
            md.push_str(&"---:|".repeat(stores.len()));
            md.push('\n');
            for c in cases {
                match rows.iter().find(|f| f.case == c) {
                    Some(f) if mixed => {
                        let _ = write!(md, "| {c} ({}) |", f.unit);
                    }
                    _ => {
                        let _ = write!(md, "| {c} |");
                    }
                }
                for s in &stores {
                    let v = rows
                        .iter()
                        .find(|f| f.case == c && f.store == *s)
                        .map_or(String::new(), |f| format_value(f.value, f.unit));
                    let _ = write!(md, " {v} |");
                }
                md.push('\n');
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        if !self.skipped.is_empty() {
            md.push_str("\n## Not measured here\n\n");
            for s in &self.skipped {
                let _ = writeln!(md, "- {s}");
            }
        }
        md
    }
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" | "s" => format!("{v:.3}"),
        "logins/s" => format!("{v:.1}"),
        "×" => format!("{v:.2}"),
        _ => format!("{v:.0}"),
    }
}
