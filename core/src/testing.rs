//! Helpers for the workspace's tests (feature `testing`): the moto server that `.ci/run` starts,
//! settings pointed at it, and reading columns back.

use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};

use crate::Settings;

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    // Cargo sets the variable when it runs a test, to the tested package's folder (every package
    // sits at the top of the clone). The compile-time value is the fallback: a test binary
    // shared through one target folder may have been built in another clone.
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    package
        .parent()
        .expect("a package folder has a parent")
        .to_path_buf()
}

/// `../shared/data` beside the clone: real third-party AWS samples, read in place.
pub fn shared_data() -> PathBuf {
    let dir = repo_root().join("../shared/data");
    assert!(
        dir.is_dir(),
        "{} not found: the tests read the shared samples from ../shared/data beside the clone",
        dir.display()
    );
    dir
}

/// The shipped `settings.yaml`.
pub fn shipped_settings() -> Settings {
    Settings::load(repo_root().join("settings.yaml")).expect("the shipped settings load")
}

/// The moto server's address, from `SPA_TEST_MOTO_ENDPOINT` (set by `.ci/run`).
pub fn moto_endpoint() -> String {
    std::env::var("SPA_TEST_MOTO_ENDPOINT").expect(
        "SPA_TEST_MOTO_ENDPOINT is not set: run the tests with .ci/run, which starts moto server",
    )
}

/// The shipped settings with every AWS client pointed at `endpoint`, after `edit` has changed
/// the YAML text (e.g. the lake location).
pub fn settings_with_endpoint(endpoint: &str, edit: impl Fn(String) -> String) -> Settings {
    let file = repo_root().join("settings.yaml");
    let yaml = std::fs::read_to_string(&file)
        .expect("the shipped settings exist")
        .replace(
            "  # endpoint_url: http://127.0.0.1:5000",
            &format!("  endpoint_url: {endpoint}"),
        );
    Settings::from_yaml(&edit(yaml), &file).expect("the edited settings load")
}

/// An S3 client for `settings`.
pub async fn s3_client(settings: &Settings) -> aws_sdk_s3::Client {
    let config = crate::aws::sdk_config(settings).await;
    crate::aws::s3_client(settings, &config)
}

/// Creates a bucket in eu-west-1 whose name ends with this process's id, so test runs never
/// share one; returns its name.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) -> String {
    let bucket = format!("{name}-{}", std::process::id());
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("moto creates the bucket");
    bucket
}

/// The values of a text column over batches, nulls as empty strings.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"))
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Posts `body` (JSON) to a moto-api path, e.g. `/moto-api/static/ce/cost-and-usage-results`;
/// returns the status line.
pub fn moto_post(endpoint: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).expect("moto server is reachable");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    answer.lines().next().unwrap_or_default().to_string()
}

/// What [`proxy`] does with the requests for one operation.
pub struct Rule {
    /// The operation: an `X-Amz-Target` ending in `.<operation>` (JSON protocols) or a URL path
    /// equal to `/<operation>` (REST protocols, e.g. `listRegions`).
    operation: String,
    /// Only requests whose body contains this.
    body_contains: Option<String>,
    /// Answered by the proxy (status, JSON body) this many times, then forwarded; `None`:
    /// always forwarded.
    answer: Option<(u16, String, usize)>,
}

impl Rule {
    /// The first `times` requests for `operation` get `status` and `body` (JSON) from the proxy.
    pub fn answer(operation: &str, times: usize, status: u16, body: &str) -> Self {
        Rule {
            operation: operation.into(),
            body_contains: None,
            answer: Some((status, body.into(), times)),
        }
    }

    /// The first `times` requests for `operation` get the throttling error AWS Organizations
    /// sends (HTTP 400, `TooManyRequestsException`).
    pub fn throttle(operation: &str, times: usize) -> Self {
        Self::answer(
            operation,
            times,
            400,
            r#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#,
        )
    }

    /// Requests for `operation` are forwarded; their bodies are kept ([`Proxy::bodies`]).
    pub fn record(operation: &str) -> Self {
        Rule {
            operation: operation.into(),
            body_contains: None,
            answer: None,
        }
    }

