//! Tables (CSV) of numeric and categorical columns with one target column: classification or
//! regression. Numbers are standardized and categories one-hot encoded with statistics from the
//! training rows only; missing values are counted, reported and filled in.

use super::Unusable;
use serde::{Deserialize, Serialize};

use std::path::Path;

use super::csv_file::{CsvTable, SkippedRow};
use super::rows::{RowStore, Rows};
use super::{ClassCount, ImportReport};
use crate::project::{DataKind, Task};

/// Column names taken as the target when the user names none (else the last column).
const TARGET_NAMES: [&str; 6] = ["target", "label", "class", "y", "outcome", "price"];

/// A categorical column with more different values than this, making up over half of the rows,
/// is an identifier or free text, not a category, and is left out.
const MAX_CATEGORIES: usize = 50;

/// A classification target with at most this many different whole numbers is taken as classes.
const MAX_NUMERIC_CLASSES: usize = 20;

/// Whether a field counts as missing.
pub fn is_missing(field: &str) -> bool {
    matches!(
        field.trim().to_ascii_lowercase().as_str(),
        "" | "na" | "n/a" | "nan" | "null" | "none" | "?" | "-"
    )
}

fn number(field: &str) -> Option<f64> {
    field.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// How a feature column is turned into model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnKind {
    /// `(value − mean) / std`; missing values become the mean (0).
    Number {
        /// Mean over the training rows.
        mean: f64,
        /// Standard deviation over the training rows (1 when they are all equal).
        std: f64,
    },
    /// One input per category seen in training; missing or unseen values are all zeros.
    Category {
        /// The categories, in input order.
        values: Vec<String>,
    },
}

/// A column the model reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Column name (header).
    pub name: String,
    /// Encoding.
    pub kind: ColumnKind,
    /// Missing values in the whole table.
    pub missing: usize,
}

impl FeatureColumn {
    /// Model inputs this column takes.
    pub fn width(&self) -> usize {
        match &self.kind {
            ColumnKind::Number { .. } => 1,
            ColumnKind::Category { values } => values.len(),
        }
    }
}

/// Everything needed to turn a row of this table into model inputs and a model output back into
/// a target; saved with each run so new rows are encoded exactly as the training rows were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Columns the model reads, in input order.
    pub columns: Vec<FeatureColumn>,
    /// Columns left out, with the reason.
    pub ignored: Vec<(String, String)>,
    /// The target column's name.
    pub target: String,
    /// Classification or regression.
    pub task: Task,
    /// Class names (classification), in output order.
    pub classes: Vec<String>,
    /// Regression: mean of the training targets (the model predicts standardized values).
    pub target_mean: f64,
    /// Regression: standard deviation of the training targets.
    pub target_std: f64,
}

impl TableSchema {
    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.columns.iter().map(FeatureColumn::width).sum()
    }

    /// For each schema column, its index in `header`; names the columns that are missing.
    pub fn locate(&self, header: &[String]) -> Result<Vec<usize>, Unusable> {
        self.locate_text(header).map_err(Unusable)
    }

    fn locate_text(&self, header: &[String]) -> Result<Vec<usize>, String> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
        };
        let found: Vec<Option<usize>> = self.columns.iter().map(|c| find(&c.name)).collect();
        let missing: Vec<&str> = self
            .columns
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(c, _)| c.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the table lacks the column{} the model reads: {}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ));
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// Writes the model inputs of `row` (whose columns are at `positions`, from [`Self::locate`]).
    pub fn encode(&self, row: &[String], positions: &[usize], out: &mut [f32]) {
        let mut k = 0;
        for (column, &p) in self.columns.iter().zip(positions) {
            let field = row.get(p).map_or("", String::as_str);
            match &column.kind {
                ColumnKind::Number { mean, std } => {
                    let v = number(field).unwrap_or(*mean);
                    out[k] = ((v - mean) / std) as f32;
                    k += 1;
                }
                ColumnKind::Category { values } => {
                    let slot = &mut out[k..k + values.len()];
                    slot.fill(0.0);
                    if let Some(i) = values.iter().position(|v| v == field.trim()) {
                        slot[i] = 1.0;
                    }
                    k += values.len();
                }
            }
        }
    }

    /// A regression output of the model in the target's own units.
    pub fn target_value(&self, standardized: f32) -> f64 {
        f64::from(standardized) * self.target_std + self.target_mean
    }
}

