//! The automation stack's dashboard and alarms against the code: every metric of ours they
//! name is one the code emits, with a dimension set it emits it with, and every metric the code
//! emits is on the dashboard; the dashboard body is valid JSON within CloudWatch's widget grid;
//! every alarm tells the exceptions topic, and the alarm widget shows every alarm.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use spa_core::Settings;
use spa_core::metrics::EMITTED;

fn shipped() -> Settings {
    Settings::load(spa_core::testing::repo_root().join("settings.yaml")).unwrap()
}

fn automation(settings: &Settings) -> Value {
    deploy::automation::template(settings).body
}

/// The dashboard body with the stack's pseudo parameters filled in, parsed.
fn body(template: &Value) -> Value {
    let text = template["Resources"]["HealthDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the body is a Fn::Sub text");
    let filled = text
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::AccountId}", "222222222222");
    assert!(
        !filled.contains("${"),
        "only pseudo parameters are substituted: {filled}"
    );
    serde_json::from_str(&filled).expect("the body is JSON")
}

/// (metric, dimension names) of `namespace` a graph names: plain metric arrays
/// `[namespace, name, dim, value, ..., {options}]` and `SEARCH('{namespace,dims} MetricName="x"')`.
fn named_in(widget: &Value, namespace: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for line in widget["properties"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let items = line.as_array().unwrap();
        if let Some(expression) = items.first().and_then(|e| e["expression"].as_str()) {
            let prefix = format!("SEARCH('{{{namespace},");
            if let Some(rest) = expression.strip_prefix(&prefix) {
                let (dims, rest) = rest.split_once('}').unwrap();
                let name = rest
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap();
                let dims = dims.split(',').map(str::to_string).collect();
                out.push((name.to_string(), dims));
            } else {
                assert!(!expression.contains(namespace), "{expression}");
            }
            continue;
        }
        if items[0] == namespace {
            let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            let dims = strings[2..].chunks(2).map(|p| p[0].to_string()).collect();
            out.push((strings[1].to_string(), dims));
        }
    }
    out
}

fn emitted_with(name: &str, dims: &BTreeSet<String>) -> bool {
    EMITTED.iter().any(|m| {
        m.name == name
            && m.dimensions
                .iter()
                .any(|set| set.iter().map(|d| d.to_string()).collect::<BTreeSet<_>>() == *dims)
    })
}

#[test]
fn the_dashboard_and_alarms_name_what_the_code_emits_and_show_all_of_it() {
    let settings = shipped();
    let namespace = spa_core::metrics::namespace(&settings);
    let template = automation(&settings);
    let body = body(&template);
    let widgets = body["widgets"].as_array().unwrap();

    let mut on_page = BTreeSet::new();
    for w in widgets {
        for (name, dims) in named_in(w, &namespace) {
            assert!(
                emitted_with(&name, &dims),
                "the dashboard names {name} by {dims:?}, which the code does not emit"
            );
            on_page.insert(name);
        }
    }
    for m in EMITTED {
        assert!(
            on_page.contains(m.name),
            "{} is emitted but not on the dashboard",
            m.name
        );
    }

    let resources = template["Resources"].as_object().unwrap();
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 9, "{}", alarms.len());
    for a in &alarms {
        let p = &a["Properties"];
        assert_eq!(
            p["AlarmActions"],
            serde_json::json!([{"Ref": "ExceptionsTopic"}]),
            "{p}"
        );
        if p["Namespace"] == namespace.as_str() {
            let dims: BTreeSet<String> = p["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["Name"].as_str().unwrap().to_string())
                .collect();
            let name = p["MetricName"].as_str().unwrap();
            assert!(
                emitted_with(name, &dims),
                "alarm {} watches {name} by {dims:?}, which the code does not emit",
                p["AlarmName"]
            );
        }
    }
    // The alarm widget shows every alarm of the stack.
    let shown: BTreeSet<String> = widgets
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().rsplit(':').next().unwrap().to_string())
        .collect();
    let defined: BTreeSet<String> = alarms
        .iter()
        .map(|a| a["Properties"]["AlarmName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, defined);

    // The functions and queues the page and the alarms watch are the stack's.
    let named = |kind: &str, property: &str| -> BTreeSet<String> {
        resources
            .values()
            .filter(|r| r["Type"] == kind)
            .filter_map(|r| r["Properties"][property].as_str().map(str::to_string))
            .collect()
    };
    let functions = named("AWS::Lambda::Function", "FunctionName");
    let queues = named("AWS::SQS::Queue", "QueueName");
    let mut watched = Vec::new();
    for w in widgets {
        for line in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let items: Vec<&str> = line
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if items.len() >= 4 && (items[0] == "AWS/Lambda" || items[0] == "AWS/SQS") {
                watched.push((items[2].to_string(), items[3].to_string()));
            }
        }
    }
    for a in &alarms {
        for d in a["Properties"]["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(v) = d["Value"].as_str() {
                watched.push((d["Name"].as_str().unwrap().to_string(), v.to_string()));
            }
        }
    }
    assert!(watched.len() > 10, "{watched:?}");
    for (dimension, value) in watched {
        match dimension.as_str() {
            "FunctionName" => assert!(
                functions.contains(&value),
                "{value} is not a function of the stack"
            ),
            "QueueName" => assert!(
                queues.contains(&value),
                "{value} is not a queue of the stack"
            ),
            other => panic!("unexpected dimension {other}"),
        }
    }
}