    /// Only requests whose body contains `text`.
    pub fn when_body_contains(mut self, text: &str) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    fn matches(&self, target: &str, path: &str, body: &str) -> bool {
        let operation = target
            .rsplit_once('.')
            .map(|(_, op)| op)
            .filter(|op| !op.is_empty())
            .unwrap_or_else(|| path.trim_start_matches('/'));
        operation == self.operation
            && self
                .body_contains
                .as_ref()
                .is_none_or(|text| body.contains(text.as_str()))
    }
}

/// A running [`proxy`].
pub struct Proxy {
    /// Its URL, to use as the endpoint.
    pub url: String,
    answered: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    recorded: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl Proxy {
    /// How many requests rule `index` (in the order given) has answered so far.
    pub fn answered(&self, index: usize) -> usize {
        self.answered.lock().expect("not poisoned")[index]
    }

    /// The bodies of the requests for `operation` seen so far (rules made with
    /// [`Rule::record`]).
    pub fn bodies(&self, operation: &str) -> Vec<String> {
        self.recorded
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// A proxy in front of `upstream` (moto server) that answers what `rules` say (the first rule
/// that matches a request and still has answers left) and forwards every other request,
/// recording the bodies of those the rules ask for.
pub fn proxy(upstream: &str, rules: Vec<Rule>) -> Proxy {
    use std::io::{Read, Write};
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a free port");
    let port = server.server_addr().to_ip().expect("an IP address").port();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(vec![0usize; rules.len()]));
    let recorded = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (counts, kept) = (answered.clone(), recorded.clone());
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let target = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("X-Amz-Target"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let path = request
                .url()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            let mut body = Vec::new();
            request
                .as_reader()
                .read_to_end(&mut body)
                .expect("the request body");
            let text = String::from_utf8_lossy(&body).into_owned();
            let mut answer = None;
            for (i, rule) in rules.iter().enumerate() {
                if !rule.matches(&target, &path, &text) {
                    continue;
                }
                match &rule.answer {
                    Some((status, json, times)) => {
                        let mut counts = counts.lock().expect("not poisoned");
                        if counts[i] < *times {
                            counts[i] += 1;
                            answer = Some((*status, json.clone()));
                            break;
                        }
                    }
                    None => kept
                        .lock()
                        .expect("not poisoned")
                        .push((rule.operation.clone(), text.clone())),
                }
            }
            if let Some((status, json)) = answer {
                let content_type = if target.is_empty() {
                    "application/json"
                } else {
                    "application/x-amz-json-1.1"
                };
                let response = tiny_http::Response::from_string(json)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", content_type)
                            .expect("a header"),
                    );
                let _ = request.respond(response);
                continue;
            }
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut head = format!(
                    "{} {} HTTP/1.1\r\nHost: {upstream}\r\n",
                    request.method(),
                    request.url()
                );
                for h in request.headers() {
                    let name = h.field.as_str().as_str();
                    if !["host", "content-length", "connection", "transfer-encoding"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        head.push_str(&format!("{name}: {}\r\n", h.value));
                    }
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                let mut stream =
                    std::net::TcpStream::connect(&upstream).expect("moto server is reachable");
                stream.write_all(head.as_bytes()).expect("request sent");
                stream.write_all(&body).expect("request sent");
                // Read the head, then exactly the body its Content-Length announces (the
                // server may keep the connection open).
                let mut answer = Vec::new();
                let mut chunk = [0u8; 8192];
                let split = loop {
                    if let Some(p) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p;
                    }
                    let n = stream.read(&mut chunk).expect("answer read");
                    assert!(n > 0, "moto closed the connection before its answer");
                    answer.extend_from_slice(&chunk[..n]);
                };
                let length: usize = String::from_utf8_lossy(&answer[..split])
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while answer.len() < split + 4 + length {
                    let n = stream.read(&mut chunk).expect("answer read");
                    assert!(n > 0, "moto closed the connection inside its answer");
                    answer.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&answer[..split]).to_string();
                let mut lines = head.lines();
                let status: u16 = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|c| c.parse().ok())
                    .expect("a status");
                let mut response = tiny_http::Response::from_data(answer[split + 4..].to_vec())
                    .with_status_code(status);
                for line in lines {
                    if let Some((k, v)) = line.split_once(':') {
                        assert!(
                            !k.eq_ignore_ascii_case("transfer-encoding"),
                            "a chunked answer from moto: the proxy does not decode it"
                        );
                        if !["content-length", "connection"]
                            .contains(&k.to_ascii_lowercase().as_str())
                        {
                            response.add_header(
                                tiny_http::Header::from_bytes(k.trim(), v.trim())
                                    .expect("a header"),
                            );
                        }
                    }
                }
                let _ = request.respond(response);
            });
        }
    });
    Proxy {
        url: format!("http://127.0.0.1:{port}"),
        answered,
        recorded,
    }
}