/// A table whose target column has been read: rows without a usable target are gone.
#[derive(Clone, Debug, Default)]
pub struct LabelledTable {
    /// The rows (each with a usable target).
    pub table: CsvTable,
    /// Index of the target column.
    pub target: usize,
    /// Classification or regression.
    pub task: Task,
    /// Classification: the class names, sorted (numerically when they are numbers).
    pub classes: Vec<String>,
    /// Classification: each row's class.
    pub labels: Vec<usize>,
    /// Regression: each row's target value.
    pub values: Vec<f64>,
}

/// The column to predict: the one named `requested`, else one with a usual target name, else the
/// last.
pub fn target_column(table: &CsvTable, requested: &str) -> Result<usize, Unusable> {
    target_column_text(table, requested).map_err(Unusable)
}

fn target_column_text(table: &CsvTable, requested: &str) -> Result<usize, String> {
    if !requested.trim().is_empty() {
        return table.column(requested).ok_or_else(|| {
            format!(
                "the table has no column '{requested}' (it has {})",
                table.header.join(", ")
            )
        });
    }
    if table.header.len() < 2 {
        return Err("the table has only one column; it needs at least one column to learn from and one to predict".to_owned());
    }
    Ok(TARGET_NAMES
        .iter()
        .find_map(|n| table.column(n))
        .unwrap_or(table.header.len() - 1))
}

/// Classification when the target has text, or few different whole numbers; else regression.
pub fn detect_task(table: &CsvTable, target: usize) -> Task {
    let mut distinct = std::collections::HashSet::new();
    for row in &table.rows {
        let f = row[target].trim();
        if is_missing(f) {
            continue;
        }
        match number(f) {
            None => return Task::Classify,
            Some(v) if v.fract() != 0.0 => return Task::Regress,
            Some(_) => {
                distinct.insert(f.to_owned());
            }
        }
    }
    if distinct.len() <= MAX_NUMERIC_CLASSES.min(table.rows.len() / 5).max(2) {
        Task::Classify
    } else {
        Task::Regress
    }
}

/// Reads the target of every row; rows with a missing (or, for regression, non-numeric) target
/// move to `table.skipped`.
pub fn label_table(
    mut table: CsvTable,
    target: usize,
    task: Task,
) -> Result<LabelledTable, String> {
    let name = table.header.get(target).cloned().unwrap_or_default();
    let mut rows = Vec::with_capacity(table.rows.len());
    let mut lines = Vec::with_capacity(table.rows.len());
    let mut values = Vec::new();
    for (row, line) in std::mem::take(&mut table.rows)
        .into_iter()
        .zip(std::mem::take(&mut table.lines))
    {
        let field = row[target].trim();
        let reason = if is_missing(field) {
            Some(format!("the target '{name}' is empty"))
        } else if task == Task::Regress {
            match number(field) {
                Some(v) => {
                    values.push(v);
                    None
                }
                None => Some(format!("the target '{name}' is '{field}', not a number")),
            }
        } else {
            None
        };
        match reason {
            Some(reason) => table.skipped.push(SkippedRow { line, reason }),
            None => {
                rows.push(row);
                lines.push(line);
            }
        }
    }
    table.skipped.sort_by_key(|s| s.line);
    table.rows = rows;
    table.lines = lines;
    if table.rows.is_empty() {
        let first = table
            .skipped
            .first()
            .map(|s| format!(" (line {}: {})", s.line, s.reason))
            .unwrap_or_default();
        let hint = if task == Task::Regress {
            "; to predict one of its values, choose classification"
        } else {
            ""
        };
        return Err(format!(
            "no row has a usable value in the target column '{name}'{first}{hint}"
        ));
    }
    let mut labelled = LabelledTable {
        target,
        task,
        ..LabelledTable::default()
    };
    if task == Task::Classify {
        let mut classes: Vec<String> = table
            .rows
            .iter()
            .map(|r| r[target].trim().to_owned())
            .collect();
        classes.sort();
        classes.dedup();
        if classes.iter().all(|c| number(c).is_some()) {
            classes.sort_by(|a, b| {
                number(a)
                    .unwrap_or(0.0)
                    .total_cmp(&number(b).unwrap_or(0.0))
            });
        }
        labelled.labels = table
            .rows
            .iter()
            .map(|r| {
                classes
                    .iter()
                    .position(|c| c == r[target].trim())
                    .unwrap_or(0)
            })
            .collect();
        labelled.classes = classes;
    } else {
        labelled.labels = vec![0; table.rows.len()];
        labelled.values = values;
    }
    labelled.table = table;
    Ok(labelled)
}

fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut sum, mut sq) = (0usize, 0.0, 0.0);
    for v in values {
        n += 1;
        sum += v;
        sq += v * v;
    }
    if n == 0 {
        return (0.0, 1.0);
    }
    let mean = sum / n as f64;
    let var = (sq / n as f64 - mean * mean).max(0.0);
    let std = var.sqrt();
    (mean, if std > 1e-12 { std } else { 1.0 })
}

impl TableSchema {
    /// Chooses the encoding of every column from the rows at `train` (statistics and categories
    /// come from them only, so validation and test rows stay unseen).
    pub fn fit(data: &LabelledTable, train: &[usize]) -> Self {
        let table = &data.table;
        let mut schema = TableSchema {
            columns: Vec::new(),
            ignored: Vec::new(),
            target: table.header[data.target].clone(),
            task: data.task,
            classes: data.classes.clone(),
            target_mean: 0.0,
            target_std: 1.0,
        };
        for (c, name) in table.header.iter().enumerate() {
            if c == data.target {
                continue;
            }
            let fields = || table.rows.iter().map(move |r| r[c].as_str());
            let missing = fields().filter(|f| is_missing(f)).count();
            let present = table.rows.len() - missing;
            if present == 0 {
                schema
                    .ignored
                    .push((name.clone(), "every value is missing".to_owned()));
                continue;
            }
            let numeric = fields()
                .filter(|f| !is_missing(f))
                .all(|f| number(f).is_some());
            let train_fields = || {
                train
                    .iter()
                    .filter_map(|&i| table.rows.get(i))
                    .map(move |r| r[c].trim())
            };
            let kind = if numeric {
                let (mean, std) = mean_std(train_fields().filter_map(number));
                ColumnKind::Number { mean, std }
            } else {
                let mut all: Vec<&str> =
                    fields().filter(|f| !is_missing(f)).map(str::trim).collect();
                all.sort_unstable();
                all.dedup();
                if all.len() > MAX_CATEGORIES && all.len() * 2 > present {
                    schema.ignored.push((
                        name.clone(),
                        format!("looks like an identifier or free text ({} different values), not a category", all.len()),
                    ));
                    continue;
                }
                let mut values: Vec<String> = train_fields()
                    .filter(|f| !is_missing(f))
                    .map(str::to_owned)
                    .collect();
                values.sort();
                values.dedup();
                ColumnKind::Category { values }
            };
            let constant = match &kind {
                ColumnKind::Number { .. } => {
                    let mut seen = fields().filter_map(number);
                    let first = seen.next();
                    seen.all(|v| Some(v) == first)
                }
                ColumnKind::Category { values } => values.len() < 2,
            };
            if constant && missing == 0 {
                schema
                    .ignored
                    .push((name.clone(), "has the same value in every row".to_owned()));
                continue;
            }
            schema.columns.push(FeatureColumn {
                name: name.clone(),
                kind,
                missing,
            });
        }
        if data.task == Task::Regress {
            let (mean, std) = mean_std(train.iter().filter_map(|&i| data.values.get(i).copied()));
            schema.target_mean = mean;
            schema.target_std = std;
        }
        schema
    }
}

/// A table ready for training: every row encoded.
#[derive(Clone, Debug)]
pub struct TableDataset {
    /// The rows as read (for showing them and naming them in predictions).
    pub table: CsvTable,
    /// How rows are encoded.
    pub schema: TableSchema,
    /// Model inputs, `schema.width()` per row (in memory or in the sample store).
    pub features: Rows,
    /// Classification: each row's class (0 for regression).
    pub labels: Vec<usize>,
    /// Regression: each row's standardized target (empty for classification).
    pub targets: Vec<f32>,
}

impl TableDataset {
    /// Encodes every row of `data` with `schema`, in memory.
    pub fn new(data: LabelledTable, schema: TableSchema) -> Self {
        Self::stored(data, schema, None)
    }