#[test]
fn the_dashboard_fits_the_widget_grid() {
    let body = body(&automation(&shipped()));
    let widgets = body["widgets"].as_array().unwrap();
    assert!(!widgets.is_empty() && widgets.len() <= 500);
    let mut cells: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for (i, w) in widgets.iter().enumerate() {
        let get = |k: &str| w[k].as_u64().unwrap_or_else(|| panic!("widget {i}: {k}"));
        let (x, y, width, height) = (get("x"), get("y"), get("width"), get("height"));
        assert!((1..=24).contains(&width) && x + width <= 24, "widget {i}");
        assert!((1..=1000).contains(&height), "widget {i}");
        for cx in x..x + width {
            for cy in y..y + height {
                if let Some(j) = cells.insert((cx, cy), i) {
                    panic!("widgets {j} and {i} overlap at ({cx}, {cy})");
                }
            }
        }
        assert!(["metric", "alarm", "text"].contains(&w["type"].as_str().unwrap()));
        let p = &w["properties"];
        assert!(
            p["title"].as_str().is_some_and(|t| !t.is_empty()),
            "widget {i}"
        );
        if w["type"] == "metric" {
            assert_eq!(p["region"], "eu-west-1");
            assert!(!p["metrics"].as_array().unwrap().is_empty(), "widget {i}");
        }
    }
}

#[test]
fn the_silence_alarm_follows_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = spa_core::testing::settings_in(dir.path(), |y| {
        y.replace("  silence_hours: 24", "  silence_hours: 6")
    });
    let settings = Settings::load(&path).unwrap();
    let template = automation(&settings);
    let alarm = &template["Resources"]["SilenceAlarm"]["Properties"];
    assert_eq!(alarm["Period"], 6 * 3600);
    assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(
        alarm["TreatMissingData"], "breaching",
        "no data at all is silence too"
    );
    assert_eq!(alarm["MetricName"], "EventsIngested");

    let err = Settings::load(spa_core::testing::settings_in(dir.path(), |y| {
        y.replace("  silence_hours: 24", "  silence_hours: 48")
    }))
    .unwrap_err()
    .to_string();
    assert!(err.contains("ingest.silence_hours"), "{err}");
}

/// The product's code emits every metric of the table: each name's constant is used outside
/// the table, in the sources of a program (not in tests).
#[test]
fn every_metric_of_the_table_is_emitted_by_the_code() {
    let root = spa_core::testing::repo_root();
    let table = std::fs::read_to_string(root.join("core/src/metrics.rs")).unwrap();
    let mut sources = String::new();
    for dir in ["core/src", "ingest/src", "lifecycle/src", "reports/src"] {
        collect(&root.join(dir), &mut sources);
    }
    for m in EMITTED {
        let constant = table
            .lines()
            .find_map(|l| {
                l.strip_prefix("pub const ")
                    .filter(|rest| rest.ends_with(&format!("= \"{}\";", m.name)))
                    .and_then(|rest| rest.split(':').next())
            })
            .unwrap_or_else(|| panic!("no constant for {}", m.name));
        assert!(
            sources.contains(&format!("metrics::{constant}")),
            "{} ({constant}) is never emitted by the code",
            m.name
        );
    }
}

fn collect(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.ends_with("metrics.rs")
            && !path.ends_with("testing.rs")
            && !path.to_string_lossy().contains("/tests")
        {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}