/// Clears every service of the moto server (`POST /moto-api/reset`). For tests of APIs that
/// keep one state per server (an organization); cargo runs test binaries one at a time, so
/// only the tests of the calling binary may use moto at once.
pub fn reset_moto(endpoint: &str) {
    let status = moto_post(endpoint, "/moto-api/reset", "");
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "moto reset failed: {status}"
    );
}

/// Creates an organization on moto (all features) and returns its management account and root.
pub async fn create_organization(org: &aws_sdk_organizations::Client) -> (String, String) {
    let created = org
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("an organization");
    let management = created
        .organization()
        .and_then(|o| o.master_account_id())
        .expect("a management account")
        .to_string();
    let roots = org.list_roots().send().await.expect("the roots");
    let root = roots.roots()[0].id().expect("a root id").to_string();
    (management, root)
}

/// Creates an organizational unit under `parent`; returns its id.
pub async fn create_ou(org: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    org.create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .expect("a unit")
        .organizational_unit()
        .and_then(|u| u.id())
        .expect("a unit id")
        .to_string()
}

/// Runs a Lambda function binary against a fake runtime API on 127.0.0.1 for one invocation
/// of `payload`, with `SPA_SETTINGS` set to `settings`; returns the path the function posted
/// its answer to (`.../response` or `.../error`) and the answer.
pub fn invoke_lambda(
    binary: &Path,
    settings: &Path,
    payload: &serde_json::Value,
) -> (String, String) {
    let (url, answer, _) = invoke_lambda_output(binary, settings, payload);
    (url, answer)
}

/// [`invoke_lambda`], also returning what the function wrote to standard output (its logs and
/// metrics) until it answered.
pub fn invoke_lambda_output(
    binary: &Path,
    settings: &Path,
    payload: &serde_json::Value,
) -> (String, String, String) {
    use std::time::Duration;
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a free port");
    let port = server.server_addr().to_ip().expect("an IP address").port();
    let mut child = std::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "function")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "group")
        .env("SPA_SETTINGS", settings)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the function starts");
    let mut stdout = child.stdout.take().expect("a piped stdout");
    let output = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let next = server
        .recv_timeout(Duration::from_secs(120))
        .expect("the runtime API serves")
        .expect("the function asks for an invocation");
    assert_eq!(next.url(), "/2018-06-01/runtime/invocation/next");
    let deadline = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        + 120_000)
        .to_string();
    let header = |k: &str, v: &str| {
        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("a valid header")
    };
    next.respond(
        tiny_http::Response::from_string(payload.to_string())
            .with_header(header("Lambda-Runtime-Aws-Request-Id", "req-1"))
            .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline))
            .with_header(header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:eu-west-1:222222222222:function:function",
            ))
            .with_header(header("Content-Type", "application/json")),
    )
    .expect("the invocation is delivered");
    let mut answer = server
        .recv_timeout(Duration::from_secs(120))
        .expect("the runtime API serves")
        .expect("the function answers");
    let url = answer.url().to_string();
    let mut body = String::new();
    answer
        .as_reader()
        .read_to_string(&mut body)
        .expect("a readable answer");
    answer
        .respond(tiny_http::Response::empty(202))
        .expect("the answer is acknowledged");
    let _ = child.kill();
    let _ = child.wait();
    (url, body, output.join().unwrap_or_default())
}