    /// Encodes every row of `data` with `schema` into the sample store in folder `store` (rows
    /// of an unchanged file encoded the same way before are read back), or into memory without
    /// one.
    pub fn stored(mut data: LabelledTable, schema: TableSchema, store: Option<&Path>) -> Self {
        let width = schema.width();
        let positions: Vec<usize> = schema
            .columns
            .iter()
            .filter_map(|c| data.table.column(&c.name))
            .collect();
        let table = &data.table;
        // The encoding (columns, categories, means) is part of the store's key.
        let store = store.map(|dir| RowStore {
            dir,
            root: &table.path,
            settings: format!(
                "table rows {}",
                super::rows::fingerprint(&[&format!("{schema:?}"), &format!("{positions:?}")])
            ),
        });
        let (features, _, notes) = Rows::encode(
            table.rows.len(),
            width,
            store,
            |i| {
                let line = table.lines.get(i).copied().unwrap_or(0);
                (format!("line {line}"), table.path.as_path())
            },
            |i, out| {
                if let (Some(row), true) = (table.rows.get(i), width > 0) {
                    schema.encode(row, &positions, out);
                }
                [0; 2]
            },
        );
        data.table.warnings.extend(notes);
        let targets = data
            .values
            .iter()
            .map(|v| ((v - schema.target_mean) / schema.target_std) as f32)
            .collect();
        Self {
            table: data.table,
            schema,
            features,
            labels: data.labels,
            targets,
        }
    }

    /// Encodes a new table the way a trained model's rows were encoded (into the sample store
    /// in folder `store` when given). With `labelled`, the target column must be there and hold
    /// known classes (for evaluation); without, it is not read (for prediction).
    pub fn with_schema(
        table: CsvTable,
        schema: TableSchema,
        labelled: bool,
        store: Option<&Path>,
    ) -> Result<Self, String> {
        schema.locate(&table.header)?;
        let data = if labelled {
            let target = target_column(&table, &schema.target)?;
            let mut data = label_table(table, target, schema.task)?;
            if schema.task == Task::Classify {
                let mut map = Vec::with_capacity(data.classes.len());
                for name in &data.classes {
                    match schema.classes.iter().position(|c| c == name) {
                        Some(i) => map.push(i),
                        None => {
                            return Err(format!(
                            "the table has a class '{name}' the model does not know (it knows {})",
                            schema.classes.join(", ")
                        ))
                        }
                    }
                }
                for l in &mut data.labels {
                    *l = map.get(*l).copied().unwrap_or(0);
                }
                data.classes = schema.classes.clone();
            }
            data
        } else {
            let rows = table.rows.len();
            LabelledTable {
                table,
                task: schema.task,
                classes: schema.classes.clone(),
                labels: vec![0; rows],
                ..LabelledTable::default()
            }
        };
        Ok(Self::stored(data, schema, store))
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Model inputs of row `i` (empty when the sample store cannot give them).
    pub fn row(&self, i: usize) -> std::borrow::Cow<'_, [f32]> {
        self.features.row(i)
    }

    /// Regression: row `i`'s target in its own units.
    pub fn target_value(&self, i: usize) -> Option<f64> {
        self.targets.get(i).map(|&t| self.schema.target_value(t))
    }

    /// Where row `i` came from, for people: "line 12".
    pub fn source(&self, i: usize) -> String {
        self.table
            .lines
            .get(i)
            .map_or_else(String::new, |l| format!("line {l}"))
    }
}

impl TableDataset {
    /// What the import found, for people: rows per class, rows left out, columns left out and
    /// missing values.
    pub fn report(&self) -> ImportReport {
        let schema = &self.schema;
        let mut report = ImportReport {
            root: self.table.path.clone(),
            kind: DataKind::Tabular,
            samples: self.len(),
            skipped_rows: self.table.skipped.clone(),
            warnings: self.table.warnings.clone(),
            ..ImportReport::default()
        };
        if schema.task == Task::Classify {
            report.classes = schema
                .classes
                .iter()
                .enumerate()
                .map(|(c, name)| ClassCount {
                    name: name.clone(),
                    count: self.labels.iter().filter(|&&l| l == c).count(),
                })
                .collect();
            if let Some(small) = report.classes.iter().find(|c| c.count < MIN_CLASS_ROWS) {
                report.warnings.push(format!(
                    "class '{}' has only {} rows; the model will hardly learn it (aim for at least {MIN_CLASS_ROWS})",
                    small.name, small.count
                ));
            }
            if report.classes.len() < 2 {
                report.warnings.push(format!(
                    "the target '{}' has only one value, so there is nothing to tell apart; choose another target column",
                    schema.target
                ));
            }
        }
        for (name, reason) in &schema.ignored {
            report
                .warnings
                .push(format!("column '{name}' {reason}; it was left out"));
        }
        for c in schema.columns.iter().filter(|c| c.missing > 0) {
            let fill = match c.kind {
                ColumnKind::Number { .. } => "filled in with the column's mean",
                ColumnKind::Category { .. } => "treated as no category",
            };
            report.warnings.push(format!(
                "column '{}' has {} missing values ({fill})",
                c.name, c.missing
            ));
        }
        if schema.columns.is_empty() {
            report
                .warnings
                .push("no column is left to learn from".to_owned());
        }
        report
    }
}

