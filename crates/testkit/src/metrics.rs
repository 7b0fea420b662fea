//! Reading the operator's `/metrics` (Prometheus text format).

use std::collections::BTreeMap;

/// Sum of every sample of metric family `name` (exact series name, e.g. `ado_alibaba_calls_total`)
/// whose label set contains all of `labels` (`action="DeleteAccount"`).
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.find('{') {
                Some(i) => (&series[..i], &series[i..]),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Sums of the samples of every family starting with `family`, grouped by `key` of their labels
/// (samples for which `key` is `None` are left out).
pub fn counter_sums(
    text: &str,
    family: &str,
    key: impl Fn(&BTreeMap<String, String>) -> Option<String>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
    {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let labels: BTreeMap<String, String> = head
            .split_once('{')
            .map(|(_, l)| l.trim_end_matches('}'))
            .unwrap_or("")
            .split("\",")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim_matches('"').to_string()))
            .collect();
        if let (Some(k), Ok(v)) = (key(&labels), value.parse::<f64>()) {
            *out.entry(k).or_insert(0.0) += v;
        }
    }
    out
}