/// The shipped settings written as `dir/settings.yaml`, with the lake in `dir/lake`, the outbox
/// in `dir/outbox` and the fixtures' paths absolute, after `edit`; returns the file.
pub fn settings_in(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let root = repo_root();
    let yaml = std::fs::read_to_string(root.join("settings.yaml"))
        .expect("the shipped settings exist")
        .replace(
            "lake: ./lake",
            &format!("lake: {}", dir.join("lake").display()),
        )
        .replace(
            "outbox: ./outbox",
            &format!("outbox: {}", dir.join("outbox").display()),
        )
        .replace("fixtures/", &format!("{}/fixtures/", root.display()));
    let path = dir.join("settings.yaml");
    std::fs::write(&path, edit(yaml)).expect("a writable folder");
    path
}

/// Unblended cost per account and month (`YYYY-MM`) of a CUR Parquet file, summed as doubles
/// straight from the file: an independent check of what ingest and the reports compute.
pub fn cur_sums(path: &Path) -> std::collections::BTreeMap<(String, String), f64> {
    use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampNanosecondType};
    let file = std::fs::File::open(path).expect("the CUR file opens");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a Parquet file")
        .build()
        .expect("a reader");
    let mut sums = std::collections::BTreeMap::new();
    for batch in reader {
        let batch = batch.expect("a batch");
        let column = |name: &str| batch.column_by_name(name).expect("a CUR column").clone();
        let account = column("line_item_usage_account_id");
        let account = account.as_string::<i32>();
        let cost = column("line_item_unblended_cost");
        let cost = cost.as_primitive::<Float64Type>();
        let start = arrow::compute::cast(
            &column("line_item_usage_start_date"),
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
        )
        .expect("a timestamp");
        let start = start.as_primitive::<TimestampNanosecondType>();
        for i in 0..batch.num_rows() {
            let month = crate::period::Month::of(
                chrono::DateTime::from_timestamp_nanos(start.value(i)).date_naive(),
            )
            .to_string();
            *sums
                .entry((account.value(i).to_string(), month))
                .or_insert(0.0) += cost.value(i);
        }
    }
    sums
}

/// Runs a binary with `args`; returns its exit status, standard output and standard error.
pub fn run_binary(binary: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(binary)
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().expect("an exit status"),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// One value of an Embedded Metric Format document: the metric, the dimensions of its document
/// (name to value) and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfValue {
    /// The metric's name.
    pub metric: String,
    /// The document's dimensions.
    pub dimensions: std::collections::BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// The Embedded Metric Format documents among the lines of `output` (a function's standard
/// output), each checked against the format's rules: a `_aws` member with a millisecond
/// `Timestamp` and one `CloudWatchMetrics` directive in `namespace`, at most 30 dimensions a
/// set, each named dimension a string member of the document, 1 to 100 metrics, each a number
/// member. Panics on a document that breaks them.
pub fn emf(output: &str, namespace: &str) -> Vec<EmfValue> {
    let mut out = Vec::new();
    for line in output.lines() {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(aws) = doc.get("_aws") else {
            continue;
        };
        assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect(line);
        assert_eq!(directives.len(), 1, "{line}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], namespace, "{line}");
        let sets = directive["Dimensions"].as_array().expect(line);
        assert_eq!(sets.len(), 1, "one dimension set a document: {line}");
        let set = sets[0].as_array().expect(line);
        assert!(set.len() <= 30, "{line}");
        let dimensions = set
            .iter()
            .map(|name| {
                let name = name.as_str().expect(line);
                let value = doc[name].as_str().expect(line);
                assert!(!value.is_empty() && value.len() <= 1024, "{line}");
                (name.to_string(), value.to_string())
            })
            .collect::<std::collections::BTreeMap<_, _>>();
        let metrics = directive["Metrics"].as_array().expect(line);
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
        for metric in metrics {
            let name = metric["Name"].as_str().expect(line);
            out.push(EmfValue {
                metric: name.to_string(),
                dimensions: dimensions.clone(),
                value: doc[name].as_f64().expect(line),
            });
        }
    }
    out
}

/// The sum of `metric` in `values` over the documents whose dimensions are exactly
/// `dimensions`.
pub fn emf_sum(values: &[EmfValue], metric: &str, dimensions: &[(&str, &str)]) -> f64 {
    let want: std::collections::BTreeMap<String, String> = dimensions
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    values
        .iter()
        .filter(|v| v.metric == metric && v.dimensions == want)
        .map(|v| v.value)
        .sum()
}
