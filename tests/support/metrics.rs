//! Reading the OpenMetrics text of `/metrics` back into samples: `name{labels} -> value`.

use std::collections::BTreeMap;

/// One sample line of the OpenMetrics text: `name{label="value",...} value`.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of an exposition; a line that is neither a sample nor a comment fails the test.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            // `name="value"`, the value with `\"`, `\\` and `\n` escapes.
            let (label, quoted) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i + 1,
                    other => value.push(other),
                }
            };
            labels.insert(label.to_string(), value);
            inner = quoted[end..].strip_prefix(',').unwrap_or(&quoted[end..]);
        }
    }
    Some(Sample {
        name: line[..name_end].to_string(),
        labels,
        value: rest.split_whitespace().next()?.parse().ok()?,
    })
}

/// The value of the sample named `name` whose labels are exactly `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_metrics(text)
        .into_iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

/// A counter's value; a label set never incremented has no sample, which reads as 0.
pub fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(text, name, labels).unwrap_or(0.0)
}