/// Fewer rows than this in a class earn a warning.
const MIN_CLASS_ROWS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::csv_file::parse_csv;

    #[test]
    fn encodes_numbers_and_categories_from_training_rows() {
        let t = parse_csv(
            b"id,size,colour,price\n1,1,red,10\n2,3,blue,20\n3,NA,red,30\n4,5,green,40\n",
        )
        .unwrap();
        let target = target_column(&t, "").unwrap();
        assert_eq!(target, 3); // "price"
        let data = label_table(t, target, Task::Regress).unwrap();
        // Train on rows 0, 1, 2: size mean 2, std 1; colours blue, red (green unseen).
        let schema = TableSchema::fit(&data, &[0, 1, 2]);
        assert_eq!(schema.columns.len(), 3);
        assert_eq!(
            schema.columns[1].kind,
            ColumnKind::Number {
                mean: 2.0,
                std: 1.0
            }
        );
        assert_eq!(schema.columns[1].missing, 1);
        assert_eq!(
            schema.columns[2].kind,
            ColumnKind::Category {
                values: vec!["blue".into(), "red".into()]
            }
        );
        assert!((schema.target_mean - 20.0).abs() < 1e-12);
        let ds = TableDataset::new(data, schema);
        assert_eq!(ds.schema.width(), 4);
        // id 1 → (1−2)/√(2/3); size 1 → −1; red → [0, 1].
        let id_std = (2.0f64 / 3.0).sqrt();
        assert!((f64::from(ds.row(0)[0]) + 1.0 / id_std).abs() < 1e-6);
        assert_eq!(&ds.row(0)[1..], &[-1.0, 0.0, 1.0]);
        assert_eq!(&ds.row(2)[1..], &[0.0, 0.0, 1.0]); // missing size → mean
        assert_eq!(&ds.row(3)[2..], &[0.0, 0.0]); // unseen colour
        assert!((ds.target_value(3).unwrap() - 40.0).abs() < 1e-4);
    }

    #[test]
    fn targets_tasks_and_bad_rows() {
        let t = parse_csv(b"a,b,label\n1,x,cat\n2,y,\n3,x,dog\n").unwrap();
        let target = target_column(&t, "").unwrap();
        assert_eq!(detect_task(&t, target), Task::Classify);
        let data = label_table(t, target, Task::Classify).unwrap();
        assert_eq!(data.classes, ["cat", "dog"]);
        assert_eq!(data.labels, [0, 1]);
        assert_eq!(data.table.skipped[0].line, 3);
        assert!(data.table.skipped[0].reason.contains("empty"));

        let t = parse_csv(b"x,y\n1,2.5\n2,oops\n3,4.5\n").unwrap();
        assert_eq!(detect_task(&t, 1), Task::Regress);
        let data = label_table(t.clone(), 1, Task::Regress).unwrap();
        assert_eq!(data.values, [2.5, 4.5]);
        assert!(data.table.skipped[0].reason.contains("not a number"));
        assert!(target_column(&t, "nope")
            .unwrap_err()
            .to_string()
            .contains("no column 'nope'"));
        // Numeric classes sort as numbers.
        let t = parse_csv(b"x,y\n1,10\n2,9\n3,10\n4,9\n5,2\n").unwrap();
        assert_eq!(
            label_table(t, 1, Task::Classify).unwrap().classes,
            ["2", "9", "10"]
        );
    }

    #[test]
    fn identifier_and_constant_columns_are_left_out() {
        let mut csv = String::from("name,k,v,y\n");
        for i in 0..120 {
            csv.push_str(&format!("person{i},same,{},{}\n", i % 7, i % 2));
        }
        let t = parse_csv(csv.as_bytes()).unwrap();
        let data = label_table(t, 3, Task::Classify).unwrap();
        let all: Vec<usize> = (0..data.labels.len()).collect();
        let schema = TableSchema::fit(&data, &all);
        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["v"]);
        assert_eq!(schema.ignored.len(), 2);
        assert!(schema.ignored[0].1.contains("identifier"));
        assert!(schema.ignored[1].1.contains("same value"));
        assert!(schema
            .locate(&["y".into()])
            .unwrap_err()
            .to_string()
            .contains("lacks the column the model reads: v"));
    }
}
